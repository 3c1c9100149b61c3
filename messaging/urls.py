from django.urls import path

from messaging import views, webhooks

app_name = "messaging"

urlpatterns = [
    path("webhooks/provider", webhooks.provider, name="provider_webhook"),
    path("webhooks/twilio/status", webhooks.status_callback, name="status_callback"),
    path("webhooks/twilio/inbound", webhooks.inbound_message, name="inbound_webhook"),
    path("inbox/", views.InboxView.as_view(), name="inbox"),
]
