"""Materialised report figures: computed by a task, read by the pages in one query."""

from django.conf import settings
from django.db import models

from campaigns.models import Campaign
from tenants.models import Tenant


class CampaignStats(models.Model):
    """Every figure of a campaign's report as of ``computed_at`` (reporting.stats).

    The report page reads this one row, so its time does not grow with the campaign: a
    million jobs cost the refresh task seconds, never the person looking. The beat task
    ``reporting.refresh_stats`` recomputes running campaigns (and ones that ended lately)
    every 30 seconds; the page says how old the figures are.
    """

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="stats")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    computed_at = models.DateTimeField()
    seconds = models.FloatField(default=0, help_text="How long the computation took.")
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name_plural = "campaign stats"


class TenantStats(models.Model):
    """The dashboard's heavier figures (today's messages, queue depth), refreshed like CampaignStats."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="stats")
    computed_at = models.DateTimeField()
    data = models.JSONField(default=dict)

    class Meta:
        verbose_name_plural = "tenant stats"


class PilotRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    ERROR = "error", "Stopped with an error"


class PilotRun(models.Model):
    """One run of the pilot check (reporting.pilot_runs), from the page or the command: its progress
    while it runs, then every criterion's verdict and figure, kept as the record of the launch."""

    ACTIVE = (PilotRunStatus.QUEUED, PilotRunStatus.RUNNING)

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    scope = models.CharField(max_length=40, help_text='"all" or "campaign:<id>": one active run per scope.')
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, default="page")  # page | command
    status = models.CharField(max_length=8, choices=PilotRunStatus.choices, default=PilotRunStatus.QUEUED)
    step = models.PositiveSmallIntegerField(default=0, help_text="Criteria checked so far.")
    steps = models.PositiveSmallIntegerField(default=0)
    current = models.CharField(max_length=120, blank=True, help_text="The criterion being checked.")
    checks = models.JSONField(default=list)
    passed = models.BooleanField(null=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "scope"],
                condition=models.Q(status__in=["queued", "running"]),
                name="pilotrun_one_active_per_scope",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "-id"], name="pilotrun_tenant_newest")]

    def __str__(self) -> str:
        return f"Pilot check {self.pk} ({self.scope}, {self.status})"

    @property
    def failed_checks(self) -> list[str]:
        """The titles of the criteria that failed."""
        return [check["title"] for check in self.checks if check.get("passed") is False]
