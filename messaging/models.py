"""Provider accounts, sending numbers, prices, messages, spend and pacing counters."""

import uuid
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from contacts.models import Contact
from contacts.phones import normalize_phone
from messaging.conversation_models import Conversation, Direction, SavedReply  # noqa: F401 - re-exported
from messaging.keywords import Intent
from smscrm.crypto import EncryptedTextField
from tenants.models import Tenant
from tenants.money import format_aud


class Provider(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    SIMULATOR = "simulator", "Simulator"


class ProviderAccount(models.Model):
    """A provider (sub)account a tenant sends through.

    Webhooks name the account (Twilio's AccountSid); its auth token validates their signature.
    The token is a secret: stored encrypted (or, left empty, read from TWILIO_AUTH_TOKENS in
    the environment), never shown back in full, logged or exported.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="provider_accounts")
    provider = models.CharField(max_length=12, choices=Provider.choices, default=Provider.TWILIO)
    label = models.CharField(max_length=80, blank=True)
    account_sid = models.CharField(max_length=64, unique=True)
    auth_token = EncryptedTextField(blank=True, help_text="Empty: taken from TWILIO_AUTH_TOKENS.")
    is_active = models.BooleanField(default=True)
    # Requests in flight at once through this account, across every worker (messaging.handoff).
    # Twilio answers 429 past its account limit (100 unless Twilio raised it for the account).
    max_concurrent_requests = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Provider requests in flight at once, across all workers (Twilio allows 100 by default).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_concurrent_requests__gte=1), name="provideraccount_concurrency_positive"
            )
        ]

    def __str__(self) -> str:
        return self.label or f"{self.get_provider_display()} {self.account_sid[:6]}…"

    def clean(self) -> None:
        super().clean()
        limit = settings.TWILIO_MAX_CONCURRENT_REQUESTS
        if self.max_concurrent_requests and self.max_concurrent_requests > limit:
            message = f"At most {limit}, the provider's limit (TWILIO_MAX_CONCURRENT_REQUESTS)."
            raise ValidationError({"max_concurrent_requests": message})

    @property
    def credentials(self):
        from messaging.backends.base import ProviderCredentials

        return ProviderCredentials(
            account_sid=self.account_sid,
            auth_token=self.token,
            max_concurrent=min(self.max_concurrent_requests, settings.TWILIO_MAX_CONCURRENT_REQUESTS),
        )

    @property
    def token(self) -> str:
        """The auth token: the stored one, else the environment's for this account ("" if none)."""
        return self.auth_token or settings.TWILIO_AUTH_TOKENS.get(self.account_sid, "")

    @property
    def token_hint(self) -> str:
        """What may be shown about the token: whether it is set, and its last four characters."""
        if self.auth_token:
            return f"Set (ends …{self.auth_token[-4:]})" if len(self.auth_token) >= 12 else "Set"
        if self.account_sid in settings.TWILIO_AUTH_TOKENS:
            return "From TWILIO_AUTH_TOKENS in the environment"
        return "Not set"


class SenderKind(models.TextChoices):
    NUMBER = "number", "Phone number"
    ALPHA = "alpha", "Alphanumeric sender ID"


class SenderIdStatus(models.TextChoices):
    """ACMA Sender ID Register status of an alphanumeric sender (numbers: not applicable)."""

    NOT_APPLICABLE = "n/a", "Not applicable (phone number)"
    REGISTERED = "registered", "Registered"
    PENDING = "pending", "Registration pending"
    UNREGISTERED = "unregistered", "Not registered"


DEFAULT_WARMUP_CURVE = [50, 100, 200, 300]

sender_validator = RegexValidator(
    r"^(\+[1-9]\d{6,14}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11})$",
    "Use an E.164 number (+61412345678) or an alphanumeric sender ID of up to 11 letters, digits and spaces "
    "with at least one letter.",
)


WARMUP_CURVE_MAX_DAYS = 30


def default_warmup_curve() -> list[int]:
    return list(DEFAULT_WARMUP_CURVE)


class SendingNumber(models.Model):
    """A number or alphanumeric sender ID a tenant sends from.

    Warmup: on day N after ``warmup_started_on`` (the tenant's local days) the sender may hand
    at most ``warmup_curve[N]`` messages to the provider, the last value applying from then on.

    Invariants (``clean``, so the services, the pages and the admin agree): a number is stored in
    E.164 (any way of writing it is accepted) and has no ACMA status; an alphanumeric ID has at
    least one letter and says where it stands on ACMA's Sender ID Register (only a registered one
    may launch campaigns); the account is the tenant's own; the warmup curve is 1 to 30 daily
    caps, none negative.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sending_numbers")
    account = models.ForeignKey(ProviderAccount, on_delete=models.PROTECT, related_name="sending_numbers")
    sender = models.CharField(max_length=16, validators=[sender_validator], help_text="E.164 number or sender ID.")
    kind = models.CharField(max_length=6, choices=SenderKind.choices, default=SenderKind.NUMBER)
    sender_id_status = models.CharField(
        "ACMA Sender ID Register status",
        max_length=12,
        choices=SenderIdStatus.choices,
        default=SenderIdStatus.NOT_APPLICABLE,
    )
    is_active = models.BooleanField(default=True)
    warmup_started_on = models.DateField(default=date.today)
    messages_per_second = models.PositiveSmallIntegerField(default=10)
    warmup_curve = models.JSONField(default=default_warmup_curve, help_text="Daily caps: day 0, day 1, …")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "sender"], name="sender_unique_per_tenant"),
            models.CheckConstraint(condition=models.Q(messages_per_second__gte=1), name="sender_mps_positive"),
        ]

    def __str__(self) -> str:
        return self.sender

    def clean_fields(self, exclude=None):
        # Normalise before the field validators run, so "0485 000 078" is stored as +61485000078
        # rather than refused for not being E.164 yet.
        self.sender = " ".join((self.sender or "").split())
        if self.kind == SenderKind.NUMBER:
            self.sender_id_status = SenderIdStatus.NOT_APPLICABLE
            if self.sender and not any(char.isalpha() for char in self.sender):
                self.sender = normalize_phone(self.sender).e164 or self.sender
        super().clean_fields(exclude=exclude)

    def clean(self):
        errors: dict[str, list[str]] = {}
        if self.account_id and self.tenant_id and self.account.tenant_id != self.tenant_id:
            errors.setdefault("account", []).append("Unknown provider account.")
        errors.update(self._sender_errors())
        if isinstance(self.messages_per_second, int) and self.messages_per_second < 1:
            errors["messages_per_second"] = ["At least 1 message per second."]
        curve = self.warmup_curve
        if not isinstance(curve, list) or not 1 <= len(curve) <= WARMUP_CURVE_MAX_DAYS:
            got = len(curve) if isinstance(curve, list) else "no list"
            errors["warmup_curve"] = [f"Give between 1 and {WARMUP_CURVE_MAX_DAYS} daily caps; got {got}."]
        elif any(isinstance(cap, bool) or not isinstance(cap, int) or cap < 0 for cap in curve):
            errors["warmup_curve"] = ["Every daily cap must be a whole number, 0 or more."]
        if (
            "sender" not in errors
            and self.tenant_id
            and SendingNumber.objects.filter(tenant_id=self.tenant_id, sender=self.sender).exclude(pk=self.pk).exists()
        ):
            errors["sender"] = [f"{self.sender} is one of this business's senders already."]
        if errors:
            raise ValidationError(errors)

    def _sender_errors(self) -> dict[str, list[str]]:
        has_letter = any(char.isalpha() for char in self.sender or "")
        if self.kind == SenderKind.NUMBER:
            if has_letter:
                return {"sender": ["This is an alphanumeric sender ID: choose the kind “Alphanumeric sender ID”."]}
            if not (self.sender or "").startswith("+"):  # clean_fields could not read it as a number
                return {"sender": [f"{self.sender!r} is not a phone number."]}
        elif self.kind == SenderKind.ALPHA:
            errors = {}
            if not has_letter:
                errors["sender"] = [
                    "An alphanumeric sender ID needs at least one letter; for a number choose the kind “Phone number”."
                ]
            if self.sender_id_status == SenderIdStatus.NOT_APPLICABLE:
                errors["sender_id_status"] = ["Say where this sender ID stands on ACMA's Sender ID Register."]
            return errors
        else:
            return {"kind": ["Choose a phone number or an alphanumeric sender ID."]}
        return {}

    @property
    def can_launch(self) -> bool:
        """An alphanumeric sender must be on ACMA's register before a campaign uses it."""
        return self.is_active and (self.kind == SenderKind.NUMBER or self.sender_id_status == SenderIdStatus.REGISTERED)

    def daily_cap(self, local_day: date) -> int:
        curve = self.warmup_curve or DEFAULT_WARMUP_CURVE
        age = (local_day - self.warmup_started_on).days
        if age < 0:
            return 0
        return int(curve[min(age, len(curve) - 1)])


class Price(models.Model):
    """What one segment costs a tenant, in integer cents, from a date on (the latest applies)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="prices")
    provider = models.CharField(max_length=12, choices=Provider.choices, default=Provider.TWILIO)
    country = models.CharField(max_length=2, default="AU", help_text="ISO 3166 code of the recipient's country.")
    cents_per_segment = models.PositiveIntegerField()
    effective_from = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "provider", "country", "effective_from"], name="price_unique_per_day"
            )
        ]
        ordering = ["-effective_from"]

    def __str__(self) -> str:
        since = self.effective_from
        since = f"{since.day} {since:%b %Y}" if isinstance(since, date) else since
        return f"{format_aud(self.cents_per_segment)} per segment to {self.country} from {since}"


class MessageStatus(models.TextChoices):
    """A message's life, and how the provider's status words map onto it.

    Outbound::

        sending ──► queued ──► sent ──► failed < undelivered < delivered
           │          (provider: queued, accepted, scheduled, sending)
           ├──► rejected   (refused at hand-off: nothing sent, nothing charged)
           └──► unknown    (a worker died mid hand-off and the provider cannot tell)

    ``sending`` is ours: committed, budget reserved, before the provider call. The provider's
    ``queued``, ``accepted``, ``scheduled`` and ``sending`` all mean "at the provider" (queued);
    ``read`` counts as delivered, ``partially_delivered`` as delivered (the handset got some of
    it), ``canceled`` as failed. Every report is ranked and a message only moves up the ranks:
    queued 1 < sent 2 < failed 3 < undelivered 4 < delivered 5. Callbacks arrive out of order
    and twice, so a late ``sent`` never overwrites ``delivered`` and the final state is the
    highest report received whatever the order (a delivery receipt is the strongest evidence).
    Each report is kept, with its time, as a ProviderEvent in the message's history.

    A person's reply (kind ``conversation``) may wait out quiet hours: ``scheduled`` (budget reserved) until
    ``scheduled_for``, then ``sending``; or ``cancelled`` by staff first (nothing sent, reservation given back).

    Inbound: ``received``.
    """

    SENDING = "sending", "Sending"
    QUEUED = "queued", "Queued at provider"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    UNDELIVERED = "undelivered", "Undelivered"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected by provider"
    UNKNOWN = "unknown", "Unknown (needs a person)"
    RECEIVED = "received", "Received"
    SCHEDULED = "scheduled", "Scheduled"
    CANCELLED = "cancelled", "Cancelled"


class MessageKind(models.TextChoices):
    CAMPAIGN = "campaign", "Campaign"
    REPLY = "reply", "Automatic reply"  # our answer to STOP, START or HELP (TwiML)
    INBOUND = "inbound", "Inbound"
    CONVERSATION = "conversation", "Reply by staff"  # a person's answer in a conversation


PENDING_REPLY = models.Q(kind="conversation", status__in=["sending", "scheduled"])


class Message(models.Model):
    """One SMS to or from a contact (or a stranger who texted us), in its conversation when it has one."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="messages", db_index=False)
    reference = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, related_name="messages", db_index=False)
    sending_number = models.ForeignKey(
        SendingNumber, on_delete=models.PROTECT, null=True, related_name="messages", db_index=False
    )
    # The campaign an outbound message belongs to; for an inbound one, the campaign whose message
    # reached that number last (within INBOUND_ATTRIBUTION_DAYS), to which it is attributed.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", db_index=False
    )
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.CAMPAIGN)
    to_phone = models.CharField(max_length=16)
    from_sender = models.CharField(max_length=16)
    body = models.TextField()
    encoding = models.CharField(max_length=5, default="GSM-7")
    segments = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.SENDING)
    provider_id = models.CharField(max_length=64, blank=True)
    dedupe_key = models.CharField(
        max_length=40, blank=True, help_text="At most one live message per key, e.g. one per campaign and contact."
    )
    error_code = models.CharField(max_length=10, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    cost_cents = models.PositiveIntegerField(default=0, help_text="Reserved estimate: segments × price.")
    provider_price_cents = models.IntegerField(null=True, blank=True, help_text="What the provider charged.")
    created_at = models.DateTimeField(auto_now_add=True)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(
        null=True, blank=True, help_text="From the carrier's receipt (RawDlrDoneDate) when given, else its arrival."
    )
    # Inbound only: what the text asked for, the keyword or phrase that matched, and whether
    # staff have read it in the inbox.
    # Database defaults too: the dispatcher's bulk INSERT names only the columns it sets.
    intent = models.CharField(max_length=16, choices=Intent.choices, blank=True, default="", db_default="")
    matched = models.CharField(max_length=100, blank=True, default="", db_default="")
    read_at = models.DateTimeField(null=True, blank=True)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", db_index=False
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)  # a scheduled reply goes at this instant

    class Meta:
        constraints = [
            # Per tenant, as every look-up by provider id is: another tenant's account cannot squat
            # a MessageSid of ours (an inbound text with that sid would have failed to store).
            models.UniqueConstraint(
                fields=["tenant", "provider_id"],
                condition=~models.Q(provider_id=""),
                name="message_provider_id_unique_per_tenant",
            ),
            # The database itself refuses a second live message for the same campaign and contact.
            models.UniqueConstraint(
                fields=["tenant", "dedupe_key"],
                condition=~models.Q(dedupe_key="") & ~models.Q(status="rejected"),
                name="message_dedupe_unique",
            ),
        ]
        indexes = [
            # A contact's messages, newest first (timelines, sticky sender; deleting a contact).
            models.Index(fields=["contact", "-created_at"], name="message_contact_created"),
            models.Index(fields=["tenant", "-created_at"], name="message_tenant_created"),
            # A campaign's messages (analytics). Not (campaign, status): an indexed status would
            # make each of a message's three status changes rewrite every index of the row.
            models.Index(fields=["campaign"], name="message_campaign", condition=models.Q(campaign__isnull=False)),
            # Messages handed over in a time range: the sweep that asks the provider for final
            # statuses it never reported (messaging.statuses). handed_off_at is set once, with
            # the provider id (already indexed), so this costs no extra rewrite per status change.
            models.Index(
                fields=["handed_off_at", "id"],
                condition=models.Q(handed_off_at__isnull=False),
                name="message_handed_off",
            ),
            # The inbox: a tenant's inbound texts, newest first.
            models.Index(fields=["tenant", "-created_at"], condition=models.Q(kind="inbound"), name="message_inbox"),
            # The unread ones: the nav's count on every page and the inbox's default view, over
            # the unread texts only. read_at changes only when staff mark inbound texts.
            models.Index(
                fields=["tenant", "-created_at"],
                condition=models.Q(kind="inbound", read_at__isnull=True),
                name="message_inbox_unread",
            ),
            # Opt-outs and replies attributed to a campaign (its page, the inbox's campaign
            # filter) without reading the campaign's outbound messages.
            models.Index(
                fields=["campaign", "intent"],
                condition=models.Q(kind="inbound", campaign__isnull=False),
                name="message_campaign_inbound",
            ),
            # Messages carriers filtered as content (Twilio 30007), counted on the campaign page.
            # Rare, so tiny; error_code is set once, on a failure, never on the delivered path.
            models.Index(fields=["campaign"], condition=models.Q(error_code="30007"), name="message_content_filtered"),
            models.Index(fields=["conversation", "created_at"], name="message_conversation"),  # a thread, in order
            # Replies waiting for their hand-off or their instant (the sweep); few at any time.
            models.Index(fields=["scheduled_for"], condition=PENDING_REPLY, name="message_reply_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.to_phone} ({self.status})"


class SpendPeriod(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class Spend(models.Model):
    """Cents committed (reserved or charged) in one of a tenant's local days or months.

    Reserved atomically, under a row lock, before the provider call; released when the send
    fails without charge; corrected when the provider reports its price.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.CharField(max_length=5, choices=SpendPeriod.choices)
    starts_on = models.DateField(help_text="The local day, or the first day of the local month.")
    cents = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "period", "starts_on"], name="spend_unique_per_period")
        ]


class SenderDailyCount(models.Model):
    """Messages a sender handed to the provider in one of the tenant's local days (for warmup)."""

    sending_number = models.ForeignKey(SendingNumber, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sending_number", "day"], name="sender_count_unique_per_day")]


class RateLimitState(models.Model):
    """Pacing state of one rate-limit key when no Redis is configured (see messaging.ratelimit)."""

    key = models.CharField(max_length=100, primary_key=True)
    tat = models.FloatField(default=0.0, help_text="Theoretical arrival time of the next message (epoch seconds).")


class EventKind(models.TextChoices):
    STATUS = "status", "Status callback"
    INBOUND = "inbound", "Inbound message"


class ProviderEvent(models.Model):
    """One webhook the provider sent us, kept as it came, once.

    Keyed by (account, MessageSid, MessageStatus) for status callbacks and by (account,
    MessageSid) for inbound messages (status "inbound"), so a replay inserts nothing and changes
    nothing. The account is the one whose token signed the webhook: another account's callbacks,
    whatever MessageSid they name, can never pre-empt ours as "replays". The events of
    a message, by ``received_at``, are its history. A status callback that arrives before the
    dispatcher has recorded the message's provider id waits here unapplied (``message`` empty)
    until the dispatcher or the sweeper links and applies it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Null only on events stored before events were keyed by account.
    account = models.ForeignKey(
        ProviderAccount, on_delete=models.CASCADE, null=True, blank=True, related_name="+", db_index=False
    )
    kind = models.CharField(max_length=8, choices=EventKind.choices)
    message_sid = models.CharField(max_length=64)
    status = models.CharField(max_length=24)
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, null=True, blank=True, related_name="events", db_index=False
    )
    error_code = models.CharField(max_length=10, blank=True)
    done_at = models.DateTimeField(null=True, blank=True, help_text="RawDlrDoneDate, read as UTC.")
    applied = models.BooleanField(default=False)
    received_at = models.DateTimeField()
    params = models.JSONField(default=dict, help_text="Every parameter posted (the signature covered them all).")

    class Meta:
        ordering = ["received_at", "id"]  # a message's history reads oldest first
        constraints = [
            models.UniqueConstraint(
                fields=["account", "message_sid", "status"], name="provider_event_once_per_account"
            ),
        ]
        indexes = [
            models.Index(fields=["message", "received_at"], name="provider_event_history"),
            models.Index(fields=["received_at"], condition=models.Q(applied=False), name="provider_event_unapplied"),
        ]

    def __str__(self) -> str:
        return f"{self.message_sid} {self.status}"


class StatusSweep(models.Model):
    """How far each pass of the final-status look-up has read (messaging.statuses): the hand-off
    time and id of the last message it considered. One row per pass; only that sweep writes it."""

    name = models.CharField(max_length=40, primary_key=True)
    handed_off_at = models.DateTimeField()
    message_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}: {self.handed_off_at:%Y-%m-%d %H:%M}"
