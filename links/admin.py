"""Short links and clicks in the admin: read-only and tenant-scoped, for investigations."""

from django.contrib import admin

from links.models import Click, ShortLink
from tenants.admin import ReadOnlyScopedAdmin


@admin.register(ShortLink)
class ShortLinkAdmin(ReadOnlyScopedAdmin):
    list_display = ["token", "destination", "campaign_id", "created_at", "expires_at", "tenant"]
    search_fields = ["token"]
    show_full_result_count = False


@admin.register(Click)
class ClickAdmin(ReadOnlyScopedAdmin):
    list_display = ["at", "link", "method", "is_human", "reason", "tenant"]
    list_filter = ["is_human", "reason"]
    show_full_result_count = False
