"""Admin for campaigns: a read-only, tenant-scoped view (the campaign pages do the writing)."""

from django.contrib import admin

from campaigns.models import Campaign, SendJob, Template
from tenants.admin import ReadOnlyScopedAdmin


@admin.register(Template)
class TemplateAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "tenant", "updated_at"]


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "status", "jobs_total", "launched_at", "completed_at", "tenant"]
    list_filter = ["status"]


@admin.register(SendJob)
class SendJobAdmin(ReadOnlyScopedAdmin):
    list_display = ["campaign", "contact", "status", "gate", "outcome", "next_attempt_at", "tenant"]
    list_filter = ["status", "gate", "outcome"]
    raw_id_fields = ["contact", "message"]
    show_full_result_count = False
