from django.contrib import admin
from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from smscrm import health, metrics
from smscrm.cutover.views import CutoverView

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name none (the admin's).
    path("favicon.ico", lambda request: HttpResponsePermanentRedirect(static("favicon.svg")), name="favicon"),
    path("health", health.health, name="health"),
    path("health/live", health.liveness, name="health_live"),
    path("metrics", metrics.metrics, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("smscrm.api_urls")),
    path("contacts/", include("contacts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("settings/webhooks/", include("webhooks.urls")),
    path("settings/cutover/", CutoverView.as_view(), name="cutover"),
    path("", include("reporting.urls")),
    path("", include("links.urls")),
    path("", include("messaging.urls")),
    path("", include("tenants.urls")),
]
