from django.urls import path

from campaigns import template_views, views

app_name = "campaigns"

urlpatterns = [
    path("", views.CampaignListView.as_view(), name="list"),
    path("new/", views.CampaignCreateView.as_view(), name="create"),
    path("<int:pk>/", views.CampaignDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.CampaignEditView.as_view(), name="edit"),
    path("<int:pk>/launch/", views.CampaignLaunchView.as_view(), name="launch"),
    path("<int:pk>/pause/", views.CampaignPauseView.as_view(), name="pause"),
    path("<int:pk>/resume/", views.CampaignResumeView.as_view(), name="resume"),
    path("<int:pk>/cancel/", views.CampaignCancelView.as_view(), name="cancel"),
    path("<int:pk>/jobs/<int:job_pk>/decide/", views.SendJobDecideView.as_view(), name="job_decide"),
    path("templates/", template_views.TemplateListView.as_view(), name="templates"),
    path("templates/new/", template_views.TemplateCreateView.as_view(), name="template_create"),
    path("templates/<int:pk>/", template_views.TemplateDetailView.as_view(), name="template"),
    path("templates/<int:pk>/gsm/", template_views.TemplateGsmReplaceView.as_view(), name="template_gsm"),
    path("numbers/", views.SendingNumberListView.as_view(), name="numbers"),
]
