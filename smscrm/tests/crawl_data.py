"""A populated tenant for the security crawl (smscrm/tests/test_security_crawl.py).

``populate`` gives one tenant a row of every tenant-owned model, made the way the product makes
them wherever a service exists (imports previewed, a campaign launched and dispatched, a STOP
received), and fills every free-text field from a ``Texts`` object:

- ``RivalTexts``: distinctive markers ("ZZ-RIVAL-SECRET-007"), for the tenant another tenant's
  users must never see or touch;
- ``PlainTexts``: ordinary words, for the role matrix;
- ``PayloadTexts``: XSS, template and CSV-formula payloads, for the injection test.

It also holds the fillers: what fills each URL kwarg (``URL_FILLERS``), which query strings
carry object ids (``ID_QUERIES``), and the form data POSTed to each URL (``post_for``).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from campaigns import dispatch
from campaigns import services as campaign_services
from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob, Template, Variant
from contacts import services as contact_services
from contacts.models import ContactImport, DoNotContact
from contacts.phones import format_phone_national
from contacts.tests.factories import ContactFactory
from links.models import Click, ShortLink
from messaging import conversations, events, inbound
from messaging.models import Message, MessageKind, Price, ProviderAccount, SavedReply, SendingNumber
from reporting import dashboard, pilot, pilot_runs, stats
from reporting.models import PilotRun
from smscrm.heartbeats import BEAT, heartbeat_record, worker_components
from smscrm.tests.crawl import tenant_rows
from tenants import memberships as tenant_memberships
from tenants.admin import TenantScopedAdmin
from tenants.apikeys import api_key_create
from tenants.models import ApiKey, IdempotencyRecord, Invitation, Tenant
from tenants.roles import Role
from tenants.services import audit_record
from tenants.tests.factories import MembershipFactory, UserFactory
from webhooks.models import DeliveryStatus, DisabledReason, EventType, WebhookDelivery, WebhookSubscription

# --- the texts that fill free-text fields ---------------------------------------------------------------------------

MARKER = "ZZ-RIVAL-SECRET"

HTML_PAYLOAD = '<script>alert(1)</script>"><img src=x onerror=alert(1)>{{7*7}}{% debug %}'
URL_PAYLOAD = "javascript:alert(1)"
# Cells a spreadsheet would run as a formula unless neutralised, including the forms that hide the
# trigger behind a space, a line feed or a full-width sign (Excel and Sheets strip or fold those).
FORMULA_PAYLOADS = (
    '=HYPERLINK("http://evil")',
    '+HYPERLINK("http://evil")',
    '-2+3+HYPERLINK("http://evil")',
    '@SUM(1+1)*HYPERLINK("http://evil")',
    '\t=HYPERLINK("http://evil")',
    '\r=HYPERLINK("http://evil")',
    ' =HYPERLINK("http://evil")',
    '\n=HYPERLINK("http://evil")',
    '＝HYPERLINK("http://evil")',
    '＋HYPERLINK("http://evil")',
    '－HYPERLINK("http://evil")',
    '＠HYPERLINK("http://evil")',
)


class Texts:
    """Where a populated tenant's free text comes from. ``html`` is text shown on pages, ``cell``
    text that also lands in a CSV export, ``url`` a stored URL, ``secret`` a provider auth token."""

    # How many different cell values ``cell`` cycles through: populate makes at least this many rows
    # of each exported kind, so that every export carries every one.
    variety = 1
    # Whether the tenant's own values may be POSTed back (a form shown again echoes what it got, which
    # must not count as showing the tenant's data).
    echo_safe = True

    def __init__(self) -> None:
        self._n = itertools.count(1)

    def html(self, what: str) -> str:
        raise NotImplementedError

    def cell(self, what: str) -> str:
        return self.html(what)

    def url(self, what: str) -> str:
        return f"https://example.com/{next(self._n)}"

    def secret(self) -> str:
        return f"tok{uuid.uuid4().hex}"


class PlainTexts(Texts):
    def html(self, what: str) -> str:
        return f"{what} {next(self._n)}"


class RivalTexts(Texts):
    echo_safe = False

    def html(self, what: str) -> str:
        return f"{MARKER}-{next(self._n):03d}"

    def url(self, what: str) -> str:
        return f"https://rival.example/{self.html(what)}"

    def secret(self) -> str:
        return f"{MARKER}-TOKEN-{uuid.uuid4().hex[:12]}"


class PayloadTexts(Texts):
    variety = len(FORMULA_PAYLOADS)

    def __init__(self) -> None:
        super().__init__()
        self._formulas: dict[str, Iterator[str]] = {}

    def html(self, what: str) -> str:
        return f"{HTML_PAYLOAD} {next(self._n)}"  # unique: some names are unique per tenant

    def cell(self, what: str) -> str:
        # Each field cycles through every payload on its own, so every exported column gets each.
        return next(self._formulas.setdefault(what, itertools.cycle(FORMULA_PAYLOADS)))

    def url(self, what: str) -> str:
        return URL_PAYLOAD


def fit(model: type[models.Model], field: str, value: str) -> str:
    """``value`` cut to the column's length (PostgreSQL refuses longer ones; SQLite would not)."""
    limit = model._meta.get_field(field).max_length
    return value[:limit] if limit else value


# --- a populated tenant ---------------------------------------------------------------------------------------------


@dataclass
class TenantData:
    tenant: Tenant
    texts: Texts
    owner: object
    extra_membership: object
    contacts: list
    dnc: DoNotContact
    contact_import: ContactImport
    template: Template  # used by launched campaigns (locked)
    draft_template: Template
    running_campaign: Campaign
    draft_campaign: Campaign
    paused_campaign: Campaign
    unknown_job: SendJob
    account: ProviderAccount
    number: SendingNumber
    spare_account: ProviderAccount  # no senders: nothing protects it from deletion
    spare_number: SendingNumber  # no messages: likewise
    inbound_message: Message
    short_link: ShortLink
    invitation: Invitation
    invitation_token: str  # the e-mailed link's (only its hash is stored)
    secret_token: str
    webhook: WebhookSubscription
    disabled_webhook: WebhookSubscription  # disabled after failing: the dashboard warns of it
    webhook_delivery: WebhookDelivery
    phones: list[str] = field(default_factory=list)  # every number of the tenant, E.164
    api_key: object = None

    @property
    def contact(self):
        return self.contacts[0]

    # Admin fillers: which row of a model the crawl names (else the tenant's first one).
    def preferred(self) -> dict[type[models.Model], models.Model]:
        return {
            Tenant: self.tenant,
            type(self.extra_membership): self.extra_membership,
            Template: self.draft_template,
            Campaign: self.running_campaign,
            SendJob: self.unknown_job,
            DoNotContact: self.dnc,
            ContactImport: self.contact_import,
            ProviderAccount: self.spare_account,
            SendingNumber: self.spare_number,
            Message: self.inbound_message,
            ShortLink: self.short_link,
        }

    def markers(self) -> list[str]:
        """Strings only this tenant's data contains (for RivalTexts data)."""
        values = [MARKER, self.secret_token, self.account.account_sid, self.short_link.token, self.tenant.name]
        values += [self.owner.email, self.extra_membership.user.email, self.invitation.email]
        for phone in self.phones:
            values += [phone, format_phone_national(phone)]
        return values


def phone_of(slot: int, n: int, block: int = 412) -> str:
    """Distinct AU mobiles per tenant: slot 1 → +61412100001…, slot 2 → +61412200001…"""
    return f"+61{block}{slot}{n:05d}"


def record_heartbeats() -> None:
    """The workers (one per queue) and beat look alive, so /health answers 200 as in production."""
    for component in (*worker_components(), BEAT):
        heartbeat_record(component=component)


def global_admin_objects() -> dict[type[models.Model], models.Model]:
    """One row of each model the admin shows that belongs to no tenant (Django's and celery beat's)."""
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    return {
        Group: Group.objects.create(name="crawler group"),
        IntervalSchedule: interval,
        CrontabSchedule: CrontabSchedule.objects.create(minute="5"),
        SolarSchedule: SolarSchedule.objects.create(event="sunrise", latitude=-33.87, longitude=151.21),
        ClockedSchedule: ClockedSchedule.objects.create(clocked_time=timezone.now() + dt.timedelta(days=1)),
        PeriodicTask: PeriodicTask.objects.create(name="crawler task", task="smscrm.noop", interval=interval),
    }


def _import_file(path: Path, texts: Texts, slot: int) -> None:
    """A contact file with accepted rows and rejected ones (a bad number, a landline)."""
    header = ["Phone", "First name", "Last name", texts.html("import header")]
    rows = [
        [format_phone_national(phone_of(slot, 20 + n)), texts.cell("import first"), texts.cell("import last"), "x"]
        for n in range(2)
    ]
    rows += [
        [texts.cell("bad phone"), texts.cell("first"), texts.cell("last"), "x"] for _ in range(max(4, texts.variety))
    ]
    rows += [["02 9374 4000", texts.cell("import first"), texts.html("import last"), "x"]]
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)


def populate(tenant: Tenant, *, owner, texts: Texts, slot: int, workdir: Path) -> TenantData:
    """Give ``tenant`` a row of every tenant-owned model, free text from ``texts``.

    Needs the ``clock`` fixture (sending hours in Sydney) and MEDIA_ROOT pointing at a test directory.
    """
    now = timezone.now()
    Tenant.objects.filter(pk=tenant.pk).update(
        messages_per_second=2000,
        contact_details=fit(Tenant, "contact_details", texts.html("contact details")),
        opt_out_line=fit(Tenant, "opt_out_line", "Reply STOP " + texts.html("opt-out line")),
        opt_out_reply=fit(Tenant, "opt_out_reply", "{business}: " + texts.html("opt-out reply")),
        help_reply=fit(Tenant, "help_reply", "{business} {contact} " + texts.html("help reply")),
        opt_out_phrases="stop\n" + texts.html("opt-out phrase"),
    )
    tenant.refresh_from_db()
    extra = MembershipFactory(
        tenant=tenant,
        role=Role.VIEWER,
        user=UserFactory(email=f"member-{slot}@{tenant.slug}.test", first_name=texts.html("user")[:150]),
    )

    secret_token = texts.secret()
    account = ProviderAccount.objects.create(
        tenant=tenant,
        provider="twilio",
        label=fit(ProviderAccount, "label", texts.html("account label")),
        account_sid=f"AC{slot}{uuid.uuid4().hex}",
        auth_token=secret_token,
    )
    number = SendingNumber.objects.create(
        tenant=tenant,
        account=account,
        sender=phone_of(slot, 1, block=400),
        warmup_started_on=dt.date(2026, 1, 1),
        warmup_curve=[1000],
        messages_per_second=1000,
    )
    Price.objects.create(
        tenant=tenant, provider="twilio", country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1)
    )
    api_key, _ = api_key_create(
        tenant=tenant, name=fit(ApiKey, "name", texts.html("api key")), role="staff", actor=owner
    )
    IdempotencyRecord.objects.create(
        tenant=tenant,
        scope=f"key:{api_key.pk}",
        key=texts.html("idempotency key")[:255],
        fingerprint="0" * 64,
        status_code=201,
        body={"note": texts.html("idempotent body")},
    )
    spare_account = ProviderAccount.objects.create(
        tenant=tenant, provider="twilio", label=fit(ProviderAccount, "label", texts.html("spare account")),
        account_sid=f"AC{slot}{uuid.uuid4().hex}", auth_token=secret_token,
    )  # fmt: skip
    spare_number = SendingNumber.objects.create(
        tenant=tenant, account=account, sender=phone_of(slot, 2, block=400), warmup_curve=[1000], is_active=False
    )

    # One contact with markup in its names, then at least three (one per cell value) with cell text.
    contacts = []
    for n in range(1 + max(3, texts.variety)):
        first, last = (texts.html, texts.html) if n == 0 else (texts.cell, texts.cell)
        contact = ContactFactory(
            tenant=tenant,
            phone_e164=phone_of(slot, n + 1),
            first_name=first("first name")[:100],
            last_name=last("last name")[:100],
            email=f"person{n}@{tenant.slug}.example",
            timezone="Australia/Sydney",
            tags=[texts.cell("tag"), texts.html("tag")],
            custom_fields={"favourite": texts.html("custom value"), texts.html("custom key"): texts.cell("custom")},
            consent="express",
        )
        contact_services.consent_record_add(
            contact=contact,
            actor=owner,
            kind="express",
            source=fit(DoNotContact, "source", texts.html("consent source")),
            captured_at=now - dt.timedelta(days=3),
            evidence=texts.html("consent evidence") + " " + texts.url("consent evidence url"),
        )
        contacts.append(contact)
    # The last contact is on the do-not-contact list before the launch: the DNC gate skips it.
    contact_services.dnc_add(
        tenant=tenant, phone=contacts[-1].phone_e164, reason="complaint", actor=owner,
        note=texts.cell("dnc note"), source=texts.cell("dnc source"),
    )  # fmt: skip
    dnc = None
    for n in range(texts.variety):
        entry, _ = contact_services.dnc_add(
            tenant=tenant, phone=phone_of(slot, n + 1, block=413), reason="manual", actor=owner,
            note=texts.cell("dnc note"), source=texts.cell("dnc source"),
        )  # fmt: skip
        dnc = dnc or entry

    bodies = ["Hi {{ first_name|there }}, fresh bread {{ link }}", "Hello {{ last_name|friend }}, sale on {{ link }}"]
    template = campaign_services.template_save(
        tenant=tenant, actor=owner, name=fit(Template, "name", texts.html("template")), bodies=bodies
    )
    draft_template = campaign_services.template_save(
        tenant=tenant, actor=owner, name=fit(Template, "name", texts.html("draft template")), bodies=bodies[:1]
    )
    running = campaign_services.campaign_create(
        tenant=tenant,
        actor=owner,
        name=fit(Campaign, "name", texts.html("campaign")),
        template=template,
        link_url=f"https://{tenant.slug}.example/sale",
    )
    campaign_services.campaign_launch(campaign=running, actor=owner)
    campaign_services.campaign_create_jobs(campaign_id=running.pk)  # enqueued at commit, which a test never reaches
    dispatch.dispatch(max_seconds=10)
    sent = Message.objects.filter(campaign=running).order_by("pk")
    assert sent.count() == len(contacts) - 1, "the populated campaign should send to all but the DNC'd contact"
    events.status_callback_record(
        tenant_id=tenant.pk, params={"MessageSid": sent[0].provider_id, "MessageStatus": "delivered"}
    )
    for job_id in SendJob.objects.filter(campaign=running).order_by("pk").values_list("pk", flat=True):
        SendJob.objects.filter(pk=job_id).update(reason=texts.cell("job reason"))
    unknown_job = SendJob.objects.filter(campaign=running, message__isnull=False).order_by("pk").last()
    SendJob.objects.filter(pk=unknown_job.pk).update(status=JobStatus.UNKNOWN, reason=texts.cell("job reason"))
    unknown_job.refresh_from_db()
    # What the templates and campaign say from now on (the ORM takes what template_save would refuse).
    Variant.objects.filter(template__tenant=tenant).update(body=texts.html("variant body"))
    Campaign.objects.filter(pk=running.pk).update(link_url=texts.url("campaign link"))

    draft = campaign_services.campaign_create(
        tenant=tenant,
        actor=owner,
        name=fit(Campaign, "name", texts.html("draft campaign")),
        template=draft_template,
        tags=[texts.html("campaign tag")[:50]],
        link_url=f"https://{tenant.slug}.example/draft",
    )
    paused = campaign_services.campaign_create(
        tenant=tenant,
        actor=owner,
        name=fit(Campaign, "name", texts.html("paused campaign")),
        template=template,
        link_url=f"https://{tenant.slug}.example/paused",
    )
    Campaign.objects.filter(pk=paused.pk).update(status=CampaignStatus.PAUSED, launched_at=now, jobs_created_at=now)
    paused.refresh_from_db()

    received = inbound.inbound_receive(
        tenant=tenant,
        params={"MessageSid": f"SMin{slot}{uuid.uuid4().hex[:20]}", "From": contacts[0].phone_e164,
                "To": number.sender, "Body": texts.html("inbound")},
    )  # fmt: skip
    inbound.inbound_receive(
        tenant=tenant,
        params={"MessageSid": f"SMin{slot}{uuid.uuid4().hex[:20]}", "From": contacts[1].phone_e164,
                "To": number.sender, "Body": "STOP"},
    )  # fmt: skip
    assert received.message is not None and received.message.kind == MessageKind.INBOUND
    assert received.message.conversation_id is not None  # the texts opened their threads
    conversations.saved_reply_save(
        saved_reply=SavedReply(
            tenant=tenant, name=fit(SavedReply, "name", texts.html("saved reply")), body=texts.html("reply body")
        ),
        actor=owner,
    )

    short_link = ShortLink.objects.filter(tenant=tenant).order_by("pk").first()
    assert short_link is not None, "the populated campaign's messages should carry short links"
    ShortLink.objects.filter(pk=short_link.pk).update(destination=texts.url("short link"))
    short_link.refresh_from_db()
    Click.objects.create(
        tenant=tenant, link=short_link, campaign_id=running.pk, contact_id=short_link.contact_id,
        request_id=uuid.uuid4(), at=now, method="GET", user_agent=fit(Click, "user_agent", texts.html("agent")),
        is_human=True,
    )  # fmt: skip

    contact_import = _populate_import(tenant, owner=owner, texts=texts, slot=slot, workdir=workdir)
    invitation, invitation_token = tenant_memberships.invitation_create(
        tenant=tenant, actor=owner, email=f"invitee-{slot}@{tenant.slug}.test", role=Role.STAFF
    )

    audit_record(
        tenant=tenant, actor=owner, action="crawler.note",
        target=fit(DoNotContact, "source", texts.html("audit target")), data={"note": texts.html("audit data")},
    )  # fmt: skip
    stats.campaign_stats_refresh(Campaign.objects.select_related("tenant", "template").get(pk=running.pk))
    dashboard.tenant_stats_refresh(tenant)
    pilot_runs.run_record(result=pilot.pilot_check(tenant), source="command")
    PilotRun.objects.create(
        tenant=tenant, campaign=running, scope=f"campaign:{running.pk}", status="error",
        current=fit(PilotRun, "current", texts.html("pilot step")), error=fit(PilotRun, "error", texts.html("pilot")),
        finished_at=now,
    )  # fmt: skip

    webhook, disabled_webhook, webhook_delivery = _populate_webhooks(
        tenant, owner=owner, texts=texts, secret=secret_token, phone=contacts[0].phone_e164
    )

    phones = [c.phone_e164 for c in contacts] + [number.sender, spare_number.sender]
    phones += [phone_of(slot, n + 1, block=413) for n in range(texts.variety)]
    phones += [phone_of(slot, 20 + n) for n in range(2)]  # imported by the file, if committed
    return TenantData(
        tenant=tenant,
        texts=texts,
        owner=owner,
        extra_membership=extra,
        contacts=contacts,
        dnc=dnc,
        contact_import=contact_import,
        template=template,
        draft_template=draft_template,
        running_campaign=Campaign.objects.get(pk=running.pk),
        draft_campaign=draft,
        paused_campaign=paused,
        unknown_job=unknown_job,
        account=account,
        number=number,
        spare_account=spare_account,
        spare_number=spare_number,
        inbound_message=received.message,
        short_link=short_link,
        invitation=invitation,
        invitation_token=invitation_token,
        secret_token=secret_token,
        webhook=webhook,
        disabled_webhook=disabled_webhook,
        webhook_delivery=webhook_delivery,
        phones=phones,
        api_key=api_key,
    )


def _populate_webhooks(tenant, *, owner, texts: Texts, secret: str, phone: str):
    """A failing subscription with a delivery awaiting its retry, and one disabled for failing."""
    now = timezone.now()
    webhook = WebhookSubscription.objects.create(
        tenant=tenant, url=fit(WebhookSubscription, "url", texts.url("webhook")), events=[EventType.CONTACT_OPTED_OUT],
        secret=secret, created_by=owner, failing_since=now, consecutive_failures=2, retry_at=now,
    )  # fmt: skip
    disabled = WebhookSubscription.objects.create(
        tenant=tenant, url=fit(WebhookSubscription, "url", texts.url("disabled webhook")),
        events=[EventType.LINK_CLICKED], secret=secret, is_active=False, disabled_at=now,
        disabled_reason=DisabledReason.FAILING,
    )  # fmt: skip
    delivery = WebhookDelivery.objects.create(
        tenant=tenant, subscription=webhook, event_id=uuid.uuid4(), event_type=EventType.CONTACT_OPTED_OUT,
        payload={"type": EventType.CONTACT_OPTED_OUT, "data": {"phone_e164": phone}},
        status=DeliveryStatus.RETRYING, attempts=2, last_status_code=500, next_attempt_at=now + dt.timedelta(hours=1),
        last_error=fit(WebhookDelivery, "last_error", texts.html("webhook error")),
    )  # fmt: skip
    return webhook, disabled, delivery


def _populate_import(tenant, *, owner, texts: Texts, slot: int, workdir: Path) -> ContactImport:
    """An uploaded file whose dry run has finished (the task body is run directly: it is set-up here)."""
    source = workdir / f"import-{slot}.csv"
    _import_file(source, texts, slot)
    contact_import = contact_services.contact_import_upload(
        tenant=tenant, actor=owner, source=source, original_name=fit(ContactImport, "original_name", texts.html("file"))
    )
    contact_services.contact_import_configure(
        contact_import=contact_import,
        actor=owner,
        mapping=contact_import.mapping,
        custom_columns=[h for h in contact_import.headers if h not in contact_import.mapping],
        add_tags=[texts.html("import tag")[:50]],
        consent_mode="declaration",
        consent_kind="express",
        consent_source=fit(ContactImport, "consent_source", texts.html("import consent")),
        consent_captured_at=timezone.now() - dt.timedelta(days=30),
        consent_evidence=texts.html("import evidence"),
    )
    contact_services.contact_import_run_preview(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.PREVIEWED, contact_import.error
    assert contact_import.rejected_path, "the populated import should have rejected rows"
    return contact_import


# --- URL fillers ----------------------------------------------------------------------------------------------------

# Kwargs that name no row a tenant's scoping hides: an admin app, an admin path, and tokens, which are
# capabilities (whoever holds a short link or an invitation link may open it).
NOT_OBJECT_KWARGS = {"app_label", "url", "token"}
MISSING_ID = 987654321


def _ct(model) -> int:
    return ContentType.objects.get_for_model(model).pk


# URL name (or, for unnamed patterns, the route) → the kwargs to request it with, from a TenantData.
# Admin pages of a registered model need no entry: their object_id is that model's row (see objects_for_admin).
URL_FILLERS = {
    "contacts:detail": lambda d: [{"pk": d.contact.pk}],
    "contacts:edit": lambda d: [{"pk": d.contact.pk}],
    "contacts:delete": lambda d: [{"pk": d.contact.pk}],
    "contacts:consent": lambda d: [{"pk": d.contact.pk}],
    "contacts:dnc_remove": lambda d: [{"pk": d.dnc.pk}],
    "contacts:import": lambda d: [{"pk": d.contact_import.pk}],
    "contacts:import_commit": lambda d: [{"pk": d.contact_import.pk}],
    "contacts:import_discard": lambda d: [{"pk": d.contact_import.pk}],
    "contacts:import_progress": lambda d: [{"pk": d.contact_import.pk}],
    "contacts:import_rejected": lambda d: [{"pk": d.contact_import.pk}],
    "campaigns:detail": lambda d: [{"pk": d.running_campaign.pk}, {"pk": d.draft_campaign.pk}],
    "campaigns:edit": lambda d: [{"pk": d.draft_campaign.pk}],
    "campaigns:launch": lambda d: [{"pk": d.draft_campaign.pk}],
    "campaigns:pause": lambda d: [{"pk": d.running_campaign.pk}],
    "campaigns:resume": lambda d: [{"pk": d.paused_campaign.pk}],
    "campaigns:cancel": lambda d: [{"pk": d.running_campaign.pk}],
    "campaigns:job_decide": lambda d: [{"pk": d.running_campaign.pk, "job_pk": d.unknown_job.pk}],
    "campaigns:template": lambda d: [{"pk": d.draft_template.pk}, {"pk": d.template.pk}],
    "campaigns:template_gsm": lambda d: [{"pk": d.draft_template.pk}],
    "reporting:campaign_report": lambda d: [{"pk": d.running_campaign.pk}],
    "reporting:campaign_jobs_csv": lambda d: [{"pk": d.running_campaign.pk}],
    "api:campaign-detail": lambda d: [{"pk": d.running_campaign.pk}, {"pk": d.draft_campaign.pk}],
    "api:campaign-launch": lambda d: [{"pk": d.draft_campaign.pk}],
    "api:campaign-pause": lambda d: [{"pk": d.running_campaign.pk}],
    "api:campaign-resume": lambda d: [{"pk": d.paused_campaign.pk}],
    "api:campaign-cancel": lambda d: [{"pk": d.running_campaign.pk}],
    "api:campaign-report": lambda d: [{"pk": d.running_campaign.pk}],
    "api:message-detail": lambda d: [{"pk": d.inbound_message.pk}],
    "tenants:member_role": lambda d: [{"pk": d.extra_membership.pk}],
    "tenants:member_remove": lambda d: [{"pk": d.extra_membership.pk}],
    "tenants:invitation": lambda d: [{"token": d.invitation_token}],
    "tenants:invitation_revoke": lambda d: [{"pk": d.invitation.pk}],
    "tenants:api_key_revoke": lambda d: [{"pk": d.api_key.pk}],
    "api/v1/^(?P<rest>.*)$": lambda d: [{"rest": "zz-no-such-endpoint/"}],
    "api:contact-by-phone": lambda d: [{"phone": d.contacts[0].phone_e164}],
    "api:contact-detail": lambda d: [{"pk": d.contact.pk}],
    "api:contact-consent-list": lambda d: [{"contact_pk": d.contact.pk}],
    "api:dnc-detail": lambda d: [{"phone": d.dnc.phone_e164}],
    **{
        f"api:import-{name}": lambda d: [{"pk": d.contact_import.pk}]
        for name in ("detail", "commit", "configure", "discard", "rejected")
    },
    "api:template-detail": lambda d: [{"pk": d.draft_template.pk}, {"pk": d.template.pk}],
    "api:template-preview": lambda d: [{"pk": d.draft_template.pk}],
    "api:webhook-detail": lambda d: [{"pk": pk} for pk in _webhook_ids(d)],
    "messaging:thread": lambda d: [{"phone": d.contacts[0].phone_e164}],
    "messaging:thread_action": lambda d: [{"phone": d.contacts[0].phone_e164}],
    "messaging:saved_reply": lambda d: [{"pk": SavedReply.objects.filter(tenant=d.tenant).order_by("pk")[0].pk}],
    "api:conversation-detail": lambda d: [{"phone": d.contacts[0].phone_e164}],
    "api:conversation-messages": lambda d: [{"phone": d.contacts[0].phone_e164}],
    "links:follow": lambda d: [{"token": d.short_link.token}],
    "webhooks:detail": lambda d: [{"pk": d.webhook.pk}, {"pk": d.disabled_webhook.pk}],
    "webhooks:disable": lambda d: [{"pk": d.webhook.pk}],
    "webhooks:enable": lambda d: [{"pk": d.disabled_webhook.pk}],
    "webhooks:delete": lambda d: [{"pk": d.webhook.pk}],
    "webhooks:send_again": lambda d: [{"pk": d.webhook.pk, "delivery_pk": d.webhook_delivery.pk}],
    "admin:app_list": lambda d: [{"app_label": label} for label in admin_app_labels()],
    "admin:view_on_site": lambda d: [
        {"content_type_id": _ct(type(obj)), "object_id": obj.pk} for obj in (d.contact, d.running_campaign, d.account)
    ],
    "admin/(?P<url>.*)$": lambda d: [{"url": "zz-no-such-admin-page/"}],
}

# Query strings that carry an object id, per URL name. ``True``: another tenant's id must get the
# "hidden" answer (404); ``False``: the page may answer, it must only not show anything of theirs.
ID_QUERIES = {
    "campaigns:create": (False, lambda d: [{"template": d.draft_template.pk}]),
    "messaging:inbox": (False, lambda d: [{"campaign": d.running_campaign.pk}]),
    "messaging:texts": (False, lambda d: [{"campaign": d.running_campaign.pk, "state": "all"}]),
    "reporting:pilot_check": (True, lambda d: [{"campaign": d.running_campaign.pk}]),
}


# Pages whose POST names a row by a form field (form_data below): another tenant's must be a 404.
POSTS_NAMING_ROWS = {"tenants:switch", "tenants:choose", "reporting:pilot_check"}


def _webhook_ids(d: TenantData) -> list[int]:
    from webhooks.models import WebhookSubscription

    return list(WebhookSubscription.objects.filter(tenant=d.tenant).values_list("pk", flat=True)[:1])


def admin_app_labels() -> list[str]:
    return sorted({model._meta.app_label for model in admin.site._registry})


# --- POST data ------------------------------------------------------------------------------------------------------


def upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("crawler.csv", b"Phone,First name\n0412 000 997,Crawler\n", content_type="text/csv")


def form_data(d: TenantData) -> dict:
    """Plausible values for every form of the product's pages at once, naming ``d``'s objects."""
    return {
        # tenants
        "email": "crawler@example.com",
        "role": "viewer",
        "tenant": d.tenant.pk,
        "daily_budget_cents": "10000",
        "monthly_budget_cents": "200000",
        "suppression_days": "90",
        "quiet_hours_start": "21",
        "quiet_hours_end": "9",
        "messages_per_second": "5",
        "opt_out_line": "Reply STOP to opt out",
        "contact_details": "crawler",
        "opt_out_reply": "{business}: unsubscribed.",
        "opt_in_reply": "{business}: subscribed.",
        "help_reply": "{business}: {contact}.",
        "short_domain": "",
        "link_ttl_days": "60",
        "opt_out_phrases": "",
        "timezone": "Australia/Sydney",
        # contacts
        "phone": "0412 000 998",
        "first_name": "Crawler",
        "last_name": "Test",
        "state": "NSW",
        "postcode": "2000",
        "tags": "crawler",
        "kind": "express",
        "source": "crawler",
        "captured_at": "2026-01-01T10:00",
        "evidence": "crawler",
        "withdrawn": "",
        "numbers": "0412 000 996",
        "note": "crawler",
        "reason": "crawler reason",
        "file": upload(),
        "consent_mode": "declaration",
        "consent_kind": "express",
        "consent_source": "crawler",
        "consent_captured_at": "2026-01-01T10:00",
        "consent_evidence": "crawler",
        "add_tags": "crawler",
        "col_0": "phone",
        "col_1": "first_name",
        # campaigns and messaging
        "name": "Crawler",
        "body_1": "Hi {{ first_name|there }}",
        "template": d.draft_template.pk,
        "link_url": "https://example.com/crawler",
        "account": d.account.pk,
        "sender": "0400 999 999",
        "sender_id_status": "n/a",
        "warmup_started_on": "2026-01-01",
        "warmup_curve": "50, 100",
        "decision": "sent",
        "campaign": d.running_campaign.pk,
        "message": [d.inbound_message.pk],
        "all": "1",
        "read": "1",
        "intent": "all",  # (the inbox's "state" filter gets the contact form's "NSW": shown as unread)
    }


def objects_for_admin(d: TenantData, model: type[models.Model], global_objects: dict) -> list[models.Model]:
    """The rows of ``model`` the admin crawl names: the preferred one first, else the tenant's."""
    if model in global_objects:
        return [global_objects[model]]
    if model._meta.label == "auth.User":
        return [d.extra_membership.user]
    preferred = d.preferred().get(model)
    if preferred is not None:
        return [preferred]
    rows = tenant_rows(model, d.tenant)
    return list(rows.order_by("pk")[:1]) if rows is not None else []


def admin_form_data(obj: models.Model, d: TenantData) -> dict:
    """The admin add/change form of ``obj``'s model filled with ``obj``'s values (for a tenant whose
    text must not be echoed, its markers replaced by "crawler")."""
    data: dict = {}
    for f in obj._meta.concrete_fields:
        if not f.editable or f.primary_key:
            continue
        value = f.value_from_object(obj)
        if f.name == "auth_token" or value is None:
            data[f.name] = ""
        elif isinstance(f, models.BooleanField):
            if value:
                data[f.name] = "on"
        elif isinstance(f, models.JSONField):
            data[f.name] = json.dumps(value)
        elif isinstance(f, models.DateTimeField):
            local = timezone.localtime(value)
            data[f"{f.name}_0"], data[f"{f.name}_1"] = local.date().isoformat(), local.strftime("%H:%M:%S")
        elif isinstance(f, models.DateField):
            data[f.name] = value.isoformat()
        else:
            data[f.name] = str(value)
    if d.texts.echo_safe:
        return data
    markers = [marker.lower() for marker in d.markers()] + [d.tenant.slug]
    return {
        k: ("crawler" if isinstance(v, str) and any(m in v.lower() for m in markers) else v) for k, v in data.items()
    }


# --- what to request ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One URL to request: a route, its kwargs and query string. ``hides``: it names a row of the
    populated tenant that another tenant's user must get the "missing" answer for."""

    route: object  # crawl.Route
    kwargs: dict
    query: dict = field(default_factory=dict)
    hides: bool = False

    @property
    def url(self) -> str:
        return self.route.url(self.kwargs, self.query)

    def with_missing_ids(self) -> Target:
        """The same request naming rows that do not exist."""
        kwargs = {
            k: (v if k in NOT_OBJECT_KWARGS | {"content_type_id"} else MISSING_ID) for k, v in self.kwargs.items()
        }
        query = {k: (MISSING_ID if isinstance(v, int) else v) for k, v in self.query.items()}
        return Target(self.route, kwargs, query, self.hides)


class Unfillable(Exception):
    """A URL pattern the crawl cannot request: the message says what to add."""


def targets_for(route, d: TenantData, global_objects: dict, *, id_queries: bool = True) -> list[Target]:
    """Every request the crawl makes of ``route`` for tenant ``d`` (with ``id_queries``, also the
    query strings that name ``d``'s rows)."""
    if not route.params:
        variants = [{}]
    elif route.key in URL_FILLERS:
        variants = URL_FILLERS[route.key](d)
    elif route.admin_model is not None and len(route.params) == 1 and route.params[0] in ("object_id", "id"):
        rows = objects_for_admin(d, route.admin_model, global_objects)
        if not rows:
            raise Unfillable(
                f"{route.key} ({route.route}): the populated tenant has no {route.admin_model._meta.label} row; "
                "add one in smscrm/tests/crawl_data.populate"
            )
        variants = [{route.params[0]: rows[0].pk}]
    else:
        raise Unfillable(
            f"{route.key} ({route.route}): nothing fills its kwargs {list(route.params)}; "
            "add an entry to smscrm/tests/crawl_data.URL_FILLERS"
        )
    for kwargs in variants:
        if set(kwargs) != set(route.params):
            raise Unfillable(
                f"{route.key} ({route.route}): URL_FILLERS gives {sorted(kwargs)}, it takes {route.params}"
            )
    # A row of no tenant (Django's groups, celery beat's schedules) is no tenant's to hide.
    names_object = route.admin_model not in global_objects and any(n not in NOT_OBJECT_KWARGS for n in route.params)
    found = [Target(route, kwargs, hides=names_object) for kwargs in variants]
    if not id_queries:
        return found
    if route.key in ID_QUERIES:
        must_hide, queries = ID_QUERIES[route.key]
        found += [Target(route, variants[0], query, names_object or must_hide) for query in queries(d)]
    if route.admin_kind == "changelist":
        model_admin = admin.site._registry[route.admin_model]
        if isinstance(model_admin, TenantScopedAdmin) and model_admin.tenant_lookup != "pk":  # its tenant filter
            found.append(Target(route, {}, {"tenant": d.tenant.pk}))
    return found


def post_for(target: Target, d: TenantData, global_objects: dict) -> dict:
    """The form data POSTed to ``target``: the admin's own forms for admin pages, else every field
    the product's forms read, naming ``d``'s objects."""
    route = target.route
    if route.admin_model is None:
        return form_data(d)
    rows = objects_for_admin(d, route.admin_model, global_objects)
    if route.admin_kind == "changelist":
        return {"action": "delete_selected", "index": "0", "select_across": "0",
                "_selected_action": [row.pk for row in rows], "post": "yes"}  # fmt: skip
    if route.admin_kind in ("add", "change") and rows:
        return admin_form_data(rows[0], d)
    return {"post": "yes"}
