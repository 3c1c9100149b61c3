"""Everything that happened about one contact, in time order: the auditor's view of a number.

"Show me consent for this number and every message you sent it": imports that created or
updated the contact (which file), consent given and withdrawn (with its evidence), do-not-contact
entries added and lifted (why, by whom), each message as sent with each status callback and
error, campaign sends a gate stopped, each click (a person, or why a fetch was not one), and each
inbound text (reply, opt-out, opt-in, help) with our automatic answer.

``contact_timeline`` reads each source once (a fixed number of queries, however long the
history) and each source at most ``limit`` rows, the newest; consent, do-not-contact and import
evidence is rarely long, messages and clicks may be. Everything is filtered by the tenant as
well as by the contact, so another tenant's rows for the same phone number never appear.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from django.db.models import Prefetch

from campaigns.models import Campaign, Gate, GateOutcome, JobStatus, SendJob
from contacts.models import ConsentKind, ConsentRecord, Contact, DncReason, DoNotContact
from contacts.services import ContactAction
from links.models import Click, ClickReason
from messaging.keywords import Intent
from messaging.models import EventKind, Message, MessageKind, MessageStatus, ProviderEvent
from reporting.stats import ERROR_MEANINGS
from tenants.models import AuditEvent, Tenant

# Same instant: the order things happen in (an import creates, then consents; a text arrives,
# then the opt-out it asked for; a message goes, then its reports come back; our answer last).
KIND_ORDER = (
    "contact.created",
    "contact.imported",
    "contact.import_updated",
    "contact.updated",
    "inbound.reply",
    "inbound.opt_out",
    "inbound.opt_in",
    "inbound.help",
    "consent.given",
    "consent.withdrawn",
    "dnc.added",
    "dnc.removed",
    "send.stopped",
    "message.campaign",
    "message.status",
    "click",
    "message.reply",
    "message.conversation",
)
_RANK = {kind: n for n, kind in enumerate(KIND_ORDER)}

# Provider reports that mean this message did not arrive.
FAILED_REPORTS = {"failed", "undelivered", "canceled"}
PROBLEM_STATUSES = {MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.REJECTED, MessageStatus.UNKNOWN}
# Provider words ranked as messaging.events ranks them: a lower report after a higher one
# changes nothing (callbacks arrive out of order).
_REPORT_RANK = {
    "queued": 1, "accepted": 1, "scheduled": 1, "sending": 1,
    "sent": 2,
    "failed": 3, "canceled": 3,
    "undelivered": 4,
    "delivered": 5, "read": 5, "partially_delivered": 5,
}  # fmt: skip
# An import writes the contact and its consent record with one timestamp.
SAME_WRITE = timedelta(seconds=2)


@dataclass(frozen=True)
class Event:
    """One thing that happened about the contact."""

    at: datetime
    kind: str  # one of KIND_ORDER
    title: str
    detail: str = ""
    campaign_id: int | None = None
    campaign_name: str = ""
    actor: str = ""  # the person who did it (e-mail); empty: the system, the provider or the contact
    is_problem: bool = False  # a failure: an error code, a message that did not arrive
    is_warning: bool = False  # the contact said no: withdrawal, opt-out, do-not-contact
    body: str = ""  # a message's text exactly as sent or received


class Timeline(list):
    """The events, oldest first; ``truncated`` names the sources cut at the limit (their oldest rows)."""

    truncated: tuple[str, ...] = ()


def error_meaning(code: str) -> str:
    """ "30007" → "error 30007: Filtered by the carrier as content"."""
    if not code:
        return ""
    meaning = ERROR_MEANINGS.get(code)
    return f"error {code}: {meaning}" if meaning else f"error {code}"


def _email(user) -> str:
    return user.email if user is not None else ""


def _join(*parts: str) -> str:
    return " · ".join(part for part in parts if part)


def contact_timeline(*, tenant: Tenant, contact: Contact, limit: int = 500) -> Timeline:
    """Every event about ``contact`` of ``tenant``, oldest first (ties in KIND_ORDER).

    A fixed number of queries (eight), whatever the contact's history. At most ``limit`` rows
    of each source are read, the newest; the result's ``truncated`` says which were cut.
    """
    if contact.tenant_id != tenant.id:
        return Timeline()
    builder = _Builder(tenant=tenant, contact=contact, limit=limit)
    return builder.build()


class _Builder:
    def __init__(self, *, tenant: Tenant, contact: Contact, limit: int):
        self.tenant, self.contact, self.limit = tenant, contact, limit
        self.events: list[tuple[datetime, int, int, Event, int | None]] = []
        self.truncated: list[str] = []

    def add(self, event: Event) -> None:
        self.events.append((event.at, _RANK[event.kind], len(self.events), event, event.campaign_id))

    def rows(self, name: str, queryset) -> list:
        found = list(queryset[: self.limit])
        if len(found) >= self.limit:
            self.truncated.append(name)
        return found

    def build(self) -> Timeline:
        records = self.rows(
            "consent records",
            ConsentRecord.objects.filter(tenant_id=self.tenant.id, contact=self.contact)
            .select_related("source_import", "recorded_by")
            .order_by("-captured_at", "-id"),
        )
        self.contact_events(records)
        self.consent_events(records)
        self.dnc_events()
        jobs = self.rows(
            "send jobs",
            SendJob.objects.filter(tenant=self.tenant, contact=self.contact)
            .order_by("-id")
            .only("decided_at", "campaign_id", "message_id", "variant_index", "status", "gate", "outcome", "reason"),
        )
        self.job_events(jobs)
        self.message_events({job.message_id: job.variant_index for job in jobs if job.message_id})
        self.click_events()

        campaign_ids = {campaign_id for *_, campaign_id in self.events if campaign_id is not None}
        names = dict(
            Campaign.objects.filter(tenant=self.tenant, id__in=campaign_ids).values_list("id", "name")
            if campaign_ids
            else ()
        )
        timeline = Timeline()
        for *_, event, campaign_id in sorted(self.events, key=lambda item: item[:3]):
            if campaign_id is not None:
                if campaign_id in names:
                    event = replace(event, campaign_name=names[campaign_id])
                else:  # deleted, or (never) another tenant's: show no link
                    event = replace(event, campaign_id=None)
            timeline.append(event)
        timeline.truncated = tuple(self.truncated)
        return timeline

    # --- the contact and its consent ------------------------------------------------------

    def contact_events(self, records: list[ConsentRecord]) -> None:
        contact = self.contact
        imported = sorted((r for r in records if r.source_import_id), key=lambda r: (r.created_at, r.id))
        created_by_import = bool(imported) and abs(imported[0].created_at - contact.created_at) <= SAME_WRITE
        if not created_by_import:
            self.add(Event(at=contact.created_at, kind="contact.created", title="Contact added"))
        for n, record in enumerate(imported):
            name = record.source_import.original_name if record.source_import else "a deleted import"
            first = n == 0 and created_by_import
            self.add(
                Event(
                    at=record.created_at,
                    kind="contact.imported" if first else "contact.import_updated",
                    title=f"{'Imported from' if first else 'Updated by import of'} {name}",
                    actor=_email(record.recorded_by),
                )
            )
        writes = [contact.created_at, *(r.created_at for r in imported)]
        if all(abs(contact.updated_at - at) > SAME_WRITE for at in writes):
            self.add(
                Event(
                    at=contact.updated_at,
                    kind="contact.updated",
                    title="Details changed",
                    detail="Only the latest change of name, e-mail, zone, address or tags is kept.",
                )
            )

    def consent_events(self, records: list[ConsentRecord]) -> None:
        for record in records:
            source = f"Source: {record.source}"
            if record.source_import_id:
                name = record.source_import.original_name if record.source_import else "a deleted import"
                source += f" (import of {name})"
            if record.withdrawn:
                title, kind = "Consent withdrawn", "consent.withdrawn"
            else:
                title, kind = f"Consent given ({ConsentKind(record.kind).value})", "consent.given"
            self.add(
                Event(
                    at=record.captured_at,
                    kind=kind,
                    title=title,
                    detail=_join(source, f"Evidence: {record.evidence}" if record.evidence else ""),
                    actor=_email(record.recorded_by),
                    is_warning=record.withdrawn,
                )
            )

    # --- do-not-contact -------------------------------------------------------------------

    def dnc_events(self) -> None:
        # The audit log is the only record of an entry being lifted (its row is deleted).
        phone = self.contact.phone_e164
        entry = DoNotContact.objects.filter(tenant=self.tenant, phone_e164=phone).select_related("added_by").first()
        audits = self.rows(
            "do-not-contact history",
            AuditEvent.objects.filter(
                tenant=self.tenant, target=phone, action__in=(ContactAction.DNC_ADDED, ContactAction.DNC_REMOVED)
            )
            .select_related("actor")
            .order_by("-at", "-id"),
        )
        audits.reverse()
        current_added = None  # the audit row of the entry still in place, if any
        for audit in audits:
            current_added = audit if audit.action == ContactAction.DNC_ADDED else None
        for audit in audits:
            data = audit.data or {}
            if audit.action == ContactAction.DNC_ADDED:
                source = entry.source if entry is not None and audit is current_added else ""
                self.add(
                    Event(
                        at=audit.at,
                        kind="dnc.added",
                        title="Added to the do-not-contact list",
                        detail=_join(_dnc_reason(data.get("reason", "")), data.get("note", ""), source),
                        actor=_email(audit.actor),
                        is_warning=True,
                    )
                )
            else:
                was = _dnc_reason(data.get("entry_reason", ""))
                self.add(
                    Event(
                        at=audit.at,
                        kind="dnc.removed",
                        title="Removed from the do-not-contact list",
                        detail=_join(f"Why: {data.get('reason', '')}", f"it was: {was}" if was else ""),
                        actor=_email(audit.actor),
                    )
                )
        if entry is not None and current_added is None:
            # An entry written without its audit row (a bulk load): the row itself is the evidence.
            self.add(
                Event(
                    at=entry.created_at,
                    kind="dnc.added",
                    title="Added to the do-not-contact list",
                    detail=_join(entry.get_reason_display(), entry.note, entry.source),
                    actor=_email(entry.added_by),
                    is_warning=True,
                )
            )

    # --- sending --------------------------------------------------------------------------

    def job_events(self, jobs: list[SendJob]) -> None:
        """Campaign sends that produced no message: a gate skipped, held or deferred them."""
        for job in jobs:
            if job.message_id or job.decided_at is None:
                continue
            if job.status == JobStatus.PENDING and job.outcome in (GateOutcome.HOLD, GateOutcome.DEFER):
                verb = "Held back" if job.outcome == GateOutcome.HOLD else "Deferred"
            elif job.status in (JobStatus.SKIPPED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED):
                verb = f"Not sent ({JobStatus(job.status).label.lower()})"
            else:
                continue
            gate = Gate(job.gate).label if job.gate in Gate.values else ""
            self.add(
                Event(
                    at=job.decided_at,
                    kind="send.stopped",
                    title=_join(verb, f"gate {gate}" if gate else ""),
                    detail=job.reason,
                    campaign_id=job.campaign_id,
                    is_problem=job.status == JobStatus.FAILED,
                )
            )

    def message_events(self, variants: dict[int, int]) -> None:
        messages = self.rows(
            "messages",
            Message.objects.filter(tenant=self.tenant, contact=self.contact)
            .order_by("-created_at", "-id")
            .prefetch_related(
                Prefetch(
                    "events",
                    queryset=ProviderEvent.objects.filter(tenant=self.tenant, kind=EventKind.STATUS).order_by(
                        "received_at", "id"
                    ),
                )
            ),
        )
        for message in messages:
            if message.kind == MessageKind.INBOUND:
                self.inbound_event(message)
                continue
            status = MessageStatus(message.status).label if message.status in MessageStatus.values else message.status
            if message.kind == MessageKind.REPLY:
                kind, title = "message.reply", "Automatic reply sent"
            elif message.kind == MessageKind.CONVERSATION:
                kind, title = "message.conversation", "Reply sent from the Inbox"
            else:
                kind, title = "message.campaign", "Campaign message sent"
                if message.id in variants:
                    title += f" (variant {variants[message.id] + 1})"
            self.add(
                Event(
                    at=message.handed_off_at or message.created_at,
                    kind=kind,
                    title=title,
                    detail=_join(f"Now: {status}", error_meaning(message.error_code), message.error_message),
                    campaign_id=message.campaign_id,
                    is_problem=message.status in PROBLEM_STATUSES or bool(message.error_code),
                    body=message.body,
                )
            )
            best = 0
            for report in message.events.all():
                rank = _REPORT_RANK.get(report.status, 0)
                late = rank < best
                best = max(best, rank)
                self.add(
                    Event(
                        at=report.received_at,
                        kind="message.status",
                        title=f"Provider reported {report.status}",
                        detail=_join(
                            error_meaning(report.error_code),
                            "arrived after a later report: it changed nothing" if late else "",
                        ),
                        campaign_id=message.campaign_id,
                        is_problem=report.status in FAILED_REPORTS or bool(report.error_code),
                    )
                )

    def inbound_event(self, message: Message) -> None:
        intent, matched = message.intent, message.matched
        if intent == Intent.OPT_OUT:
            kind, title = "inbound.opt_out", f"Opted out by text ({matched or 'STOP'})"
        elif intent == Intent.OPT_OUT_PHRASE:
            kind, title = "inbound.opt_out", f"Opted out in other words (matched “{matched}”)"
        elif intent == Intent.OPT_IN:
            kind, title = "inbound.opt_in", f"Opted back in by text ({matched or 'START'})"
        elif intent == Intent.HELP:
            kind, title = "inbound.help", "Asked for help by text"
        else:
            kind, title = "inbound.reply", "Text received"
        self.add(
            Event(
                at=message.status_at or message.created_at,  # when the provider gave it to us
                kind=kind,
                title=title,
                campaign_id=message.campaign_id,
                is_warning=kind == "inbound.opt_out",
                body=message.body,
            )
        )

    def click_events(self) -> None:
        clicks = self.rows(
            "clicks",
            Click.objects.filter(tenant=self.tenant, contact_id=self.contact.id)
            .select_related("link")
            .order_by("-at", "-id"),
        )
        for click in clicks:
            if click.is_human:
                title = "Link opened"
            else:
                reason = ClickReason(click.reason).label if click.reason in ClickReason.values else "bot"
                title = f"Link fetched by a machine, not counted: {reason}"
            self.add(
                Event(
                    at=click.at,
                    kind="click",
                    title=title,
                    detail=_join(click.link.destination, click.method if click.method != "GET" else ""),
                    campaign_id=click.campaign_id if click.campaign_id is not None else click.link.campaign_id,
                )
            )


def _dnc_reason(value: str) -> str:
    return DncReason(value).label if value in DncReason.values else value
