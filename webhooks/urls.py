from django.urls import path

from webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.SubscriptionListView.as_view(), name="list"),
    path("<int:pk>/", views.SubscriptionDetailView.as_view(), name="detail"),
    path("<int:pk>/disable/", views.SubscriptionActiveView.as_view(active=False), name="disable"),
    path("<int:pk>/enable/", views.SubscriptionActiveView.as_view(active=True), name="enable"),
    path("<int:pk>/delete/", views.SubscriptionDeleteView.as_view(), name="delete"),
    path(
        "<int:pk>/deliveries/<int:delivery_pk>/send-again/",
        views.DeliverySendAgainView.as_view(),
        name="send_again",
    ),
]
