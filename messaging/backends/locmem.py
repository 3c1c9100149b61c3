"""In-memory backend for tests: an outbox list, and scripted answers per recipient.

from messaging.backends import locmem
locmem.outbox            # every OutboundSMS handed over, in order
locmem.script["+61412000001"] = locmem.reject("21610", consequence=Consequence.DO_NOT_CONTACT)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from messaging.backends.base import (
    Consequence,
    LookupResult,
    OutboundSMS,
    Outcome,
    SendResult,
    SmsBackend,
    StatusAnswer,
    StatusLookup,
)

outbox: list[OutboundSMS] = []
accepted: dict[str, str] = {}  # our reference → provider id
final_statuses: dict[str, StatusAnswer] = {}  # provider id → what a status look-up answers
script: dict[str, Callable[[OutboundSMS], SendResult]] = {}
_ids = itertools.count(1)


def reset() -> None:
    outbox.clear()
    accepted.clear()
    final_statuses.clear()
    script.clear()


def reject(code: str, *, consequence: Consequence = Consequence.NONE, message: str = "Rejected"):
    return lambda sms: SendResult(
        sms.reference, Outcome.REJECTED, error_code=code, error_message=message, consequence=consequence
    )


def retry(code: str = "20429", *, retry_after: float | None = None, message: str = "Too many requests"):
    return lambda sms: SendResult(
        sms.reference, Outcome.RETRY, error_code=code, error_message=message, retry_after=retry_after
    )


class LocmemBackend(SmsBackend):
    name = "locmem"
    can_lookup = True

    def send(self, messages: Sequence[OutboundSMS]) -> list[SendResult]:
        results = []
        for sms in messages:
            answer = script.get(sms.to)
            if answer is not None:
                results.append(answer(sms))
                continue
            outbox.append(sms)
            provider_id = f"SMLOCMEM{next(_ids):024d}"
            accepted[sms.reference] = provider_id
            results.append(SendResult(sms.reference, Outcome.ACCEPTED, provider_id=provider_id, status="queued"))
        return results

    def lookup(self, message: OutboundSMS) -> LookupResult:
        provider_id = accepted.get(message.reference)
        return LookupResult(found=provider_id is not None, provider_id=provider_id or "", status="queued")

    def statuses(self, lookups: Sequence[StatusLookup]) -> dict[str, StatusAnswer]:
        return {
            lookup.provider_id: final_statuses[lookup.provider_id]
            for lookup in lookups
            if lookup.provider_id in final_statuses
        }
