from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from smscrm import health

urlpatterns = [
    # Browsers ask for /favicon.ico on pages that name none (the admin's).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True), name="favicon"),
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
