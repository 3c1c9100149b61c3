from django.urls import path

from links import views

app_name = "links"

urlpatterns = [
    # Answered by links.middleware first; named here for reverse().
    path("s/<str:token>", views.follow_view, name="follow"),
]
