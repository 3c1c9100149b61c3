"""Cutover items read from the database: migrations, seed data, senders, budgets and the test run
(an import, a campaign with its delivery receipt, a STOP, a human click)."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Q
from django.utils import timezone

from campaigns.models import Template
from contacts.models import ContactImport, DncReason, DoNotContact
from links.models import Click
from messaging.keywords import Intent
from messaging.models import EventKind, Message, MessageKind, MessageStatus, ProviderEvent, SenderKind, SendingNumber
from messaging.models import SenderIdStatus as Acma
from smscrm.cutover import FAIL, PASS, TODO, Result
from tenants.models import Membership, Tenant
from tenants.money import format_aud
from tenants.roles import Role

#: A test import must bring in at least this many contacts with consent.
TEST_IMPORT_MIN_CONTACTS = 10
#: Campaign messages handed over this long ago with no status callback at all: callbacks are not arriving.
RECEIPT_WAIT = timedelta(hours=1)


def migrations(tenant: Tenant) -> Result:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        applied = len(executor.loader.applied_migrations)
        return Result(PASS, f"all {applied} migrations applied")
    names = [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return Result(FAIL, f"{len(names)} not applied: {shown}", "Run `python manage.py migrate`.")


def seed_data(tenant: Tenant) -> Result:
    managers = Membership.objects.filter(tenant=tenant, role__in=[Role.OWNER, Role.ADMIN]).count()
    templates = Template.objects.filter(tenant=tenant).count()
    evidence = f"tenant {tenant.slug} ({tenant.name}); {managers} owner(s)/admin(s); {templates} template(s)"
    missing = []
    if not managers:
        missing.append("invite an owner or admin from the Members page (or the admin site)")
    if not templates:
        missing.append("write a first message template (Campaigns → Templates)")
    if missing:
        step = "; ".join(missing)
        return Result(TODO, evidence, step[0].upper() + step[1:] + ".")
    return Result(PASS, evidence)


def sending_number(tenant: Tenant) -> Result:
    senders = list(SendingNumber.objects.filter(tenant=tenant).order_by("id"))
    usable = [s for s in senders if s.can_launch]
    if usable:
        described = ", ".join(
            f"{s.sender} ({'ACMA-registered ID' if s.kind == SenderKind.ALPHA else 'number'})" for s in usable[:5]
        )
        return Result(PASS, f"{len(usable)} active: {described}")
    if not senders:
        return Result(TODO, "no sending number or sender ID yet", "Add a sending number (Campaigns → Numbers).")
    active = [s for s in senders if s.is_active]
    if not active:
        return Result(
            TODO, f"{len(senders)} sender(s), none active", "Activate a sending number (Campaigns → Numbers)."
        )
    unregistered = [s.sender for s in active if s.sender_id_status == Acma.UNREGISTERED]
    evidence = "active sender IDs not yet ACMA-registered: " + ", ".join(
        f"{s.sender} ({s.get_sender_id_status_display().lower()})" for s in active
    )
    if unregistered:
        return Result(
            FAIL,
            evidence,
            "Register the sender ID on ACMA's Sender ID Register (or add a phone number), then mark it registered.",
        )
    return Result(TODO, evidence, "Wait for ACMA's registration, then mark the sender ID registered.")


def budgets(tenant: Tenant) -> Result:
    daily, monthly = tenant.daily_budget_cents, tenant.monthly_budget_cents
    evidence = f"daily {format_aud(daily)}, monthly {format_aud(monthly)}"
    if not daily or not monthly:
        return Result(FAIL, evidence + ": a zero cap stops every send", "Set both caps in Settings.")
    defaults = (
        Tenant._meta.get_field("daily_budget_cents").default,
        Tenant._meta.get_field("monthly_budget_cents").default,
    )
    if (daily, monthly) == defaults:
        return Result(TODO, evidence + " (still the defaults)", "Confirm or change the caps in Settings.")
    return Result(PASS, evidence)


def test_import(tenant: Tenant) -> Result:
    imports = (
        ContactImport.objects.filter(tenant=tenant, status=ContactImport.Status.COMMITTED)
        .annotate(consented=Count("consent_records", filter=Q(consent_records__withdrawn=False)))
        .order_by("-consented", "-id")
    )
    best = imports.first()
    if best is not None and best.consented >= TEST_IMPORT_MIN_CONTACTS:
        return Result(
            PASS, f"import #{best.pk} ({best.original_name}): {best.consented} contacts with consent recorded"
        )
    step = f"Import a file of at least {TEST_IMPORT_MIN_CONTACTS} contacts with consent (Imports)."
    if best is None:
        return Result(TODO, "no finished import yet", step)
    return Result(TODO, f"largest finished import #{best.pk}: {best.consented} contacts with consent", step)


def test_campaign(tenant: Tenant) -> Result:
    receipt = (
        ProviderEvent.objects.filter(
            tenant=tenant, kind=EventKind.STATUS, status=MessageStatus.DELIVERED, message__kind=MessageKind.CAMPAIGN
        )
        .select_related("message")
        .order_by("-received_at")
        .first()
    )
    if receipt is not None:
        at = timezone.localtime(receipt.received_at, tenant.zone)
        return Result(PASS, f"message #{receipt.message_id} delivered, receipt received {at:%Y-%m-%d %H:%M %Z}")
    sent = Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN, handed_off_at__isnull=False)
    if not sent.exists():
        return Result(TODO, "no campaign message handed over yet", "Send a small test campaign to your own phones.")
    callbacks = ProviderEvent.objects.filter(tenant=tenant, kind=EventKind.STATUS).exists()
    if not callbacks and sent.filter(handed_off_at__lte=timezone.now() - RECEIPT_WAIT).exists():
        return Result(
            FAIL,
            f"{sent.count()} campaign message(s) handed over, no status callback ever arrived",
            "Check the status callback URL item (PUBLIC_BASE_URL must reach this app from the internet).",
        )
    return Result(
        TODO, f"{sent.count()} campaign message(s) handed over, no delivery receipt yet", "Wait for the receipts."
    )


def stop_to_dnc(tenant: Tenant) -> Result:
    entry = (
        DoNotContact.objects.filter(
            tenant=tenant,
            reason__in=[DncReason.STOP_KEYWORD, DncReason.OPT_OUT_REQUEST],
            source__startswith="inbound ",
        )
        .order_by("-id")
        .first()
    )
    if entry is not None:
        return Result(PASS, f"…{entry.phone_e164[-3:]} on the list ({entry.get_reason_display()}, {entry.source})")
    opt_outs = Message.objects.filter(
        tenant=tenant, kind=MessageKind.INBOUND, intent__in=[Intent.OPT_OUT, Intent.OPT_OUT_PHRASE]
    ).count()
    evidence = "no do-not-contact entry from a texted STOP yet"
    if opt_outs:
        evidence += f" ({opt_outs} opt-out text(s) received: a START may have lifted them)"
    return Result(TODO, evidence, "Text STOP from a test phone to a sending number, then check Do-not-contact.")


def human_click(tenant: Tenant) -> Result:
    counts = Click.objects.filter(tenant=tenant).aggregate(
        humans=Count("id", filter=Q(is_human=True)), bots=Count("id", filter=Q(is_human=False))
    )
    if counts["humans"]:
        return Result(PASS, f"{counts['humans']} human click(s), {counts['bots']} bot or preview click(s)")
    evidence = f"no human click yet ({counts['bots']} bot or preview click(s))"
    return Result(TODO, evidence, "Open a short link from the test campaign on a phone, as a person would.")
