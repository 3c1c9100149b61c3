"""Contact pages, the do-not-contact list and imports. Thin: parse, call a service, render."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views import View

from contacts import selectors, services
from contacts.downloads import csv_download, rejected_rows_download
from contacts.forms import ConsentForm, ContactForm, DncAddForm, DncRemoveForm, ImportSettingsForm, UploadForm
from contacts.models import ConsentMode, ConsentStatus, Contact, ContactImport, DoNotContact, ImportOutcome
from smscrm.edge import db_id
from tenants.forms import add_service_errors
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm


def _after(request) -> int | None:
    return db_id(request.GET.get("after"))


# --- contacts -------------------------------------------------------------------------------


class ContactListView(TenantScopedMixin, View):
    def get(self, request):
        filters = {key: request.GET.get(key, "") for key in ("q", "tag", "consent", "dnc", "undeliverable", "imported")}
        contacts = selectors.contacts_for(tenant=request.tenant, **filters)
        import_id = db_id(filters["imported"])
        imported = self.scoped(ContactImport).filter(pk=import_id).first() if import_id else None
        page = selectors.keyset_page(contacts, after=_after(request))
        query = request.GET.copy()
        query.pop("after", None)
        return render(
            request,
            "contacts/list.html",
            {
                "page": page,
                "total": selectors.list_total(contacts),
                "filtered": any(value.strip() for value in filters.values()),
                "filters": filters,
                "imported": imported,
                "query": query.urlencode(),
                "consent_choices": ConsentStatus.choices,
            },
        )


class ContactDetailView(TenantScopedMixin, View):
    def get(self, request, pk):
        contact = self.get_scoped_or_404(Contact, pk=pk)
        return render(
            request,
            "contacts/detail.html",
            {
                "contact": contact,
                "consent_records": contact.consent_records.select_related("source_import", "recorded_by"),
                "dnc": selectors.dnc_entry_for_phone(tenant=request.tenant, phone_e164=contact.phone_e164),
                "consent_form": ConsentForm(),
            },
        )


class ContactCreateView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_EDIT

    def get(self, request):
        context = {"form": ContactForm(), "consent_form": ConsentForm(optional=True)}
        return render(request, "contacts/form.html", context)

    def post(self, request):
        form, consent_form = ContactForm(request.POST), ConsentForm(request.POST, optional=True)
        if all([form.is_valid(), consent_form.is_valid()]):  # both, so every error shows at once
            data = dict(form.cleaned_data)
            try:
                contact = services.contact_create(
                    tenant=request.tenant,
                    actor=request.user,
                    phone=data.pop("phone"),
                    consent=consent_form.consent(),
                    **data,
                )
            except ValidationError as exc:
                consent_errors = hasattr(exc, "error_dict") and set(exc.error_dict) <= set(consent_form.fields)
                add_service_errors(consent_form if consent_errors else form, exc)
            else:
                messages.success(request, f"{contact.display_name} added.")
                return redirect("contacts:detail", pk=contact.pk)
        return render(request, "contacts/form.html", {"form": form, "consent_form": consent_form}, status=400)


class ContactUpdateView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_EDIT

    def _contact(self, request, pk) -> Contact:
        return self.get_scoped_or_404(Contact, pk=pk)

    def get(self, request, pk):
        contact = self._contact(request, pk)
        initial = {f: getattr(contact, f) for f in services.EDITABLE_FIELDS} | {"phone": contact.phone_e164}
        return render(request, "contacts/form.html", {"form": ContactForm(initial=initial), "contact": contact})

    def post(self, request, pk):
        contact = self._contact(request, pk)
        form = ContactForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                services.contact_update(contact=contact, actor=request.user, phone=data.pop("phone"), **data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Contact saved.")
                return redirect("contacts:detail", pk=contact.pk)
        return render(request, "contacts/form.html", {"form": form, "contact": contact}, status=400)


class ContactDeleteView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_DELETE

    def get(self, request, pk):
        contact = self.get_scoped_or_404(Contact, pk=pk)
        return render(request, "contacts/confirm_delete.html", {"contact": contact})

    def post(self, request, pk):
        contact = self.get_scoped_or_404(Contact, pk=pk)
        services.contact_delete(contact=contact, actor=request.user)
        messages.success(request, f"{contact.display_name} deleted. A do-not-contact entry for the number stays.")
        return redirect("contacts:list")


class ConsentAddView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_EDIT

    def post(self, request, pk):
        contact = self.get_scoped_or_404(Contact, pk=pk)
        form = ConsentForm(request.POST)
        if form.is_valid():
            try:
                services.consent_record_add(contact=contact, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request, "Consent withdrawal recorded." if form.cleaned_data["withdrawn"] else "Consent recorded."
                )
        else:
            messages.error(
                request, "Consent not recorded: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            )
        return redirect("contacts:detail", pk=contact.pk)


class ContactExportView(TenantScopedMixin, View):
    """Every contact of the tenant as CSV, streamed; cells are safe against formula injection."""

    permission = Perm.CONTACTS_EXPORT

    def get(self, request):
        zone = request.tenant.zone
        fields = (
            "phone_e164",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "state",
            "postcode",
            "tags",
            "consent_status",
            "consent_at",
            "undeliverable",
            "created_at",
        )
        rows = (
            [
                *values[:7],
                ", ".join(values[7] or []),
                values[8],
                values[9] and values[9].astimezone(zone).isoformat(),
                values[10],
                values[11].astimezone(zone).isoformat(),
            ]
            for values in self.scoped(Contact).order_by("pk").values_list(*fields).iterator(chunk_size=5000)
        )
        header = [
            "phone",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "state",
            "postcode",
            "tags",
            "consent",
            "consent_at",
            "undeliverable",
            "created_at",
        ]
        return csv_download(
            request, filename=f"contacts-{request.tenant.slug}.csv", header=header, rows=rows, what="contacts"
        )


# --- do-not-contact -------------------------------------------------------------------------


class DncListView(TenantScopedMixin, View):
    post_permission = Perm.DNC_MANAGE

    def _render(self, request, form, status=200):
        q = request.GET.get("q", "")
        page = selectors.keyset_page(selectors.dnc_entries_for(tenant=request.tenant, q=q), after=_after(request))
        return render(request, "contacts/dnc_list.html", {"page": page, "form": form, "q": q}, status=status)

    def get(self, request):
        return self._render(request, DncAddForm())

    def post(self, request):
        form = DncAddForm(request.POST)
        if form.is_valid():
            result = services.dnc_add_many(
                tenant=request.tenant,
                text=form.cleaned_data["numbers"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                note=form.cleaned_data["note"],
            )
            if result.invalid:
                bad = "; ".join(f"line {n}: {item!r}" for n, item in result.invalid[:20])
                form.add_error("numbers", f"Nothing added. These are not phone numbers: {bad}")
            else:
                messages.success(
                    request, f"{result.added} added to the do-not-contact list, {result.already} already on it."
                )
                return redirect("contacts:dnc")
        return self._render(request, form, status=400)


class DncRemoveView(TenantScopedMixin, View):
    permission = Perm.DNC_MANAGE

    def _entry(self, request, pk) -> DoNotContact:
        return self.get_scoped_or_404(DoNotContact, pk=pk)

    def get(self, request, pk):
        return render(request, "contacts/dnc_remove.html", {"entry": self._entry(request, pk), "form": DncRemoveForm()})

    def post(self, request, pk):
        entry = self._entry(request, pk)
        form = DncRemoveForm(request.POST)
        if form.is_valid():
            services.dnc_remove(entry=entry, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, f"{entry.phone_e164} removed from the do-not-contact list.")
            return redirect("contacts:dnc")
        return render(request, "contacts/dnc_remove.html", {"entry": entry, "form": form}, status=400)


class DncExportView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_EXPORT

    def get(self, request):
        zone = request.tenant.zone
        rows = (
            [phone, reason, note, source, at.astimezone(zone).isoformat()]
            for phone, reason, note, source, at in self.scoped(DoNotContact)
            .order_by("pk")
            .values_list("phone_e164", "reason", "note", "source", "created_at")
            .iterator(chunk_size=5000)
        )
        header = ["phone", "reason", "note", "source", "added_at"]
        return csv_download(
            request,
            filename=f"do-not-contact-{request.tenant.slug}.csv",
            header=header,
            rows=rows,
            what="do-not-contact list",
        )


# --- imports --------------------------------------------------------------------------------


class ImportListView(TenantScopedMixin, View):
    post_permission = Perm.CONTACTS_IMPORT

    def get(self, request, form=None, status=200):
        imports = selectors.import_summaries_for(tenant=request.tenant)[:50]
        return render(
            request, "contacts/imports.html", {"imports": imports, "form": form or UploadForm()}, status=status
        )

    def post(self, request):
        form = UploadForm(request.POST, request.FILES)
        if getattr(request, "upload_refused", ""):  # the upload handler stopped reading it
            form.add_error("file", request.upload_refused)
        elif form.is_valid():
            try:
                contact_import = services.contact_import_upload_file(
                    tenant=request.tenant, actor=request.user, upload=form.cleaned_data["file"]
                )
            except ValidationError as exc:
                form.add_error("file", exc)
            else:
                return redirect("contacts:import", pk=contact_import.pk)
        return self.get(request, form=form, status=400)


def _import(view: TenantScopedMixin, pk) -> ContactImport:
    return view.get_scoped_or_404(ContactImport.objects.select_related("created_by"), pk=pk)


def _settings_form(contact_import: ContactImport, data=None) -> ImportSettingsForm:
    initial = {
        "consent_mode": contact_import.consent_mode,
        "consent_kind": contact_import.consent_kind,
        "consent_source": contact_import.consent_source or f"import: {contact_import.original_name}",
        "consent_captured_at": contact_import.consent_captured_at,
        "consent_evidence": contact_import.consent_evidence,
        "add_tags": contact_import.add_tags,
    }
    for i, header in enumerate(contact_import.headers):
        initial[f"col_{i}"] = contact_import.mapping.get(header) or (
            "custom" if header in contact_import.custom_columns else ""
        )
    return ImportSettingsForm(data, headers=contact_import.headers, initial=initial)


class ImportDetailView(TenantScopedMixin, View):
    """The import page: mapping and consent (before), live progress (during), report (after)."""

    post_permission = Perm.CONTACTS_IMPORT

    def _render(self, request, contact_import, form=None, status=200):
        form = form or _settings_form(contact_import)
        columns = [
            (field, [row[i] for row in contact_import.sample_rows if i < len(row) and row[i].strip()][:3])
            for i, field in enumerate(form.column_fields())
        ]
        counts = (
            contact_import.commit_counts
            if contact_import.status == ContactImport.Status.COMMITTED
            else contact_import.preview_counts
        )
        return render(
            request,
            "contacts/import_detail.html",
            {
                "imp": contact_import,
                "form": form,
                "columns": columns,
                "same_file": selectors.same_file_imports(contact_import=contact_import)[:3],
                "outcomes": [(o.value, o.label, (counts or {}).get(o.value, 0)) for o in ImportOutcome],
                "preview_counts": [(o.label, contact_import.preview_counts.get(o.value, 0)) for o in ImportOutcome],
                "editable": contact_import.status in services.CONFIGURABLE,
                "discardable": contact_import.status in services.DISCARDABLE
                and not services.import_wrote_rows(contact_import),
            },
            status=status,
        )

    def get(self, request, pk):
        return self._render(request, _import(self, pk))

    def post(self, request, pk):
        contact_import = _import(self, pk)
        form = _settings_form(contact_import, request.POST)
        if form.is_valid():
            mapping, custom = form.mapping()
            data = form.cleaned_data
            try:
                services.contact_import_configure(
                    contact_import=contact_import,
                    actor=request.user,
                    mapping=mapping,
                    custom_columns=custom,
                    add_tags=data["add_tags"],
                    consent_mode=data["consent_mode"],
                    consent_kind=data["consent_kind"]
                    if data["consent_mode"] == ConsentMode.DECLARATION or data["consent_kind"]
                    else "",
                    consent_source=data["consent_source"],
                    consent_captured_at=data["consent_captured_at"],
                    consent_evidence=data["consent_evidence"],
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                return redirect("contacts:import", pk=contact_import.pk)
        return self._render(request, contact_import, form=form, status=400)


class ImportCommitView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_IMPORT

    def post(self, request, pk):
        contact_import = _import(self, pk)
        try:
            services.contact_import_commit(contact_import=contact_import, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("contacts:import", pk=contact_import.pk)


class ImportDiscardView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_IMPORT

    def post(self, request, pk):
        contact_import = _import(self, pk)
        try:
            services.contact_import_discard(contact_import=contact_import, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{contact_import.original_name} discarded: nothing from it was imported.")
        return redirect("contacts:import", pk=contact_import.pk)


class ImportProgressView(TenantScopedMixin, View):
    def get(self, request, pk):
        return JsonResponse(selectors.import_progress(_import(self, pk)))


class ImportRejectedView(TenantScopedMixin, View):
    permission = Perm.CONTACTS_IMPORT

    def get(self, request, pk):
        return rejected_rows_download(_import(self, pk))
