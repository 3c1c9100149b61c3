from django.urls import path

from tenants import views

app_name = "tenants"

urlpatterns = [
    path("login/", views.login_request, name="login"),
    path("login/auth/", views.login_confirm, name="login_confirm"),
    path("logout/", views.logout_view, name="logout"),
    path("switch/", views.SwitchTenantView.as_view(), name="switch"),
    path("choose/", views.ChooseTenantView.as_view(), name="choose"),
    path("invitations/<str:token>/", views.InvitationView.as_view(), name="invitation"),
    path("members/invitations/<int:pk>/revoke/", views.InvitationRevokeView.as_view(), name="invitation_revoke"),
    path("tenant/pause/", views.KillSwitchView.as_view(pause=True), name="pause"),
    path("tenant/resume/", views.KillSwitchView.as_view(pause=False), name="resume"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/api-keys/", views.ApiKeysView.as_view(), name="api_keys"),
    path("settings/api-keys/<int:pk>/revoke/", views.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    path("members/", views.MembersView.as_view(), name="members"),
    path("members/<int:pk>/role/", views.MemberChangeView.as_view(), name="member_role"),
    path("members/<int:pk>/remove/", views.MemberChangeView.as_view(remove=True), name="member_remove"),
    path("activity/", views.ActivityView.as_view(), name="activity"),
]
