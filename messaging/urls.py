from django.urls import path

from messaging import webhooks

app_name = "messaging"

urlpatterns = [
    path("webhooks/twilio/status", webhooks.status_callback, name="status_callback"),
]
