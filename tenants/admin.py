"""Django admin, scoped by tenant for everyone but superusers.

``TenantScopedAdmin`` is the base every app's ModelAdmin uses. A staff user who is not a
superuser sees only rows of their own tenants, edits them only where their role allows (the
same permission matrix the views use), cannot move a row to another tenant, and never sees
another tenant in a choice list or filter.

Writes go through the services: a subclass overrides ``save_via_service`` (not ``save_model``).
When a service refuses (ValidationError), nothing is saved and the form is shown again with
the refusal on the field it names, never beside a "changed successfully" message. Fields named
in ``secret_fields`` are never displayed, not even read-only to a viewer.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse

from tenants import memberships, services
from tenants.forms import TenantSettingsForm, add_service_errors, short_domain_help
from tenants.models import AuditEvent, Membership, Tenant
from tenants.money import dollars_formfield, dollars_label, format_aud, is_cents_field
from tenants.roles import Perm, role_allows
from tenants.templatetags.activity_words import event_details, event_phrase


def _admin_login(request, extra_context=None):
    """Staff have no passwords: the admin's login page is the magic-link page."""
    if request.user.is_authenticated:
        raise PermissionDenied("Your account has no access to the admin.")
    return redirect_to_login(request.get_full_path(), login_url=reverse("tenants:login"))


admin.site.login = _admin_login
admin.site.site_header = "SMS CRM administration"
admin.site.site_title = "SMS CRM admin"


def tenant_ids_for(request, perm: str) -> set[int]:
    """Ids of the tenants in which the request's user holds ``perm`` (cached per request)."""
    cache = request.__dict__.setdefault("_admin_tenant_ids", {})
    if perm not in cache:
        memberships = getattr(request, "memberships", None)
        if memberships is None:
            memberships = list(Membership.objects.filter(user=request.user))
        cache[perm] = {m.tenant_id for m in memberships if role_allows(m.role, perm)}
    return cache[perm]


class TenantListFilter(admin.SimpleListFilter):
    """A tenant filter that lists only the tenants the user may see."""

    title = "tenant"
    parameter_name = "tenant"

    def lookups(self, request, model_admin):
        tenants = Tenant.objects.all()
        if not request.user.is_superuser:
            tenants = tenants.filter(pk__in=tenant_ids_for(request, Perm.VIEW))
        return [(t.pk, t.name) for t in tenants]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.model_admin_lookup: self.value()})
        return queryset


_IN_DOLLARS = "_in_dollars"


def money_column(name: str):
    """A list column showing the integer-cents field ``name`` in dollars ("$100.00")."""

    @admin.display(description=dollars_label(name).removesuffix(" ($)"), ordering=name)
    def column(obj):
        return format_aud(getattr(obj, name))

    column.__name__ = f"{name}{_IN_DOLLARS}"
    return column


class ServiceRefused(Exception):
    """A service's ValidationError on its way from ``save_model`` back to the form."""

    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


class TenantScopedAdmin(admin.ModelAdmin):
    """Base admin for tenant-owned models.

    ``tenant_lookup`` is the ORM path from the model to its tenant id; ``change_perm`` the
    permission needed to add, change or delete (viewing needs ``Perm.VIEW``).
    """

    tenant_lookup = "tenant_id"
    change_perm = Perm.SETTINGS_MANAGE
    secret_fields: tuple[str, ...] = ()
    # A service's argument name → the form field it comes from, where they differ ({"phone":
    # "phone_e164"}), so a refusal lands on the field it is about rather than above the form.
    service_fields: dict[str, str] = {}

    def get_list_filter(self, request):
        lookup = self.tenant_lookup
        tenant_filter = type("ScopedTenantFilter", (TenantListFilter,), {"model_admin_lookup": lookup})
        return [tenant_filter, *super().get_list_filter(request)]

    # -- scoping ---------------------------------------------------------------------------

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.tenant_lookup}__in": tenant_ids_for(request, Perm.VIEW)})

    def _tenant_id_of(self, obj) -> int:
        value = obj
        for part in self.tenant_lookup.split("__"):
            value = getattr(value, part)
        return value

    def _allowed(self, request, perm: str, obj=None) -> bool:
        if not (request.user.is_active and request.user.is_staff):
            return False
        allowed = tenant_ids_for(request, perm)
        if obj is None:
            return bool(allowed)
        return self._tenant_id_of(obj) in allowed

    def has_module_permission(self, request):
        return request.user.is_superuser or self._allowed(request, Perm.VIEW)

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or self._allowed(request, Perm.VIEW, obj)

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser or self._allowed(request, self.change_perm, obj)

    def has_add_permission(self, request):
        return request.user.is_superuser or self._allowed(request, self.change_perm)

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser or self._allowed(request, self.change_perm, obj)

    # -- forms -----------------------------------------------------------------------------

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # Money is typed and shown in dollars, stored in integer cents (tenants.money).
        if is_cents_field(db_field) and db_field.get_internal_type().endswith("IntegerField"):
            return dollars_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser and self.tenant_lookup == "tenant_id":
            fields.append("tenant")  # a row never moves to another tenant
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if not request.user.is_superuser:
            related = db_field.related_model
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk__in=tenant_ids_for(request, self.change_perm))
            elif any(f.name == "tenant" for f in related._meta.get_fields()):
                kwargs["queryset"] = related._default_manager.filter(
                    tenant_id__in=tenant_ids_for(request, self.change_perm)
                )
            elif related._meta.label == "auth.User" or related is request.user.__class__:
                kwargs["queryset"] = related._default_manager.filter(
                    memberships__tenant_id__in=tenant_ids_for(request, Perm.VIEW)
                ).distinct()
            else:
                # No known path to a tenant: offer nothing rather than every tenant's rows.
                kwargs["queryset"] = related._default_manager.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if self.secret_fields and not self.has_change_permission(request, obj):
            # A view-only user gets every field read-only: a secret would be printed in full.
            fields = [name for name in fields if name not in self.secret_fields]
        if not self.has_change_permission(request, obj):
            # Read-only, every field is printed as stored: show money in dollars, not integer cents.
            cents = {f.name for f in self.model._meta.concrete_fields if is_cents_field(f)}
            fields = [f"{name}{_IN_DOLLARS}" if name in cents else name for name in fields]
        return fields

    def __getattr__(self, name):
        # The read-only dollars columns named by get_fields ("cost_cents_in_dollars").
        if name.endswith(_IN_DOLLARS):
            return money_column(name.removesuffix(_IN_DOLLARS))
        raise AttributeError(name)

    # -- writes through the services ------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        if not request.user.is_superuser and self._tenant_id_of(obj) not in tenant_ids_for(request, self.change_perm):
            raise PermissionDenied("You cannot write rows of that tenant.")
        try:
            self.save_via_service(request, obj, form, change)
        except ValidationError as exc:
            raise ServiceRefused(exc) from exc

    def save_via_service(self, request, obj, form, change):
        """Write ``obj`` (a subclass calls its service here); a plain save by default."""
        super().save_model(request, obj, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The save's transaction rolled back; validate the same POST again, now with the
            # refusal on the form, so the page shows it where it belongs.
            request._service_refusal = refused.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refusal = getattr(request, "_service_refusal", None)
        if refusal is None:
            return form
        if hasattr(refusal, "error_dict") and self.service_fields:
            names = self.service_fields
            refusal = ValidationError({names.get(name, name): errors for name, errors in refusal.error_dict.items()})

        class RefusedForm(form):
            def clean(self):
                cleaned = super().clean()
                add_service_errors(self, refusal)
                return cleaned

        return RefusedForm

    # Deleting a row is a domain write: set this to the service that does it, called with
    # (obj, actor=user); bulk deletes go through it one row at a time.
    delete_service = None

    def delete_model(self, request, obj):
        if self.delete_service is None:
            super().delete_model(request, obj)
            return
        try:
            self.delete_service(obj, actor=request.user)
        except ValidationError as exc:
            raise ServiceRefused(exc) from exc

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as refused:  # e.g. the last owner of a business: say why, keep the row
            self.message_user(request, " ".join(refused.error.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_model(request, obj)
            except ServiceRefused as refused:
                self.message_user(request, f"{obj}: {' '.join(refused.error.messages)}", messages.ERROR)


class ReadOnlyScopedAdmin(TenantScopedAdmin):
    """A tenant-scoped admin that only shows rows (they are written by services elsewhere)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_lookup = "pk"
    list_display = [
        "name",
        "slug",
        "business_name",
        "timezone",
        "is_paused",
        money_column("daily_budget_cents"),
        money_column("monthly_budget_cents"),
    ]
    search_fields = ["name", "slug", "business_name"]

    def get_list_filter(self, request):
        return ["is_paused"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # The same labels and help as the settings page ("Short link lifetime (days)", budgets in dollars).
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        settings_field = TenantSettingsForm.base_fields.get(db_field.name)
        if field is not None and settings_field is not None:
            field.label, field.help_text = settings_field.label or field.label, settings_field.help_text
        if field is not None and db_field.name == "short_domain":
            field.help_text = short_domain_help()
        return field

    def get_readonly_fields(self, request, obj=None):
        # The slug and the sending rate are the platform operator's (tenants.services.OPERATOR_FIELDS).
        operator = [] if request.user.is_superuser else list(services.OPERATOR_FIELDS)
        return ["created_at", *operator]

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def save_via_service(self, request, obj, form, change):
        """Every change goes through the audited services, as on the settings page."""
        if not change:
            super().save_via_service(request, obj, form, change)
            return
        editable = set(services.SETTINGS_FIELDS) | set(services.OPERATOR_FIELDS)
        settings_changes = {f: form.cleaned_data[f] for f in form.changed_data if f in editable}
        other = set(form.changed_data) - editable - {"is_paused"}
        if other:
            raise ValidationError(f"These cannot be changed here: {', '.join(sorted(other))}.")
        if settings_changes:
            services.tenant_update_settings(tenant=obj, actor=request.user, **settings_changes)
        if "is_paused" in form.changed_data:
            services.tenant_set_paused(tenant=obj, actor=request.user, paused=form.cleaned_data["is_paused"])


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    change_perm = Perm.MEMBERS_MANAGE
    list_display = ["user", "tenant", "role", "created_at"]
    search_fields = ["user__email"]
    list_select_related = ["user", "tenant"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "user"] if obj is not None else fields

    def has_add_permission(self, request):
        # Joining a business is the invitee's choice: owners invite on the Members page.
        return request.user.is_superuser

    def save_via_service(self, request, obj, form, change):
        if change:
            memberships.membership_change_role(membership=obj, actor=request.user, role=obj.role)
        else:
            created = memberships.membership_add(
                tenant=obj.tenant, actor=request.user, email=obj.user.email, role=obj.role
            )
            obj.pk = created.pk

    delete_service = staticmethod(
        lambda membership, actor: memberships.membership_remove(membership=membership, actor=actor)
    )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyScopedAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ["at", "tenant", "actor", "what", "target"]
    search_fields = ["action", "target", "actor__email"]
    list_select_related = ["tenant", "actor"]
    date_hierarchy = "at"

    # The record in words (as on the Activity page), with the stored action name kept for searches.
    fields = ["at", "tenant", "actor", "what", "action", "target", "details"]

    @admin.display(description="What", ordering="action")
    def what(self, obj):
        return event_phrase(obj.action)

    @admin.display(description="Details")
    def details(self, obj):
        return "; ".join(f"{label}: {value}" for label, value in event_details(obj.data)) or "—"

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or self._allowed(request, Perm.AUDIT_VIEW, obj)

    def has_module_permission(self, request):
        return request.user.is_superuser or self._allowed(request, Perm.AUDIT_VIEW)

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(tenant_id__in=tenant_ids_for(request, Perm.AUDIT_VIEW))

    def get_readonly_fields(self, request, obj=None):
        return [*(f.name for f in self.model._meta.fields), "what", "details"]


class OperatorsOnlyMixin:
    """Admin of rows that belong to no tenant (users, groups): the platform operator's alone.

    For everyone else the rows do not exist: no module, no list, and a user's id answers exactly
    like a missing one (Django's own UserAdmin looked the user up before checking permission, so
    its history page told any staff user which ids existed).
    """

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.none()

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


User = get_user_model()
for model, base in ((User, UserAdmin), (Group, GroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, type(f"Operators{base.__name__}", (OperatorsOnlyMixin, base), {}))
