"""A pretend provider for demos and development (the default of `make run`).

It accepts every message at once and gives it a Twilio-like id, keeps a log of what it
accepted (so a crashed hand-off can be reconciled, as with a provider that has an API for
it), and later reports delivery the way Twilio would: signed status callbacks through our own
webhook, over HTTP to PUBLIC_BASE_URL when a server runs, or in-process otherwise. The final
statuses follow SMS_SIMULATOR_MIX (e.g. "delivered=90,undelivered=5,failed=5"), chosen by
the message id's hash so a message always ends the same way.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction

from messaging.backends.base import (
    LookupResult,
    OutboundSMS,
    Outcome,
    SendResult,
    SmsBackend,
    StatusAnswer,
    StatusLookup,
)

# Error codes the simulator reports with each failing final status (Twilio's meanings).
FAILURE_CODES = {"undelivered": ("30003", "30005", "30006"), "failed": ("30007", "30008")}


def log_path() -> Path:
    return Path(settings.SMS_SIMULATOR_LOG)


def parse_mix(text: str) -> list[tuple[str, int]]:
    mix = []
    for part in text.split(","):
        status, _, weight = part.strip().partition("=")
        if status not in ("delivered", "undelivered", "failed") or not weight.strip().isdigit():
            raise ValueError(f"SMS_SIMULATOR_MIX: {part.strip()!r} is not delivered|undelivered|failed=<weight>")
        mix.append((status, int(weight)))
    if not sum(weight for _, weight in mix):
        raise ValueError("SMS_SIMULATOR_MIX: the weights add up to 0")
    return mix


def final_status(provider_id: str, mix: list[tuple[str, int]]) -> tuple[str, str]:
    """The final status and error code the simulator reports for a message, stable per id."""
    digest = int.from_bytes(hashlib.sha256(provider_id.encode()).digest()[:8], "big")
    point = digest % sum(weight for _, weight in mix)
    for status, weight in mix:
        if point < weight:
            codes = FAILURE_CODES.get(status)
            return status, codes[digest % len(codes)] if codes else ""
        point -= weight
    raise AssertionError("unreachable")


class SimulatorBackend(SmsBackend):
    name = "simulator"
    can_lookup = True

    def send(self, messages: Sequence[OutboundSMS]) -> list[SendResult]:
        results, lines, callbacks = [], [], []
        for sms in messages:
            provider_id = "SM" + uuid.uuid4().hex
            results.append(SendResult(sms.reference, Outcome.ACCEPTED, provider_id=provider_id, status="queued"))
            lines.append(f"{sms.reference} {provider_id}\n")
            if sms.status_callback:
                callbacks.append([provider_id, sms.account.account_sid, sms.sender, sms.to, sms.status_callback])
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        # One append per batch: O_APPEND keeps lines of concurrent processes whole.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, "".join(lines).encode())
        finally:
            os.close(fd)
        mode = settings.SMS_SIMULATOR_CALLBACKS
        if callbacks and mode != "off":
            from messaging.tasks import simulator_deliver

            delay = settings.SMS_SIMULATOR_CALLBACK_DELAY
            transaction.on_commit(lambda: simulator_deliver.apply_async(args=[callbacks], countdown=delay))
        return results

    def statuses(self, lookups: Sequence[StatusLookup]) -> dict[str, StatusAnswer]:
        """The simulator's final status of each message in its log (one read of the log for all)."""
        wanted = {lookup.provider_id for lookup in lookups}
        mix = parse_mix(settings.SMS_SIMULATOR_MIX)
        found: dict[str, StatusAnswer] = {}
        try:
            with log_path().open() as log:
                for line in log:
                    parts = line.split()
                    if len(parts) == 2 and parts[1] in wanted:
                        status, code = final_status(parts[1], mix)
                        found[parts[1]] = StatusAnswer(status, code)
        except OSError:
            return {}
        return found

    def lookup(self, message: OutboundSMS) -> LookupResult | None:
        """Our reference in the log of accepted messages: found, proved absent, or None.

        Absence proves something only when the log could be read and was written after the
        message was decided (the process asking reads the same log the senders write). A log
        that is missing, unreadable or older than the decision is no evidence: "cannot tell".
        """
        path = log_path()
        wanted = message.reference + " "
        try:
            written_at = path.stat().st_mtime
            with path.open() as log:
                for line in log:
                    if line.startswith(wanted):
                        return LookupResult(found=True, provider_id=line.split()[1], status="queued")
        except OSError:
            return None
        if message.decided_at is None or written_at < message.decided_at:
            return None
        return LookupResult(found=False)
