"""/api/v1/: every app's API views on one router, the OpenAPI document and its docs page."""

from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from campaigns.api import CampaignViewSet
from campaigns.api_templates import TemplateViewSet
from contacts import api as contacts_api
from contacts.api_imports import ImportViewSet
from messaging.api import MessageViewSet
from messaging.api_conversations import ConversationViewSet
from reporting.api import CampaignReportView
from webhooks.api import WebhookSubscriptionViewSet

router = SimpleRouter()
router.register("contacts", contacts_api.ContactViewSet, basename="contact")
router.register(r"contacts/(?P<contact_pk>[0-9]+)/consent", contacts_api.ConsentViewSet, basename="contact-consent")
router.register("do-not-contact", contacts_api.DncViewSet, basename="dnc")
router.register("imports", ImportViewSet, basename="import")
router.register("templates", TemplateViewSet, basename="template")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
router.register("messages", MessageViewSet, basename="message")
router.register("conversations", ConversationViewSet, basename="conversation")


@csrf_exempt  # it changes nothing, and a POST to a wrong path must be a JSON 404, not a CSRF page
def not_found(request, rest=""):
    """Any other /api/v1/ path: a 404 in the API's error body, never the HTML page."""
    return JsonResponse({"code": "not_found", "message": "Not found.", "fields": {}}, status=404)


app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", authentication_classes=[], permission_classes=[]),
        name="docs",
    ),
    # Reporting's view of a campaign, under the campaign's URL: routed here, not by the campaigns
    # viewset, so the campaigns app never imports reporting (reporting sits above it).
    path("campaigns/<int:pk>/report/", CampaignReportView.as_view(), name="campaign-report"),
    path("", include(router.urls)),
    re_path(r"^(?P<rest>.*)$", not_found),
]
