from django.contrib import admin
from django.urls import include, path

from smscrm import health

urlpatterns = [
    path("health", health.health, name="health"),
    path("health/live", health.liveness, name="health_live"),
    path("admin/", admin.site.urls),
    path("contacts/", include("contacts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("", include("reporting.urls")),
    path("", include("links.urls")),
    path("", include("messaging.urls")),
    path("", include("tenants.urls")),
]
