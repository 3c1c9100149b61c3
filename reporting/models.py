"""Materialised report figures: computed by a task, read by the pages in one query."""

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
