from django.urls import include, path

from reporting import dashboard_views, views

app_name = "reporting"

urlpatterns = [
    path("", dashboard_views.DashboardView.as_view(), name="dashboard"),
    path("campaigns/<int:pk>/report", views.CampaignReportView.as_view(), name="campaign_report"),
    path("campaigns/<int:pk>/report/jobs.csv", views.CampaignJobsExportView.as_view(), name="campaign_jobs_csv"),
    # The pilot check's page (reporting/pilot_urls.py).
    path("reporting/", include("reporting.pilot_urls")),
]
