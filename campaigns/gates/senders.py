"""Gates 7 and 6 for the jobs gates 3-5 let through: a sender with warmup room today (the
contact's last one when it has room), then a rate-limit slot, the tenant's and that sender's."""

from __future__ import annotations

import datetime as dt
import time

from campaigns.gates.facts import BatchFacts, local_midnight_after
from campaigns.gates.verdicts import Verdict
from campaigns.models import Gate, GateOutcome, SendJob
from messaging.models import SendingNumber
from messaging.ratelimit import reserve_slots


def choose_senders(prepared: list, *, facts: BatchFacts) -> tuple[list[tuple[SendJob, SendingNumber]], dict]:
    """Gate 7 for the jobs gates 3-5 let through: a sender with warmup room today, the contact's
    last one when it has room. Returns (job, sender) for those that have one and {job id:
    verdict} for those that wait."""
    senders, now = facts.senders, facts.now
    room = {sender.id: sender.daily_cap(facts.day) - facts.counts.get(sender.id, 0) for sender in senders}
    by_id = {sender.id: sender for sender in senders}
    later_verdict: dict[int, Verdict] = {}
    wanting = []
    for job, contact, _body, _info, _price, verdict, _links in prepared:
        if verdict is not None:
            continue
        if not senders:
            later_verdict[job.id] = Verdict(
                job, Gate.WARMUP, GateOutcome.DEFER, "No active, registered sender.", now + dt.timedelta(minutes=15)
            )
            continue
        preferred = facts.sticky.get(contact.id)
        if preferred not in room or room[preferred] <= 0:
            preferred = max(room, key=lambda sid: (room[sid], -sid))
        if room[preferred] <= 0:
            later_verdict[job.id] = Verdict(
                job,
                Gate.WARMUP,
                GateOutcome.DEFER,
                "Every sender reached today's warmup cap.",
                local_midnight_after(facts.day, facts.zone),
            )
            continue
        room[preferred] -= 1
        wanting.append((job, by_id[preferred]))
    return wanting, later_verdict


def reserve_rate_slots(
    wanting: list[tuple[SendJob, SendingNumber]], *, facts: BatchFacts, later_verdict: dict[int, Verdict]
) -> dict[int, tuple[SendingNumber, float]]:
    """Gate 6: a rate-limit slot (tenant's and sender's) for each job that has a sender; {job id:
    (sender, slot time)}. A job without a slot gets its verdict in ``later_verdict``."""
    slots = {}
    if not wanting:
        return slots
    tenant = facts.tenant
    tenant_key = f"tenant:{tenant.id}"
    rates = {tenant_key: float(tenant.messages_per_second)}
    for _, sender in wanting:
        rates[f"sender:{sender.id}"] = float(sender.messages_per_second)
    # On this worker's clock, read now (the batch may have waited on locks): the one it
    # paces hand-offs by. Workers' clocks are NTP-synced.
    granted = reserve_slots([(tenant_key, f"sender:{sender.id}") for _, sender in wanting], rates, now=time.time())
    for (job, sender), slot in zip(wanting, granted, strict=True):
        if slot.granted:
            slots[job.id] = (sender, slot.at)
        else:
            retry = dt.datetime.fromtimestamp(slot.at, tz=dt.UTC)
            later_verdict[job.id] = Verdict(
                job,
                Gate.RATE_LIMIT,
                GateOutcome.DEFER,
                f"Rate limit ({tenant.messages_per_second}/s tenant, {sender.messages_per_second}/s {sender}).",
                retry,
            )
    return slots
