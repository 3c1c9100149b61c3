"""Admin for contacts: tenant-scoped like everything else; writes go through the services."""

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from contacts import services
from contacts.models import ConsentRecord, Contact, ContactImport, DoNotContact
from tenants.admin import ReadOnlyScopedAdmin, TenantScopedAdmin, tenant_ids_for
from tenants.models import Tenant
from tenants.roles import Perm


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    change_perm = Perm.CONTACTS_EDIT
    service_fields = {"phone": "phone_e164"}
    list_display = ["phone_e164", "first_name", "last_name", "email", "consent_status", "undeliverable", "tenant"]
    search_fields = ["phone_e164", "first_name", "last_name", "email"]
    list_select_related = ["tenant"]
    readonly_fields = ["consent_status", "consent_at", "last_sent_at", "created_at", "updated_at"]
    show_full_result_count = False  # no COUNT(*) over a million rows on every page

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser or self._allowed(request, Perm.CONTACTS_DELETE, obj)

    def save_via_service(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in services.EDITABLE_FIELDS if f in form.cleaned_data}
        if change:
            services.contact_update(contact=obj, actor=request.user, phone=obj.phone_e164, **fields)
        else:
            created = services.contact_create(tenant=obj.tenant, actor=request.user, phone=obj.phone_e164, **fields)
            obj.pk = created.pk

    def get_deleted_objects(self, objs, request):
        """Deletion goes through contact_delete, which takes the contact's consent records and send
        jobs along: the one permission it needs is contacts.delete (has_delete_permission), not
        one per related model (send jobs and consent records are read-only in the admin)."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    delete_service = staticmethod(lambda contact, actor: services.contact_delete(contact=contact, actor=actor))


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyScopedAdmin):
    """Append-only evidence: read here, recorded on the contact page."""

    list_display = ["captured_at", "contact", "kind", "withdrawn", "source", "tenant"]
    list_select_related = ["contact", "tenant"]
    search_fields = ["contact__phone_e164", "source"]
    show_full_result_count = False


@admin.register(DoNotContact)
class DoNotContactAdmin(TenantScopedAdmin):
    """Adding goes through dnc_add; removal needs a reason, so it is done on the DNC page."""

    change_perm = Perm.DNC_MANAGE
    list_display = ["phone_e164", "reason", "note", "created_at", "tenant"]
    search_fields = ["phone_e164"]
    fields = ["tenant", "phone_e164", "reason", "note", "source"]
    list_select_related = ["tenant"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_via_service(self, request, obj, form, change):
        entry, _ = services.dnc_add(
            tenant=obj.tenant,
            phone=obj.phone_e164,
            reason=obj.reason,
            actor=request.user,
            note=obj.note,
            source=obj.source,
        )
        obj.pk = entry.pk


class ImportUploadForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    file = forms.FileField()


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyScopedAdmin):
    """Uploading here stores the file through the same service, then continues on the import
    page (mapping, consent, dry-run preview, commit)."""

    list_display = ["original_name", "status", "rows_total", "created_at", "tenant"]
    list_select_related = ["tenant"]
    exclude = ["lease_token"]

    def has_add_permission(self, request):
        return request.user.is_superuser or self._allowed(request, Perm.CONTACTS_IMPORT)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):  # Django's own add_view checks this; ours must too
            raise PermissionDenied("Your role may not import contacts.")
        tenants = Tenant.objects.all()
        if not request.user.is_superuser:
            tenants = tenants.filter(pk__in=tenant_ids_for(request, Perm.CONTACTS_IMPORT))
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        form.fields["tenant"].queryset = tenants
        if request.method == "POST" and getattr(request, "upload_refused", ""):
            form.add_error("file", request.upload_refused)
        elif request.method == "POST" and form.is_valid():
            try:
                contact_import = services.contact_import_upload_file(
                    tenant=form.cleaned_data["tenant"], actor=request.user, upload=form.cleaned_data["file"]
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                request.session["tenant_id"] = contact_import.tenant_id
                return HttpResponseRedirect(reverse("contacts:import", args=[contact_import.pk]))
        context = {
            **self.admin_site.each_context(request),
            "form": form,
            "opts": self.model._meta,
            "title": "Upload contacts",
        }
        return render(request, "admin/contacts/import_upload.html", context)
