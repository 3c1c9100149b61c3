"""Login, switcher, kill switch, settings, API keys, members and activity pages."""

import hashlib
import math
from datetime import datetime, time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import ListView
from django_ratelimit.core import get_usage
from sesame.utils import get_user

from smscrm.queueing import enqueue_after_commit
from tenants import apikeys, memberships, services
from tenants.forms import (
    ApiKeyForm,
    LoginForm,
    MemberAddForm,
    MemberRoleForm,
    PauseForm,
    TenantSettingsForm,
    TenantSwitchForm,
    add_service_errors,
)
from tenants.mixins import TenantScopedMixin
from tenants.models import ApiKey, AuditEvent, Invitation, Membership
from tenants.roles import Perm, Role
from tenants.selectors import ACTIVITY_KINDS, SYSTEM_PERSON, audit_events_for, members_of, open_invitations
from tenants.tasks import send_login_link


def _home() -> str:
    """The page people land on (the dashboard, a reporting page): named once, in settings, so
    this lowest app never names a page of a higher one."""
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _digest(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _email_key(group, request) -> str:
    return services.normalize_email(request.POST.get("email", ""))


def _usage(request, key, rate):
    return get_usage(request, group="login", key=key, rate=rate, method="POST", increment=True)


@never_cache
def login_request(request):
    """Ask for an e-mail; always answer the same, whether or not the address has an account.

    Two limits: per client address (past it: 429, saying how long to wait) and per e-mail
    address. The second must not let a stranger lock the address's owner out: past it the page
    answers exactly as usual, and one e-mail still goes per link lifetime (SESAME_MAX_AGE), so
    the owner always has a working link in their inbox while nobody can flood it.
    """
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_home())
    form = LoginForm(request.POST or None)
    if request.method == "POST":
        per_ip = _usage(request, "ip", settings.LOGIN_RATE_PER_IP)
        if per_ip and per_ip["should_limit"]:
            minutes = max(1, math.ceil(per_ip["time_left"] / 60))
            return render(request, "tenants/login_throttled.html", {"minutes": minutes}, status=429)
        if form.is_valid():
            email = services.normalize_email(form.cleaned_data["email"])
            per_email = _usage(request, _email_key, settings.LOGIN_RATE_PER_EMAIL)
            over = per_email and per_email["should_limit"]
            if not over or cache.add(f"login-link-trickle:{_digest(email)}", 1, settings.SESAME_MAX_AGE):
                # Without a broker the e-mail goes from here: the person is waiting for it.
                enqueue_after_commit(send_login_link, email, fallback=lambda: services.login_link_send(email=email))
            return render(
                request, "tenants/login_sent.html", {"email": email, "minutes": settings.SESAME_MAX_AGE // 60}
            )
    return render(request, "tenants/login.html", {"form": form})


@never_cache
def login_confirm(request):
    """The page a magic link opens. GET only shows a button; POST logs in and spends the link.

    Mail scanners open links to look at them; if opening the link spent it, the person
    would find it used up. So the link is spent only by the deliberate POST.
    """
    token = request.POST.get("sesame") if request.method == "POST" else request.GET.get("sesame")
    if not token:
        return redirect("tenants:login")
    if request.method == "POST":
        user = services.login_complete(request=request, token=token)
        if user is None:
            return render(request, "tenants/login_invalid.html", status=400)
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            next_url = _home()
        return redirect(next_url)
    user = get_user(token, update_last_login=False)
    if user is None:
        return render(request, "tenants/login_invalid.html", status=400)
    return render(
        request,
        "tenants/login_confirm.html",
        {"token": token, "email": user.email, "next": request.GET.get("next", "")},
    )


def logout_view(request):
    if request.method != "POST":
        return render(request, "tenants/logout_confirm.html")
    services.logout_complete(request=request)
    messages.info(request, "You are signed out.")
    return redirect("tenants:login")


class SwitchTenantView(TenantScopedMixin, View):
    def post(self, request):
        form = TenantSwitchForm(request.POST)
        if not form.is_valid():
            raise Http404("No such business.")
        try:
            services.tenant_choose(request=request, tenant_id=form.cleaned_data["tenant"])
        except Membership.DoesNotExist:
            # Not one of theirs: the same answer as a tenant that does not exist.
            raise Http404("No such business.") from None
        return redirect(_home())


class ChooseTenantView(LoginRequiredMixin, View):
    """ "Which business?" for a user of several who has not worked in any yet."""

    def get(self, request):
        return render(request, "tenants/choose.html", {"next": _safe_next(request, request.GET.get("next", ""))})

    def post(self, request):
        form = TenantSwitchForm(request.POST)
        if not form.is_valid():
            raise Http404("No such business.")
        try:
            services.tenant_choose(request=request, tenant_id=form.cleaned_data["tenant"])
        except Membership.DoesNotExist:
            raise Http404("No such business.") from None
        return redirect(_safe_next(request, request.POST.get("next", "")))


def _safe_next(request, next_url: str) -> str:
    if next_url and url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    return _home()


@method_decorator(never_cache, name="dispatch")
class InvitationView(View):
    """The e-mailed link. GET shows the offer; only a POST accepts or declines it (mail
    scanners open links, and opening must not spend or answer anything)."""

    def get(self, request, token):
        invitation = memberships.invitation_by_token(token)
        if invitation is None:
            raise Http404("No such invitation.")
        context = {
            "invitation": invitation,
            "open": invitation.is_open(timezone.now()),
            "other_user": request.user.is_authenticated
            and services.normalize_email(request.user.email) != invitation.email,
            "sign_in_first": not request.user.is_authenticated and memberships.invitation_needs_sign_in(invitation),
        }
        return render(request, "tenants/invitation.html", context)

    def post(self, request, token):
        if memberships.invitation_by_token(token) is None:
            raise Http404("No such invitation.")
        try:
            if request.POST.get("answer") == "decline":
                invitation = memberships.invitation_decline(token=token)
                messages.info(request, f"You declined the invitation to {invitation.tenant.name}.")
                return redirect("tenants:login")
            membership = memberships.invitation_accept(request=request, token=token)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("tenants:invitation", token=token)
        messages.success(request, f"Welcome to {membership.tenant.name}.")
        return redirect(_home())


class KillSwitchView(TenantScopedMixin, View):
    """GET asks for confirmation; POST pauses or resumes the tenant at once (audited)."""

    permission = Perm.KILL_SWITCH
    pause: bool = True

    def get(self, request):
        return render(request, "tenants/kill_switch_confirm.html", {"pause": self.pause, "form": PauseForm()})

    def post(self, request):
        form = PauseForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        services.tenant_set_paused(tenant=request.tenant, actor=request.user, paused=self.pause, reason=reason)
        if self.pause:
            messages.warning(request, f"{request.tenant.name} is paused: no message will be sent until you resume.")
        else:
            messages.success(request, f"{request.tenant.name} is sending again.")
        return redirect(_home())


class SettingsView(TenantScopedMixin, View):
    permission = Perm.SETTINGS_MANAGE

    def get(self, request):
        return render(request, "tenants/settings.html", {"form": TenantSettingsForm(instance=request.tenant)})

    def post(self, request):
        form = TenantSettingsForm(request.POST, instance=request.tenant)
        if form.is_valid():
            try:
                services.tenant_update_settings(tenant=request.tenant, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("tenants:settings")
        return render(request, "tenants/settings.html", {"form": form}, status=400)


class MembersView(TenantScopedMixin, ListView):
    permission = Perm.MEMBERS_MANAGE
    model = Membership
    template_name = "tenants/members.html"
    context_object_name = "members"

    def get_queryset(self):
        return members_of(tenant=self.request.tenant)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            add_form=kwargs.pop("add_form", MemberAddForm()),
            roles=Role.choices,
            invitations=open_invitations(tenant=self.request.tenant, now=timezone.now()),
            **kwargs,
        )

    def post(self, request):
        """Invite someone: they join when they accept the e-mailed link, not before."""
        form = MemberAddForm(request.POST)
        if form.is_valid():
            try:
                invitation, _ = memberships.invitation_create(
                    tenant=request.tenant, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Invitation sent to {invitation.email} as {invitation.get_role_display()}. "
                    "They join when they accept it.",
                )
                return redirect("tenants:members")
        self.object_list = self.get_queryset()
        return self.render_to_response(self.get_context_data(add_form=form), status=400)


class InvitationRevokeView(TenantScopedMixin, View):
    permission = Perm.MEMBERS_MANAGE

    def post(self, request, pk):
        invitation = self.get_scoped_or_404(Invitation, pk=pk)
        memberships.invitation_revoke(invitation=invitation, actor=request.user)
        messages.success(request, f"The invitation to {invitation.email} is withdrawn.")
        return redirect("tenants:members")


class MemberChangeView(TenantScopedMixin, View):
    """POST only: change a member's role, or remove them."""

    permission = Perm.MEMBERS_MANAGE
    remove = False

    def post(self, request, pk):
        membership = self.get_scoped_or_404(Membership.objects.select_related("user"), pk=pk)
        try:
            if self.remove:
                memberships.membership_remove(membership=membership, actor=request.user)
                messages.success(request, f"{membership.user.email} removed.")
            else:
                form = MemberRoleForm(request.POST)
                if not form.is_valid():
                    raise ValidationError("Choose a role.")
                memberships.membership_change_role(
                    membership=membership, actor=request.user, role=form.cleaned_data["role"]
                )
                messages.success(request, f"{membership.user.email} is now {form.cleaned_data['role']}.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("tenants:members")


class ActivityView(TenantScopedMixin, ListView):
    permission = Perm.AUDIT_VIEW
    model = AuditEvent
    template_name = "tenants/activity.html"
    context_object_name = "events"
    paginate_by = 50

    def get_queryset(self):
        self.filters = {key: self.request.GET.get(key, "") for key in ("kind", "person")}
        return audit_events_for(tenant=self.request.tenant, **self.filters)

    def get_context_data(self, **kwargs):
        query = QueryDict(mutable=True)
        query.update({key: value for key, value in self.filters.items() if value})
        return super().get_context_data(
            filters=self.filters,
            query=query.urlencode(),
            kinds=ACTIVITY_KINDS,
            people=members_of(tenant=self.request.tenant),
            system_person=SYSTEM_PERSON,
            **kwargs,
        )


class ApiKeysView(TenantScopedMixin, View):
    """Settings › API keys: the tenant's keys, a form for a new one (shown once) and revoking."""

    permission = Perm.SETTINGS_MANAGE

    def get(self, request):
        return self._page(request, ApiKeyForm())

    def post(self, request):
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            expires_on = form.cleaned_data["expires_on"]
            expires_at = datetime.combine(expires_on, time.min, tzinfo=request.tenant.zone) if expires_on else None
            try:
                api_key, key = apikeys.api_key_create(
                    tenant=request.tenant,
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    expires_at=expires_at,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                # The key is in this one response and nowhere else: not in a redirect, the
                # session, a message or a log.
                return self._page(request, ApiKeyForm(), new_key=key, new_api_key=api_key)
        return self._page(request, form, status=400)

    def _page(self, request, form, status=200, **extra):
        response = render(
            request,
            "tenants/api_keys.html",
            {
                "form": form,
                "api_keys": self.scoped(ApiKey).select_related("created_by", "revoked_by"),
                "now": timezone.now(),
                **extra,
            },
            status=status,
        )
        response["Cache-Control"] = "no-store"
        return response


class ApiKeyRevokeView(TenantScopedMixin, View):
    permission = Perm.SETTINGS_MANAGE

    def post(self, request, pk):
        api_key = self.get_scoped_or_404(ApiKey, pk=pk)
        apikeys.api_key_revoke(api_key=api_key, actor=request.user)
        messages.success(request, f"The key “{api_key.name}” is revoked: requests with it now answer 401.")
        return redirect("tenants:api_keys")
