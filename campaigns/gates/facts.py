"""What the gates read of one batch (``BatchFacts``), loaded once with a fixed number of
queries whatever its size, and the moments a cap opens again (local midnight, the next month)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Max

from campaigns.models import Campaign, JobStatus, SendJob
from campaigns.rendering import compile_body, placeholders
from contacts.models import Contact, DoNotContact
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.models import Message, MessageKind, MessageStatus, SendingNumber
from messaging.selectors import status_callback_url
from tenants.models import Tenant

# A message granted a slot goes within this many seconds; quiet hours must hold for all of it.
SLOT_HORIZON = 1.0


def local_midnight_after(day: dt.date, zone) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def local_next_month(month: dt.date, zone) -> dt.datetime:
    first = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def compiled_variant(body: str):
    """Compile a body checked when it was saved; a custom field no contact of this batch has
    renders as its fallback (or nothing), never as an error at send time."""
    names = [item.name for item in placeholders(body)]
    return compile_body(body, custom_fields=names)


def last_senders(*, tenant_id: int, contact_ids: Sequence[int]) -> dict[int, int]:
    """{contact id: the sender of its latest campaign message}, so contacts keep their sender."""
    latest = (
        Message.objects.filter(tenant_id=tenant_id, contact_id__in=contact_ids, kind=MessageKind.CAMPAIGN)
        .exclude(status=MessageStatus.REJECTED)
        .values("contact_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    return dict(Message.objects.filter(id__in=list(latest)).values_list("contact_id", "sending_number_id"))


@dataclass
class BatchFacts:
    """What the gates read of one batch, loaded once (``batch_facts``) with a fixed number of
    queries, and the batch's constants: every per-job step of the gates reads only these."""

    campaign: Campaign
    tenant: Tenant
    zone: zoneinfo.ZoneInfo
    now: dt.datetime
    later: dt.datetime  # the end of a granted slot's horizon: quiet hours must hold until then
    day: dt.date
    month: dt.date
    window: dict[str, int]  # the sending window, as next_allowed_at takes it
    on_dnc: set[str]  # the batch's numbers on the do-not-contact list
    busy: set[int]  # contacts another campaign's message is being handed over to
    senders: list[SendingNumber]
    prices: dict[tuple[str, str], int]
    providers: set[str]  # of the senders that may be used now
    spent_day: int
    spent_month: int
    counts: dict[int, int]  # sender id -> messages today (its warmup count)
    sticky: dict[int, int]  # contact id -> the sender of its latest campaign message
    compiled: list  # the template's variants, compiled
    callback: str
    reachable: set[str] | None = None  # providers of every sender, paused too (read when needed)


def batch_facts(
    *, campaign: Campaign, jobs: list[SendJob], contacts: dict[int, Contact], now: dt.datetime, locked: bool
) -> BatchFacts:
    """Read the batch's facts: do-not-contact, contacts mid hand-off elsewhere, senders, prices,
    spend and warmup counters (under row locks when ``locked``), sticky senders, variants."""
    tenant = campaign.tenant
    day, month = messaging_services.local_periods(tenant, now)
    contact_ids = [job.contact_id for job in jobs]
    phones = [contacts[cid].phone_e164 for cid in contact_ids if cid in contacts]
    on_dnc = set(DoNotContact.objects.filter(tenant=tenant, phone_e164__in=phones).values_list("phone_e164", flat=True))
    busy = set(
        SendJob.objects.filter(contact_id__in=contact_ids, status=JobStatus.SENDING)
        .exclude(campaign=campaign)
        .values_list("contact_id", flat=True)
    )
    senders = messaging_selectors.senders_for_sending(tenant=tenant)
    prices = messaging_selectors.prices_on(tenant=tenant, day=day)
    if locked:
        spent_day, spent_month = messaging_services.spend_lock(tenant=tenant, day=day, month=month)
        counts = messaging_services.sender_counts_lock(numbers=senders, day=day) if senders else {}
    else:
        spent_day, spent_month = messaging_services.spend_read(tenant=tenant, day=day, month=month)
        counts = messaging_services.sender_counts_read(numbers=senders, day=day) if senders else {}
    return BatchFacts(
        campaign=campaign,
        tenant=tenant,
        zone=tenant.zone,
        now=now,
        later=now + dt.timedelta(seconds=SLOT_HORIZON),
        day=day,
        month=month,
        window={"start_hour": tenant.quiet_hours_end, "end_hour": tenant.quiet_hours_start},
        on_dnc=on_dnc,
        busy=busy,
        senders=senders,
        prices=prices,
        providers={sender.account.provider for sender in senders},
        spent_day=spent_day,
        spent_month=spent_month,
        counts=counts,
        sticky=last_senders(tenant_id=tenant.id, contact_ids=contact_ids) if senders else {},
        compiled=[compiled_variant(variant.body) for variant in campaign.template.variants.all()],
        callback=status_callback_url(),
    )
