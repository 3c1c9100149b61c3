from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("", views.ContactListView.as_view(), name="list"),
    path("new/", views.ContactCreateView.as_view(), name="create"),
    path("export.csv", views.ContactExportView.as_view(), name="export"),
    path("<int:pk>/", views.ContactDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.ContactUpdateView.as_view(), name="edit"),
    path("<int:pk>/delete/", views.ContactDeleteView.as_view(), name="delete"),
    path("<int:pk>/consent/", views.ConsentAddView.as_view(), name="consent"),
    path("do-not-contact/", views.DncListView.as_view(), name="dnc"),
    path("do-not-contact/export.csv", views.DncExportView.as_view(), name="dnc_export"),
    path("do-not-contact/<int:pk>/remove/", views.DncRemoveView.as_view(), name="dnc_remove"),
    path("imports/", views.ImportListView.as_view(), name="imports"),
    path("imports/<int:pk>/", views.ImportDetailView.as_view(), name="import"),
    path("imports/<int:pk>/commit/", views.ImportCommitView.as_view(), name="import_commit"),
    path("imports/<int:pk>/discard/", views.ImportDiscardView.as_view(), name="import_discard"),
    path("imports/<int:pk>/progress.json", views.ImportProgressView.as_view(), name="import_progress"),
    path("imports/<int:pk>/rejected.csv", views.ImportRejectedView.as_view(), name="import_rejected"),
]
