"""/api/v1/imports/: contact imports, through the import pages' services.

The way through is the page's: upload a file (``POST imports/``) → its settings (column mapping
and consent) start the dry run, a Celery task (with the upload, or ``POST imports/{id}/configure/``)
→ read the preview's counts and progress (``GET imports/{id}/``) and the rejected rows
(``GET imports/{id}/rejected/``, CSV) → ``POST imports/{id}/commit/`` (a task again; 202) or
``POST imports/{id}/discard/``.

Roles are the page's: every role reads an import; uploading, configuring, committing, discarding
and the rejected rows (personal data of people not imported) need ``Perm.CONTACTS_IMPORT``.
Uploads go through the page's edge: the upload handler streams the file to disk and stops past
``CONTACT_IMPORT_MAX_BYTES`` (``/api/v1/imports/`` is one of ``IMPORT_UPLOAD_PATHS``), and the
service refuses what is not a CSV; both answer a 400 naming ``file``. An action the import's
state does not allow (committing one not previewed, changing a committed one) is a 409.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from contacts import selectors, services
from contacts.api_import_serializers import (
    SETTINGS_FIELDS,
    ImportDetailSerializer,
    ImportSerializer,
    ImportSettingsSerializer,
    ImportUploadSerializer,
)
from contacts.downloads import rejected_rows_download
from contacts.models import ContactImport
from tenants.api.errors import Conflict
from tenants.api.idempotency import idempotent
from tenants.api.views import TenantScopedAPIMixin
from tenants.roles import Perm


class CsvRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/csv``; the file itself is a ready response."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if isinstance(data, dict) else data  # an error body stays readable


def _state_refusal(exc: ValidationError) -> Exception:
    """A service's refusal in the API's words. The import services refuse a wrong state (already
    committed, not previewed yet, running) with a message that names no field: a 409. Problems
    with the settings name their field (``custom_columns`` is the API's ``mapping``): a 400."""
    if not hasattr(exc, "error_dict"):
        return Conflict(" ".join(exc.messages))
    fields = {("mapping" if name == "custom_columns" else name): errors for name, errors in exc.message_dict.items()}
    return serializers.ValidationError(fields)


def _upload_refusal(exc: ValidationError) -> Exception:
    """Refused by the upload (not a CSV, too many columns, no phone column...): a 400 naming
    ``file``; refused by the settings sent with it: those fields."""
    if not hasattr(exc, "error_dict"):
        return serializers.ValidationError({"file": exc.messages})
    return _state_refusal(exc)


def _filters(params) -> dict:
    """``status``: one of the import statuses; anything else is a 400 naming it."""
    wanted = params.get("status")
    if wanted is not None and wanted not in ContactImport.Status.values:
        raise serializers.ValidationError({"status": [f"One of: {', '.join(ContactImport.Status.values)}."]})
    return {"status": wanted}


COUNTS = {
    "create": 3,
    "update": 1,
    "unchanged": 0,
    "duplicate": 1,
    "invalid_phone": 1,
    "not_mobile": 1,
    "missing_consent": 0,
    "dnc": 1,
    "accepted": 4,
    "rejected": 4,
}
IMPORT_EXAMPLE = OpenApiExample(
    "A previewed import",
    value={
        "id": 41,
        "original_name": "customers.csv",
        "status": "previewed",
        "status_label": "Preview ready",
        "error": "",
        "size_bytes": 262,
        "add_tags": ["imported"],
        "created_at": "2026-03-14T09:30:00+11:00",
        "created_by": "sam@acme.example",
        "progress": {
            "running": False,
            "rows_done": 8,
            "rows_total": 8,
            "percent": 100.0,
            "rows_per_second": None,
            "seconds_left": None,
        },
        "preview": {
            "counts": COUNTS,
            "outside_au": {"count": 0, "countries": [], "rows": []},
            "previewed_at": "2026-03-14T09:30:02+11:00",
            "rejected_rows_available": True,
        },
        "result": None,
    },
    response_only=True,
)
UPLOADED_EXAMPLE = OpenApiExample(
    "Uploaded, waiting for its settings (201)",
    value={
        **IMPORT_EXAMPLE.value,
        "status": "uploaded",
        "status_label": "Uploaded: map the columns",
        "add_tags": [],
        "progress": {**IMPORT_EXAMPLE.value["progress"], "rows_done": 0, "rows_total": None, "percent": None},
        "preview": None,
        "sha256": "9f2c…",
        "encoding": "utf-8",
        "delimiter": ",",
        "headers": ["Mobile", "Given name", "Favourite loaf"],
        "sample_rows": [["0412 345 678", "Ada", "Rye"]],
        "mapping": {"Mobile": "phone", "Given name": "first_name", "Favourite loaf": ""},
        "consent_mode": "declaration",
        "consent_kind": "",
        "consent_source": "",
        "consent_captured_at": None,
        "consent_evidence": "",
        "preview_rows": [],
        "same_file_imports": [],
        "editable": True,
    },
    response_only=True,
)
UPLOAD_EXAMPLE = OpenApiExample(
    "A file with its consent declaration",
    description="multipart/form-data. Without the settings the import waits, uploaded, for "
    "POST imports/{id}/configure/.",
    value={
        "file": "(customers.csv)",
        "mapping": '{"Given name": "first_name", "Favourite loaf": "custom"}',
        "consent_mode": "declaration",
        "consent_kind": "express",
        "consent_source": "sign-up sheet at the counter",
        "consent_captured_at": "2026-01-31T10:00:00+11:00",
        "add_tags": "imported, autumn",
    },
    request_only=True,
)
SETTINGS_EXAMPLE = OpenApiExample(
    "A consent declaration",
    value={
        "mapping": {"Mobile": "phone", "Notes": ""},
        "consent_mode": "declaration",
        "consent_kind": "express",
        "consent_source": "sign-up form on our website",
        "consent_captured_at": "2026-01-31T10:00:00+11:00",
        "consent_evidence": "form submissions kept in the CRM",
        "add_tags": ["website"],
    },
    request_only=True,
)


@extend_schema_view(
    list=extend_schema(
        summary="List imports",
        parameters=[
            OpenApiParameter("status", str, enum=ContactImport.Status.values, description="Only imports in it.")
        ],
        examples=[IMPORT_EXAMPLE],
    ),
    retrieve=extend_schema(
        summary="Read an import: its preview, progress and result",
        description="Poll it while `progress.running`: the dry run and the import are Celery tasks.",
        examples=[IMPORT_EXAMPLE],
    ),
)
class ImportViewSet(TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Contact imports of the key's business: upload, dry run, commit, as on the import page."""

    queryset = ContactImport.objects.all()
    action_permissions = {
        "list": Perm.VIEW,
        "retrieve": Perm.VIEW,
        "create": Perm.CONTACTS_IMPORT,
        "configure": Perm.CONTACTS_IMPORT,
        "commit": Perm.CONTACTS_IMPORT,
        "discard": Perm.CONTACTS_IMPORT,
        "rejected": Perm.CONTACTS_IMPORT,
    }

    def get_queryset(self):
        if self.action != "list":
            return selectors.imports_for(tenant=self.tenant)
        wanted = _filters(self.request.query_params)["status"]
        queryset = selectors.import_list_for(tenant=self.tenant)
        return queryset.filter(status=wanted) if wanted else queryset

    def get_serializer_class(self):
        return ImportSerializer if self.action == "list" else ImportDetailSerializer

    def _answer(self, contact_import: ContactImport, code: int) -> Response:
        headers = {"Location": reverse("api:import-detail", args=[contact_import.pk])}
        return Response(ImportDetailSerializer(contact_import).data, status=code, headers=headers)

    def _settings(self, serializer_class, data):
        serializer = serializer_class(data=data)
        with timezone.override(self.tenant.zone):  # a time without an offset is the business's, as on the page
            serializer.is_valid(raise_exception=True)
        return serializer

    @extend_schema(
        summary="Upload a file to import",
        description="201: uploaded, waiting for its settings. 202: the settings came with it and the dry run "
        "has started: poll the import.",
        request={"multipart/form-data": ImportUploadSerializer},
        responses={201: ImportDetailSerializer, 202: ImportDetailSerializer},
        examples=[UPLOAD_EXAMPLE, UPLOADED_EXAMPLE],
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        _ = request.data  # parse the body now: the upload handler marks a file it stopped reading
        refused = getattr(request._request, "upload_refused", "")
        if refused:  # the upload handler stopped reading it (over the size limit)
            raise serializers.ValidationError({"file": [refused]})
        serializer = self._settings(ImportUploadSerializer, request.data)
        upload = serializer.validated_data["file"]
        configure = bool(SETTINGS_FIELDS & set(request.data))
        try:
            if configure:
                contact_import = services.contact_import_upload_configured(
                    tenant=self.tenant, actor=self.actor, upload=upload, settings_for=serializer.configure_kwargs
                )
            else:
                contact_import = services.contact_import_upload_file(
                    tenant=self.tenant, actor=self.actor, upload=upload
                )
        except ValidationError as exc:
            raise _upload_refusal(exc) from None
        return self._answer(contact_import, status.HTTP_202_ACCEPTED if configure else status.HTTP_201_CREATED)

    @extend_schema(
        summary="Set the mapping and consent, and start the dry run",
        description="As the import page's “Check every row”: allowed while uploaded, previewed or failed (409 "
        "otherwise). The preview is computed by a task: poll the import.",
        request=ImportSettingsSerializer,
        responses={202: ImportDetailSerializer},
        examples=[SETTINGS_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def configure(self, request, pk=None):
        contact_import = self.get_object()
        serializer = self._settings(ImportSettingsSerializer, request.data)
        try:
            contact_import = services.contact_import_configure(
                contact_import=contact_import, actor=self.actor, **serializer.configure_kwargs(contact_import)
            )
        except ValidationError as exc:
            raise _state_refusal(exc) from None
        return self._answer(contact_import, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Import the previewed rows",
        description="Starts the import (a task; 202): poll the import until `status` is committed. Only a "
        "previewed import, or one whose import failed, can be committed (409 otherwise).",
        request=None,
        responses={202: ImportDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def commit(self, request, pk=None):
        contact_import = self.get_object()
        try:
            contact_import = services.contact_import_commit(contact_import=contact_import, actor=self.actor)
        except ValidationError as exc:
            raise _state_refusal(exc) from None
        return self._answer(contact_import, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Discard an import",
        description="Drops an import that wrote nothing (uploaded, previewed, or failed before any row): its "
        "file and preview are deleted. 409 otherwise.",
        request=None,
        responses={200: ImportDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def discard(self, request, pk=None):
        contact_import = self.get_object()
        try:
            contact_import = services.contact_import_discard(contact_import=contact_import, actor=self.actor)
        except ValidationError as exc:
            raise _state_refusal(exc) from None
        return self._answer(contact_import, status.HTTP_200_OK)

    @extend_schema(
        summary="Download the rejected rows",
        description="The dry run's rejected rows as CSV: the file's columns, then row number, outcome and "
        "reason, as the import page's download. 404 before the dry run ends and after a discard.",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The CSV file.")},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, CsvRenderer])
    def rejected(self, request, pk=None):
        contact_import = self.get_object()
        try:
            return rejected_rows_download(contact_import)
        except Http404:
            raise NotFound(
                "This import has no rejected rows file: its dry run has not finished, or it was discarded."
            ) from None
