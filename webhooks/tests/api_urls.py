"""The subscriptions' API on a router of its own, until the REST API's /api/v1/ routing takes it."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from webhooks.api import WebhookSubscriptionViewSet

router = SimpleRouter()
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")

urlpatterns = [path("api/v1/", include(router.urls))]
