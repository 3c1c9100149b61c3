from django.urls import include, path

app_name = "reporting"

urlpatterns = [
    # The pilot check's page (reporting/pilot_urls.py).
    path("reporting/", include("reporting.pilot_urls")),
]
