"""What the gates decide for a batch (``BatchDecision``): a verdict for each job they stop,
and for each job that goes the message row to write and the request to hand the provider."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from campaigns.models import SendJob
from contacts.models import Contact
from messaging.backends.base import OutboundSMS
from messaging.models import MessageStatus, SendingNumber


@dataclass
class Verdict:
    job: SendJob
    gate: str
    outcome: str
    reason: str
    next_attempt_at: dt.datetime | None = None


@dataclass
class PendingMessage:
    """A campaign Message row about to be written (a model instance costs more to build)."""

    tenant_id: int
    contact_id: int
    campaign_id: int
    sending_number_id: int
    to_phone: str
    from_sender: str
    body: str
    encoding: str
    segments: int
    cost_cents: int
    dedupe_key: str
    reference: uuid.UUID = field(default_factory=uuid.uuid4)
    id: int | None = None
    status: str = MessageStatus.SENDING
    provider_id: str = ""
    error_code: str = ""
    error_message: str = ""
    links: list = field(default_factory=list)  # links.services.PendingLink, stored with the message

    @property
    def pk(self) -> int | None:
        return self.id


@dataclass
class Going:
    job: SendJob
    contact: Contact
    sender: SendingNumber
    message: PendingMessage
    outbound: OutboundSMS
    slot: float


@dataclass
class BatchDecision:
    day: dt.date
    month: dt.date
    stopped: list[Verdict] = field(default_factory=list)
    going: list[Going] = field(default_factory=list)
    price_reports: list = field(default_factory=list)
    locked: bool = True
    sender_caps: dict[int, int] = field(default_factory=dict)
