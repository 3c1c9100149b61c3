"""Templates with variants, campaigns, and the send jobs the dispatcher works through."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from contacts.models import Contact
from messaging.models import Message
from tenants.models import Tenant


class Template(models.Model):
    """A message a tenant sends, in one or more variants that campaigns rotate through."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="template_name_unique_per_tenant")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """One body of a template. Placeholders are checked when it is saved (campaigns.rendering)."""

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveSmallIntegerField(default=0)
    body = models.TextField(max_length=1600)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.template} #{self.position + 1}"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class CampaignQuerySet(models.QuerySet):
    def update(self, **kwargs):
        """A bulk change moves ``updated_at`` too: the dispatcher starts and completes campaigns
        with ``update()``, and the API's "updated since" must see those changes."""
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)


class Campaign(models.Model):
    """A template sent to a tenant's consenting contacts (optionally those with some tags).

    Lifecycle: draft → scheduled (launched with a future start) → running (its start came and
    its jobs exist) → completed, and cancelled from any state before completed. Scheduled or
    running, it can be paused; resuming returns it to scheduled while its start is still ahead
    (so pausing a scheduled campaign keeps it from starting until someone resumes it), else to
    running. Launching records the intent and a task materialises one SendJob per audience
    contact (``jobs_created_at`` marks it done); a campaign completes when no job is pending,
    sending or unknown. After ``ends_at`` unsent jobs expire, paused or running.

    ``updated_at`` moves with every write, ``save(update_fields=…)`` and queryset ``update()``
    alike (``save`` and CampaignQuerySet add it), so "changed since" never misses a transition.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=120)
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="campaigns")
    tags = models.JSONField(default=list, blank=True, help_text="Only contacts with any of these tags; empty: all.")
    link_url = models.URLField(blank=True, help_text="What {{ link }} points to.")
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: as soon as it is launched.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Unsent messages expire after this.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    jobs_created_at = models.DateTimeField(null=True, blank=True)
    jobs_total = models.PositiveIntegerField(default=0)
    estimated_cost_cents = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The worst-case estimate shown when it was launched."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="campaign_tenant_created"),
            models.Index(fields=["status"], name="campaign_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(starts_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="campaign_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, update_fields=None, **kwargs):
        if update_fields is not None:
            update_fields = {*update_fields, "updated_at"}
        super().save(*args, update_fields=update_fields, **kwargs)

    @property
    def is_editable(self) -> bool:
        return self.status == CampaignStatus.DRAFT


class JobStatus(models.TextChoices):
    """A send job's life.

    ``pending`` (waiting for its next attempt; gates hold or defer it here) → ``sending``
    (committed with its budget reserved, right before the provider call) → ``sent`` (the
    provider accepted it). Final otherwise: ``skipped`` (a gate ruled it out: do-not-contact,
    suppression, no price per segment for its country), ``failed`` (the provider refused it for
    good), ``expired`` (the campaign ended first), ``cancelled`` (the campaign was), ``unknown``
    (the request may have reached the provider but we cannot tell: the call timed out after it
    left, or a worker died mid hand-off and the provider could not confirm it either way. Never
    re-sent automatically: a person decides).
    """

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"
    UNKNOWN = "unknown", "Unknown: needs a decision"


class Gate(models.TextChoices):
    KILL_SWITCH = "kill_switch", "1. Kill switch"
    BUDGET = "budget", "2. Budget"
    DNC = "dnc", "3. Do-not-contact"
    SUPPRESSION = "suppression", "4. Suppression"
    QUIET_HOURS = "quiet_hours", "5. Quiet hours"
    RATE_LIMIT = "rate_limit", "6. Rate limit"
    WARMUP = "warmup", "7. Warmup"
    PROVIDER = "provider", "Provider"


class GateOutcome(models.TextChoices):
    SEND = "send", "Send"
    HOLD = "hold", "Hold"
    DEFER = "defer", "Defer"
    SKIP = "skip", "Skip"


class SendJob(models.Model):
    """One campaign message to one contact: unique per (tenant, campaign, contact).

    The last gate decision is kept on the row (``gate``, ``outcome``, ``reason``,
    ``next_attempt_at``) so reports can say how many each gate stopped.
    """

    # No database-level foreign keys: a launch inserts a job per contact, and checking three
    # constraints per row (locking every contact row) cost more than the insert itself. Django's
    # on_delete cascades still remove a contact's, campaign's or tenant's jobs, and jobs are only
    # ever created by the launch from rows that exist.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="jobs", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    variant_index = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    gate = models.CharField(max_length=12, choices=Gate.choices, blank=True)
    outcome = models.CharField(max_length=5, choices=GateOutcome.choices, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # One job per message; the uniqueness is partial so the launch's empty rows cost no index entry.
    message = models.ForeignKey(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="send_jobs", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Campaign first: it serves the campaign's counts and look-ups too.
            models.UniqueConstraint(fields=["campaign", "contact", "tenant"], name="sendjob_unique_per_contact"),
            models.UniqueConstraint(
                fields=["message"], condition=models.Q(message__isnull=False), name="sendjob_one_per_message"
            ),
        ]
        indexes = [
            # The dispatcher's claim: a campaign's due pending jobs, oldest first.
            models.Index(
                fields=["campaign", "next_attempt_at"],
                condition=models.Q(status="pending"),
                name="sendjob_due",
            ),
            # Deleting a contact checks its jobs; suppression asks whether another campaign's
            # message to the contact is mid hand-off.
            models.Index(fields=["contact", "status"], name="sendjob_contact_status"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → contact {self.contact_id} ({self.status})"


class GateTally(models.Model):
    """How many times each gate held, deferred or skipped a campaign's jobs, counted by the
    dispatcher as it decides (one upsert per batch). A job's own row keeps only its latest
    decision, so a job deferred by quiet hours and sent next morning leaves its deferral here."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=40, help_text='"<gate>:<outcome>", e.g. "quiet_hours:defer".')
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "key"], name="gatetally_once_per_key")]
