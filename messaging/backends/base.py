"""The provider interface: what the dispatcher hands over and what it gets back.

A backend is chosen by the SMS_BACKEND setting, like Django's EMAIL_BACKEND: an alias
(``twilio``, ``simulator``, ``locmem``) or a dotted path to a class. Backends never touch
the database; the dispatcher records what they report.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string

ALIASES = {
    "twilio": "messaging.backends.twilio.TwilioBackend",
    "simulator": "messaging.backends.simulator.SimulatorBackend",
    "locmem": "messaging.backends.locmem.LocmemBackend",
}


@dataclass(frozen=True)
class ProviderCredentials:
    """The (sub)account a message is sent through; the auth token never reaches a log."""

    account_sid: str
    auth_token: str = field(repr=False)
    # Requests in flight at once through this account, across every worker (messaging.handoff).
    max_concurrent: int = 50


@dataclass(frozen=True)
class OutboundSMS:
    """One message to hand to the provider.

    ``reference`` is our own id for the message (the Message row's uuid); a provider that can
    look messages up by a reference of ours uses it to reconcile after a crash.
    """

    reference: str
    to: str
    sender: str
    body: str
    account: ProviderCredentials
    status_callback: str = ""
    validity_period: int | None = None
    # When the message was decided (epoch seconds): a look-up needs evidence from after it.
    decided_at: float | None = None


class Outcome(enum.StrEnum):
    ACCEPTED = "accepted"  # the provider took the message; provider_id is set
    REJECTED = "rejected"  # permanent for this message: never retry it
    RETRY = "retry"  # not taken, safe to try again later (429, 5xx, network)


class Consequence(enum.StrEnum):
    """What a rejection means for the contact, beyond this one message."""

    NONE = ""
    DO_NOT_CONTACT = "dnc"  # e.g. Twilio 21610: the recipient replied STOP to this sender
    UNDELIVERABLE = "undeliverable"  # e.g. Twilio 21211/21614: invalid or not a mobile


@dataclass(frozen=True)
class SendResult:
    reference: str
    outcome: Outcome
    provider_id: str = ""
    status: str = ""  # the provider's own status word, e.g. "queued"
    error_code: str = ""
    error_message: str = ""
    consequence: Consequence = Consequence.NONE
    retry_after: float | None = None  # seconds, when the provider said how long to wait
    price_cents: int | None = None  # when the provider reports a price at once
    # The provider's count of this account's requests in flight when it took this one
    # (Twilio's Twilio-Concurrent-Requests header), when it said.
    concurrent_requests: int | None = None

    @property
    def rate_limited(self) -> bool:
        """Refused for too many requests at once (HTTP 429 / Twilio 20429): never reached the provider."""
        return self.outcome == Outcome.RETRY and self.error_code in ("429", "20429")


@dataclass(frozen=True)
class StatusLookup:
    """A message the provider accepted, whose final status we ask for."""

    provider_id: str
    account: ProviderCredentials


@dataclass(frozen=True)
class StatusAnswer:
    """What the provider says a message's status is now (its own word, e.g. "delivered")."""

    status: str
    error_code: str = ""


@dataclass(frozen=True)
class LookupResult:
    """What the provider knows of a message we may or may not have handed over."""

    found: bool
    provider_id: str = ""
    status: str = ""


class SmsBackend:
    """Base class. Subclasses implement ``send``; ``lookup`` is optional."""

    name = "base"
    #: True when ``lookup`` can tell for sure whether a reference reached the provider.
    can_lookup = False
    #: True when the backend has ``send_async``: the dispatcher then keeps many calls in flight
    #: (messaging.handoff), bounded per provider account across every worker.
    concurrent = False

    async def send_async(self, message: OutboundSMS) -> SendResult:
        """Hand one message over without blocking the event loop (concurrent backends)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let go of what ``send_async`` opened (its HTTP sessions), on the same event loop."""

    def engine_key(self):
        """Backends with equal keys may share one hand-off engine (its event loop and sessions)."""
        return id(self)

    def send(self, messages: Sequence[OutboundSMS]) -> list[SendResult]:
        """Hand the messages over, in order; one result per message, in the same order."""
        raise NotImplementedError

    def lookup(self, message: OutboundSMS) -> LookupResult | None:
        """Find a message by our reference; None when this provider cannot tell.

        ``found=False`` is proof that the provider never received it (the reconciler then sends
        it again), so a backend answers it only from evidence it could read and that covers the
        time since ``message.decided_at``; anything less is None ("cannot tell" → unknown).
        """
        return None

    def statuses(self, lookups: Sequence[StatusLookup]) -> dict[str, StatusAnswer]:
        """The current status of messages it accepted, by provider id (those it could tell)."""
        return {}

    def fetch_price(self, *, provider_id: str, account: ProviderCredentials) -> int | None:
        """What the provider charged for a message, in positive integer cents; None while unknown."""
        return None


def get_backend(name: str | None = None, **options) -> SmsBackend:
    path = name or settings.SMS_BACKEND
    cls = import_string(ALIASES.get(path, path))
    return cls(**options)
