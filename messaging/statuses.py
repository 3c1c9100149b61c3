"""Final statuses the provider never reported: asked for, so reports and the pilot check stay true.

A status callback can be lost: it met a database outage and the provider gave up retrying, or a
simulator report queued in Redis died with it. Nothing would ever ask again, and the message
would stay ``queued`` or ``sent`` for good. ``statuses_look_up`` (beat, every 5 minutes) asks the
provider for the status of messages handed over more than MESSAGE_STATUS_LOOKUP_AFTER_SECONDS
ago (default 2 h) and still not final, and once more a day after their hand-off; each answer is
recorded exactly as a callback would be (a ProviderEvent of the signing account, marked
``_source: lookup``), so a callback arriving later is a replay and nothing is counted twice.

Each pass reads the messages in hand-off order from where it stopped (a ``StatusSweep`` row), a
bounded number per run: every message is read at most once per pass, whatever the table's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from messaging import events
from messaging.backends.base import SmsBackend, StatusLookup
from messaging.models import Message, MessageKind, MessageStatus, StatusSweep

# Messages read per pass and run, and looked up at most (the provider's API is asked once each).
SCAN = 5_000
LOOKUPS = 500
NOT_FINAL = (MessageStatus.QUEUED, MessageStatus.SENT)


@dataclass(frozen=True)
class Pass:
    name: str
    after: dt.timedelta


def passes() -> tuple[Pass, ...]:
    first = dt.timedelta(seconds=settings.MESSAGE_STATUS_LOOKUP_AFTER_SECONDS)
    return (Pass("first", first), Pass("day-later", max(first, dt.timedelta(days=1))))


def statuses_look_up(*, backend: SmsBackend, now: dt.datetime | None = None) -> dict[str, int]:
    """One run of every pass; counts of messages read, asked about and moved."""
    now = now or timezone.now()
    counts = {"read": 0, "asked": 0, "answered": 0, "advanced": 0}
    for sweep in passes():
        for key, n in _run_pass(sweep, backend=backend, now=now).items():
            counts[key] += n
    return counts


def _run_pass(sweep: Pass, *, backend: SmsBackend, now: dt.datetime) -> dict[str, int]:
    until = now - sweep.after
    cursor = StatusSweep.objects.filter(name=sweep.name).first()
    # A first run starts a day back, not at the beginning of history.
    since, since_id = (cursor.handed_off_at, cursor.message_id) if cursor else (until - dt.timedelta(days=1), 0)
    rows = list(
        Message.objects.filter(handed_off_at__isnull=False, handed_off_at__lte=until)
        .filter(Q(handed_off_at__gt=since) | Q(handed_off_at=since, id__gt=since_id))
        .order_by("handed_off_at", "id")
        .values_list("id", "handed_off_at", "kind", "status")[:SCAN]
    )
    waiting = [row for row in rows if row[2] == MessageKind.CAMPAIGN and row[3] in NOT_FINAL][:LOOKUPS]
    if len(waiting) == LOOKUPS:  # stop the cursor at the last one asked about: the rest next run
        last = next(i for i, row in enumerate(rows) if row[0] == waiting[-1][0])
        rows = rows[: last + 1]
    counts = {"read": len(rows), "asked": len(waiting), "answered": 0, "advanced": 0}
    if waiting:
        messages = list(
            Message.objects.filter(id__in=[row[0] for row in waiting]).select_related("sending_number__account")
        )
        asked = [m for m in messages if m.provider_id and m.sending_number is not None]
        answers = backend.statuses([StatusLookup(m.provider_id, m.sending_number.account.credentials) for m in asked])
        for message in asked:
            answer = answers.get(message.provider_id)
            if answer is None or not answer.status:
                continue
            counts["answered"] += 1
            params = {
                "MessageSid": message.provider_id,
                "MessageStatus": answer.status,
                "From": message.from_sender,
                "To": message.to_phone,
                "_source": "lookup",
            }
            if answer.error_code:
                params["ErrorCode"] = answer.error_code
            recorded = events.status_callback_record(
                tenant_id=message.tenant_id, account_id=message.sending_number.account_id, params=params, at=now
            )
            counts["advanced"] += recorded.advanced
    if rows:
        with transaction.atomic():
            StatusSweep.objects.update_or_create(
                name=sweep.name, defaults={"handed_off_at": rows[-1][1], "message_id": rows[-1][0]}
            )
    return counts
