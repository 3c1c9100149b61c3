"""Event webhooks: the URLs a tenant subscribes to events, and each event's delivery to each.

See docs/webhooks.md for what receivers get. The delivery engine is ``webhooks.delivery``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone

from smscrm.crypto import EncryptedTextField
from tenants.models import Tenant
from webhooks.addresses import url_parts


class EventType(models.TextChoices):
    """Every event a subscription can ask for (the body's ``type``)."""

    CONTACT_OPTED_OUT = "contact.opted_out", "A number opted out (STOP, or put on the do-not-contact list)"
    CONTACT_OPTED_IN = "contact.opted_in", "A number opted back in (START)"
    MESSAGE_DELIVERED = "message.delivered", "A message was delivered"
    MESSAGE_FAILED = "message.failed", "A message failed or was not delivered"
    MESSAGE_REPLIED = "message.replied", "Someone replied"
    LINK_CLICKED = "link.clicked", "A person clicked a short link (bots and previews never count)"
    CAMPAIGN_COMPLETED = "campaign.completed", "A campaign completed"
    IMPORT_COMPLETED = "import.completed", "A contact import finished"


# A tenant's subscriptions are read on every event it has: a handful, never a table scan.
MAX_SUBSCRIPTIONS_PER_TENANT = 10


class WebhookAction:
    """The audit log's actions of event webhooks (tenants' activity page words them)."""

    CREATED = "webhook.created"
    DELETED = "webhook.deleted"
    DISABLED = "webhook.disabled"
    ENABLED = "webhook.enabled"
    DISABLED_FAILING = "webhook.disabled_failing"
    SENT_AGAIN = "webhook.sent_again"


class DisabledReason(models.TextChoices):
    FAILING = "failing", "Failed for 24 hours"
    BY_ADMIN = "admin", "Disabled by an admin"


class WebhookSubscription(models.Model):
    """A URL that receives a tenant's events of the ``events`` types, signed with ``secret``.

    Lifecycle: active; failing once an attempt fails (``failing_since``, and no attempt before
    ``retry_at``: one delivery at a time probes the URL, with backoff, until one succeeds and
    clears both); disabled automatically once it has failed continuously for 24 hours
    (``disabled_reason`` failing, which the dashboard shows its admins) or by an admin; enabled
    again by an admin. ``secret`` (``whsec_`` + base64) is stored encrypted and shown once, when
    the subscription is created. Deleting a subscription deletes its delivery log.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    secret = EncryptedTextField()
    is_active = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=10, choices=DisabledReason.choices, blank=True)
    failing_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    retry_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # event_emit's one query: the tenant's active subscriptions (usually none).
            models.Index(fields=["tenant"], condition=Q(is_active=True), name="webhooksub_tenant_active"),
            models.Index(fields=["tenant", "-id"], name="webhooksub_tenant_list"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_active=True) | Q(disabled_at__isnull=False), name="webhooksub_disabled_has_time"
            ),
        ]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        errors = {}
        try:
            url_parts(self.url)
        except ValidationError as exc:
            errors["url"] = exc.messages
        if not isinstance(self.events, list) or not self.events:
            errors["events"] = ["Choose at least one event."]
        else:
            unknown = [e for e in self.events if e not in EventType.values]
            if unknown:
                errors["events"] = [f"Unknown event type: {', '.join(map(str, unknown))}."]
            else:
                self.events = [e for e in EventType.values if e in self.events]  # known order, once each
        if errors:
            raise ValidationError(errors)

    @property
    def event_labels(self) -> list[str]:
        return [EventType(e).label for e in self.events if e in EventType.values]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class WebhookDelivery(models.Model):
    """One event for one subscription: the outbox row and its delivery log entry.

    Written in the transaction of the event itself (a broker outage loses nothing), then
    attempted by the ``webhooks.deliver`` task after the commit, or by the ``webhooks.deliver_due``
    sweep. Lifecycle: pending → delivered (a 2xx answer), or retrying (any other answer, a
    timeout, a refused address) with backoff until 24 hours after its first failed attempt
    (``retry_until``) → failed. Disabling its subscription fails its open deliveries; "send
    again" makes any delivery pending once more, with the same ``event_id`` (the body's ``id``
    and the ``webhook-id`` header) so receivers can tell a repeat.

    ``next_attempt_at`` is also the lease of an attempt under way: a claimed delivery is not
    due again until the attempt had ample time to finish (``webhooks.delivery.LEASE``).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    retry_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event_id"], name="webhookdelivery_once_per_sub"),
        ]
        indexes = [
            # The sweep: open deliveries whose next attempt is due.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["pending", "retrying"]),
                name="webhookdelivery_due",
            ),
            # A subscription's delivery log, newest first.
            models.Index(fields=["subscription", "-id"], name="webhookdelivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES
