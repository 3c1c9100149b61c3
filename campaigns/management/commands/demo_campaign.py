"""Run a whole demo campaign on the simulator and print one JSON summary.

    python manage.py demo_campaign --tenant demo --contacts 1000
    python manage.py demo_campaign --tenant demo --contacts 10000 --backend twilio \
        --account-sid AC… --auth-token … --unthrottled

The second form drives the Twilio backend at TWILIO_API_BASE_URL (a local fake in tests and
benchmarks: never point it at the real Twilio with a demo) through the production code path,
concurrent hand-off included, until every job is settled, and adds ``handoff_seconds`` (first
to last accepted) and ``messages_per_second`` to the summary. ``--unthrottled`` lifts the
tenant's and its senders' rate limits, the warmup caps and the budget caps and gives the
account Twilio's default concurrency (100); quiet hours stay on, so the demo's contacts live
in a zone where it is daytime now.

Creates N demo contacts (with consent, spread over Australian states), a simulator account
with warmed-up senders, a price, a two-variant template and a campaign; launches it and drives
the dispatcher itself (no worker needed). Delivery reports come back as signed status
callbacks: ``--callbacks http`` posts them to PUBLIC_BASE_URL, ``--callbacks inprocess`` calls
the same view in this process, and the default ``auto`` (what `make run` uses) goes over HTTP
when a web server answers at PUBLIC_BASE_URL and in-process otherwise. Tests pass
``inprocess``, so a server listening on the developer's port cannot change what they test.
Jobs deferred by quiet hours or caps are reported with their next allowed time rather than
waited for.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import time
import urllib.request
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Max, Min
from django.test import RequestFactory
from django.utils import timezone

from campaigns import dispatch, services
from campaigns.models import Campaign, GateOutcome, JobStatus, SendJob, Template
from contacts import services as contact_services
from contacts.models import ConsentKind, Contact
from links import clicks as link_clicks
from links import views as link_views
from links.bots import SCANNER_SECONDS
from links.models import Click, ShortLink
from messaging import services as messaging_services
from messaging import simulation
from messaging.backends.base import get_backend
from messaging.models import (
    Message,
    MessageKind,
    MessageStatus,
    Price,
    Provider,
    ProviderAccount,
    SenderIdStatus,
    SenderKind,
    SendingNumber,
    Spend,
    SpendPeriod,
)
from messaging.quiet_hours import daytime_zone
from messaging.services import local_periods
from tenants import services as tenant_services
from tenants.models import Tenant

STATES = [("NSW", "2000"), ("VIC", "3000"), ("QLD", "4000"), ("SA", "5000"), ("WA", "6000"), ("TAS", "7000"),
          ("NT", "0800"), ("ACT", "2600")]  # fmt: skip
FIRST_NAMES = ["Olivia", "Jack", "Chloé", "Noah", "Mia", "Liam", "Zoë", "Ethan", "Ava", "Lucas", "Ngaio", "Sienna"]
VARIANTS = [
    "Hi {{ first_name|there }}, our spring blend is in! 20% off this week: {{ link }}",
    "{{ first_name|Hello }}, fresh roast just landed. Grab 20% off before Sunday: {{ link }}",
]
DEMO_SENDERS = ["+61485000101", "+61485000102", "+61485000103", "+61485000104"]
DEMO_REPLIES = ["STOP", "Please remove me from your list", "Do you open on Sunday?"]
# Who opens the demo's links: the link-preview fetchers first, then people on their phones.
DEMO_PREVIEWS = ["WhatsApp/2.23.20.0", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"]
DEMO_PEOPLE = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 Version/18.6 Mobile Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/131.0.0.0 Mobile Safari/537.36",
]


def server_running() -> bool:
    try:
        url = settings.PUBLIC_BASE_URL + "/health/live"
        if not url.startswith(("http://", "https://")):
            return False
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - http(s) only, checked above
            return response.status == 200
    except OSError:
        return False


class Command(BaseCommand):
    help = "Create demo contacts and a campaign, run it through the gates on the simulator, print a JSON summary."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug, e.g. demo.")
        parser.add_argument("--contacts", type=int, default=200)
        parser.add_argument("--max-seconds", type=float, default=120.0, help="Stop driving the dispatcher after this.")
        parser.add_argument("--once", action="store_true", help="Do nothing if the tenant has a demo campaign already.")
        parser.add_argument(
            "--callbacks",
            choices=["auto", "http", "inprocess"],
            default="auto",
            help="How the simulator's status callbacks arrive: over HTTP to PUBLIC_BASE_URL, in this process, "
            "or auto (the default, as under `make run`): HTTP when a server answers at PUBLIC_BASE_URL/health/live.",
        )
        parser.add_argument(
            "--backend",
            choices=["simulator", "twilio"],
            default="simulator",
            help="twilio: through the Twilio backend at TWILIO_API_BASE_URL (a local fake), with --account-sid.",
        )
        parser.add_argument("--account-sid", default="", help="With --backend twilio: the provider account to use.")
        parser.add_argument("--auth-token", default="", help="With --backend twilio: its auth token.")
        parser.add_argument(
            "--unthrottled",
            action="store_true",
            help="Lift the demo tenant's rate limits, warmup and budget caps; concurrency 100 on the account.",
        )

    def handle(  # noqa: PLR0913 - the command's options
        self, *args, tenant: str, contacts: int, max_seconds: float, once: bool, backend: str, callbacks: str, **options
    ):
        if backend == "twilio":
            return self.handle_twilio(tenant=tenant, contacts=contacts, max_seconds=max_seconds, **options)
        if options["account_sid"] or options["auth_token"] or options["unthrottled"]:
            raise CommandError("--account-sid, --auth-token and --unthrottled go with --backend twilio.")
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"No tenant with slug {tenant!r} (run `manage.py seed_demo` for the demo one).")
        if once and Campaign.objects.filter(tenant=tenant_obj, name__startswith="Demo campaign").exists():
            self.stdout.write("A demo campaign exists already (see Campaigns); run without --once for another.")
            return
        if not 1 <= contacts <= 100_000:
            raise CommandError("--contacts must be between 1 and 100,000.")
        if settings.SMS_BACKEND != "simulator":
            raise CommandError(f"SMS_BACKEND is {settings.SMS_BACKEND!r}: the demo only ever sends on the simulator.")
        # Tasks (the launch's job creation, the simulator's reports) run here, now: no worker needed.
        current_app.conf.task_always_eager = True
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # a line per task otherwise
        if callbacks == "auto":
            callbacks = "http" if server_running() else "inprocess"
        settings.SMS_SIMULATOR_CALLBACKS = callbacks
        self.ensure_sending_setup(tenant_obj)
        created = self.create_contacts(tenant_obj, contacts)
        campaign = self.create_campaign(tenant_obj, created)
        services.campaign_launch(campaign=campaign, actor=None)
        services.campaign_create_jobs(campaign_id=campaign.pk)
        started = time.monotonic()
        backend = get_backend()
        decisions = dispatch.DispatchStats()
        while time.monotonic() - started < max_seconds:
            decisions.merge(dispatch.dispatch(backend=backend, max_seconds=max_seconds - (time.monotonic() - started)))
            # Rate-limit deferrals come due within seconds: wait for those; later ones are reported.
            soon = SendJob.objects.filter(
                campaign=campaign,
                status=JobStatus.PENDING,
                next_attempt_at__lte=timezone.now() + timedelta(seconds=5),
            ).exists()
            if not soon:
                break
            time.sleep(0.2)
        dispatch.campaigns_advance()
        replies = self.simulate_replies(campaign)
        summary_clicks = self.simulate_clicks(campaign)
        summary = self.summary(campaign, seconds=time.monotonic() - started)
        summary["inbound"] = replies
        summary["clicks"] = summary_clicks
        # Every decision the gates took on the way (a job deferred three times counts three).
        summary["gate_decisions"] = dict(sorted(decisions.outcomes.items()))
        self.stdout.write(json.dumps(summary, indent=2, default=str))

    # --- the Twilio backend (a local fake of its API) ------------------------------------------

    def handle_twilio(  # noqa: PLR0913 - the command's options
        self,
        *,
        tenant: str,
        contacts: int,
        max_seconds: float,
        account_sid: str,
        auth_token: str,
        unthrottled: bool,
        **_,
    ) -> None:
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"No tenant with slug {tenant!r} (run `manage.py seed_demo` for the demo one).")
        if not 1 <= contacts <= 100_000:
            raise CommandError("--contacts must be between 1 and 100,000.")
        if not account_sid.startswith("AC") or not auth_token:
            raise CommandError("--backend twilio needs --account-sid AC… and --auth-token.")
        current_app.conf.task_always_eager = True  # the launch's job creation runs here
        logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
        account = self.ensure_twilio_setup(tenant_obj, account_sid, auth_token, contacts=contacts)
        if unthrottled:
            self.unthrottle(tenant_obj, account)
        tag = self.create_contacts(tenant_obj, contacts, timezone_name=daytime_zone(timezone.now()))
        campaign = self.create_campaign(tenant_obj, tag)
        services.campaign_launch(campaign=campaign, actor=None)
        services.campaign_create_jobs(campaign_id=campaign.pk)
        started = time.monotonic()
        backend = get_backend("twilio")
        decisions = dispatch.DispatchStats()
        open_jobs = SendJob.objects.filter(campaign=campaign, status__in=(JobStatus.PENDING, JobStatus.SENDING))
        # The production path: dispatch() with its concurrent hand-off, until every job is settled
        # (jobs a provider refusal deferred come due again within the run; later ones are reported).
        while time.monotonic() - started < max_seconds:
            decisions.merge(dispatch.dispatch(backend=backend, max_seconds=max_seconds - (time.monotonic() - started)))
            soon = open_jobs.filter(next_attempt_at__lte=timezone.now() + timedelta(seconds=5)).exists()
            if not open_jobs.exists() or not soon:
                break
            time.sleep(0.2)
        dispatch.campaigns_advance()
        summary = self.summary(campaign, seconds=time.monotonic() - started)
        summary["backend"] = "twilio"
        summary["api"] = settings.TWILIO_API_BASE_URL
        summary.pop("status_callbacks", None)
        span = Message.objects.filter(campaign=campaign, handed_off_at__isnull=False).aggregate(
            first=Min("handed_off_at"), last=Max("handed_off_at"), n=Count("id")
        )
        handoff_seconds = (span["last"] - span["first"]).total_seconds() if span["n"] else 0.0
        summary["handoff_seconds"] = round(handoff_seconds, 3)
        summary["messages_per_second"] = round(span["n"] / handoff_seconds, 1) if handoff_seconds else None
        summary["gate_decisions"] = dict(sorted(decisions.outcomes.items()))
        self.stdout.write(json.dumps(summary, indent=2, default=str))

    def ensure_twilio_setup(self, tenant: Tenant, account_sid: str, auth_token: str, *, contacts: int):
        """The tenant's Twilio account of that sid (created, or its token updated), senders and a price."""
        account = ProviderAccount.objects.filter(account_sid=account_sid).first()
        if account is not None and account.tenant_id != tenant.id:
            raise CommandError(f"Provider account {account_sid} belongs to another tenant.")
        if account is None:
            account = ProviderAccount(tenant=tenant, provider=Provider.TWILIO, label="Twilio (demo)")
        account.account_sid, account.auth_token, account.provider, account.is_active = (
            account_sid,
            auth_token,
            Provider.TWILIO,
            True,
        )
        account = messaging_services.provider_account_save(account=account, actor=None)
        # Enough senders that warmup caps (each sender's daily count) never hold the demo back.
        for n in range(max(len(DEMO_SENDERS), -(-contacts // 25_000))):
            sender = f"+614851{account.pk % 1000:03d}{n:02d}"
            if not SendingNumber.objects.filter(tenant=tenant, sender=sender).exists():
                self.create_sender(tenant, account, sender)
        # Other accounts' senders stay out of this run: only this account's numbers send.
        for number in SendingNumber.objects.filter(tenant=tenant):
            if number.is_active != (number.account_id == account.pk):
                number.is_active = number.account_id == account.pk
                messaging_services.sending_number_save(number=number, actor=None)
        self.ensure_price(tenant, Provider.TWILIO)
        return account

    def unthrottle(self, tenant: Tenant, account: ProviderAccount) -> None:
        """Rate limits, warmup and budget caps out of the way (audited); concurrency 100."""
        tenant_services.tenant_update_settings(
            tenant=tenant,
            actor=None,
            messages_per_second=2000,
            daily_budget_cents=10**11,
            monthly_budget_cents=10**11,
        )
        for number in SendingNumber.objects.filter(tenant=tenant, account=account):
            number.messages_per_second, number.warmup_curve = 2000, [10_000_000]
            messaging_services.sending_number_save(number=number, actor=None)
        account.max_concurrent_requests = min(100, settings.TWILIO_MAX_CONCURRENT_REQUESTS)
        messaging_services.provider_account_save(account=account, actor=None)

    def ensure_sending_setup(self, tenant: Tenant) -> None:
        """A simulator account, the demo's senders and a price, made through the services (audited,
        validated) like an admin's; what exists already is left as it is."""
        account = ProviderAccount.objects.filter(tenant=tenant, provider=Provider.SIMULATOR).first()
        if account is None:
            account = messaging_services.provider_account_save(
                account=ProviderAccount(
                    tenant=tenant,
                    provider=Provider.SIMULATOR,
                    label="Simulator",
                    account_sid="AC" + secrets.token_hex(16),
                    auth_token=secrets.token_hex(16),
                ),
                actor=None,
            )
        taken = set(
            SendingNumber.objects.filter(tenant=tenant, sender__in=DEMO_SENDERS).values_list("sender", flat=True)
        )
        for sender in DEMO_SENDERS:
            if sender not in taken:
                self.create_sender(tenant, account, sender)
        self.ensure_price(tenant, Provider.SIMULATOR)

    def create_sender(self, tenant: Tenant, account: ProviderAccount, sender: str) -> None:
        """A demo number through the service; it counts as warmed up (a fresh one sends 50 on day one)."""
        messaging_services.sending_number_create(
            tenant=tenant,
            actor=None,
            account=account,
            sender=sender,
            kind=SenderKind.NUMBER,
            sender_id_status=SenderIdStatus.NOT_APPLICABLE,
            messages_per_second=10,
            warmup_curve=[2000],
            warmup_started_on=timezone.localdate() - timedelta(days=30),
        )

    def ensure_price(self, tenant: Tenant, provider: str) -> None:
        """5¢ a segment to Australia for a year back, unless the tenant has that price row already."""
        row = {"tenant": tenant, "provider": provider, "country": "AU"}
        row["effective_from"] = timezone.localdate() - timedelta(days=365)
        if not Price.objects.filter(**row).exists():
            messaging_services.price_save(price=Price(**row, cents_per_segment=5), actor=None)

    def create_contacts(self, tenant: Tenant, count: int, *, timezone_name: str = "") -> str:
        """N new consenting contacts, tagged with this run's tag; numbers not used by the tenant yet.

        ``timezone_name``: the contacts' zone (by default, their state's)."""
        tag = f"demo-{timezone.now():%Y%m%d-%H%M%S}"
        taken = set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
        rng = random.Random()  # noqa: S311 - demo phone numbers, not secrets
        made = 0
        captured = timezone.now() - timedelta(days=30)
        while made < count:
            phone = f"+614{rng.randint(12, 99)}{rng.randint(0, 999_999):06d}"
            if phone in taken:
                continue
            taken.add(phone)
            state, postcode = STATES[made % len(STATES)]
            try:
                contact_services.contact_create(
                    tenant=tenant,
                    actor=None,
                    phone=phone,
                    first_name=FIRST_NAMES[made % len(FIRST_NAMES)],
                    last_name="Demo",
                    state=state,
                    postcode=postcode,
                    timezone=timezone_name,
                    tags=[tag],
                    consent={
                        "kind": ConsentKind.EXPRESS,
                        "source": "Demo sign-up form",
                        "captured_at": captured,
                        "evidence": "Ticked 'Text me offers' on the demo form.",
                    },
                )
            except ValidationError:
                continue  # noqa: S112 - a number libphonenumber refuses: draw another
            made += 1
        return tag

    def create_campaign(self, tenant: Tenant, tag: str) -> Campaign:
        template = Template.objects.filter(tenant=tenant, name="Demo: spring blend").first()
        if template is None:
            template = services.template_save(tenant=tenant, actor=None, name="Demo: spring blend", bodies=VARIANTS)
        return services.campaign_create(
            tenant=tenant,
            actor=None,
            name=f"Demo campaign {tag}",
            template=template,
            tags=[tag],
            link_url="https://example.com/spring",
        )

    def simulate_replies(self, campaign: Campaign) -> dict:
        """A few recipients answer, through the signed inbound webhook: an opt-out keyword, an
        opt-out in other words and a question (the inbox shows them; the first two are listed)."""
        reached = list(
            Message.objects.filter(campaign=campaign, kind=MessageKind.CAMPAIGN, status=MessageStatus.DELIVERED)
            .select_related("sending_number__account")
            .order_by("id")[:3]
        )
        answers = {}
        for message, body in zip(reached, DEMO_REPLIES, strict=False):
            code, twiml = simulation.simulate_inbound(number=message.sending_number, phone=message.to_phone, body=body)
            answers[body] = {"http": code, "answered": twiml}
        return answers

    def simulate_clicks(self, campaign: Campaign) -> dict:
        """Some recipients open their link, through the redirect view: the preview fetchers at
        once, the people a few seconds later (a tap within SCANNER_SECONDS of delivery counts
        as a scanner), so the report and the pilot check have humans and bots to tell apart."""
        links = list(
            ShortLink.objects.filter(campaign_id=campaign.pk, message__status=MessageStatus.DELIVERED)
            .order_by("id")
            .values_list("token", "message__delivered_at")[:12]
        )
        factory = RequestFactory()
        answered: dict[str, int] = {}

        def follow(token: str, agent: str) -> None:
            response = link_views.follow(factory.get(f"/s/{token}", HTTP_USER_AGENT=agent), token)
            answered[str(response.status_code)] = answered.get(str(response.status_code), 0) + 1

        for n, (token, _) in enumerate(links):
            follow(token, DEMO_PREVIEWS[n % len(DEMO_PREVIEWS)])
        delivered = [at for _, at in links if at is not None]
        if delivered:
            time.sleep(max(0.0, SCANNER_SECONDS + 0.5 - (timezone.now() - max(delivered)).total_seconds()))
        for n, (token, _) in enumerate(links[::2]):
            follow(token, DEMO_PEOPLE[n % len(DEMO_PEOPLE)])
        link_clicks.flush()  # whatever the background flusher has not recorded yet
        stored = Click.objects.filter(campaign_id=campaign.pk)
        return {
            "links": len(links),
            "responses": answered,
            "recorded": {"human": stored.filter(is_human=True).count(), "bot": stored.filter(is_human=False).count()},
        }

    def summary(self, campaign: Campaign, *, seconds: float) -> dict:
        campaign.refresh_from_db()
        tenant = campaign.tenant
        jobs = SendJob.objects.filter(campaign=campaign)
        by_status = dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        gates = {
            f"{gate}:{outcome}": n
            for gate, outcome, n in jobs.exclude(gate="")
            .values_list("gate", "outcome")
            .annotate(n=Count("id"))
            .values_list("gate", "outcome", "n")
        }
        waiting = {
            gate or "none": timezone.localtime(first, tenant.zone).isoformat()
            for gate, first in jobs.filter(status=JobStatus.PENDING)
            .values_list("gate")
            .annotate(first=Min("next_attempt_at"))
            .values_list("gate", "first")
        }
        messages = Message.objects.filter(tenant=tenant, send_jobs__campaign=campaign)
        statuses = dict(messages.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        # Duplicates counted from the data: live messages per (campaign, contact) beyond the first,
        # and provider ids handed out twice.
        live = Message.objects.filter(
            tenant=tenant, kind=MessageKind.CAMPAIGN, dedupe_key__startswith=f"campaign:{campaign.pk}:"
        )
        live = live.exclude(status=MessageStatus.REJECTED)
        per_contact = live.values("contact_id").annotate(n=Count("id")).filter(n__gt=1)
        duplicates = sum(row["n"] - 1 for row in per_contact)
        day, month = local_periods(tenant, timezone.now())
        spend = {
            (row.period): row.cents
            for row in Spend.objects.filter(tenant=tenant, starts_on__in=(day, month))
            if (row.period == SpendPeriod.DAY and row.starts_on == day)
            or (row.period == SpendPeriod.MONTH and row.starts_on == month)
        }
        return {
            "campaign": {"id": campaign.pk, "name": campaign.name, "status": campaign.status},
            "contacts": campaign.jobs_total,
            "seconds": round(seconds, 1),
            "status_callbacks": settings.SMS_SIMULATOR_CALLBACKS,
            "jobs": by_status,
            "gate_outcomes": gates,
            "deferred_next_allowed": waiting,
            "sent": by_status.get(JobStatus.SENT, 0),
            "delivered": statuses.get(MessageStatus.DELIVERED, 0),
            "undelivered": statuses.get(MessageStatus.UNDELIVERED, 0),
            "failed": statuses.get(MessageStatus.FAILED, 0),
            "awaiting_report": sum(statuses.get(s, 0) for s in (MessageStatus.QUEUED, MessageStatus.SENT)),
            "duplicates": duplicates,
            "spend_cents": {
                "today": spend.get(SpendPeriod.DAY, 0),
                "daily_cap": tenant.daily_budget_cents,
                "this_month": spend.get(SpendPeriod.MONTH, 0),
                "monthly_cap": tenant.monthly_budget_cents,
            },
            "skipped_by_gate": {k: v for k, v in gates.items() if k.endswith(GateOutcome.SKIP)},
        }
