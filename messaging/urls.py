from django.urls import path

from messaging import conversation_views, views, webhooks

app_name = "messaging"

urlpatterns = [
    path("webhooks/provider", webhooks.provider, name="provider_webhook"),
    path("webhooks/twilio/status", webhooks.status_callback, name="status_callback"),
    path("webhooks/twilio/inbound", webhooks.inbound_message, name="inbound_webhook"),
    # The inbox is the conversations list (issue 19); every text one by one, with the kinds
    # filter the campaign report links to, is "All texts".
    path("inbox/", conversation_views.ConversationListView.as_view(), name="inbox"),
    path("inbox/texts/", views.InboxView.as_view(), name="texts"),
    path("inbox/saved-replies/", conversation_views.SavedReplyListView.as_view(), name="saved_replies"),
    path("inbox/saved-replies/<int:pk>/", conversation_views.SavedReplyEditView.as_view(), name="saved_reply"),
    path("inbox/<str:phone>/", conversation_views.ThreadView.as_view(), name="thread"),
    path("inbox/<str:phone>/actions/", conversation_views.ThreadActionView.as_view(), name="thread_action"),
]
