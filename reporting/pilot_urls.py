from django.urls import path

from reporting import pilot_views

urlpatterns = [
    path("pilot-check", pilot_views.PilotCheckView.as_view(), name="pilot_check"),
]
