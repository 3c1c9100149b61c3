"""The REST API for contacts, their consent and the do-not-contact list (issue 18).

- ``contacts/``: list (filters ``phone`` in any format, ``tag``, ``consent``, ``updated_since``),
  retrieve, create, update (PUT needs ``phone``; PATCH any field), delete (admin).
- ``contacts/by-phone/{phone}/``: PUT creates the contact with that number (201) or updates it (200);
  form integrations call it without knowing the id.
- ``contacts/{id}/consent/``: the append-only consent history; POST appends (a withdrawal too).
- ``do-not-contact/``: the list; POST adds one number or a list (admin, as on the page);
  ``do-not-contact/{phone}/``: GET 200 when listed, 404 when not; DELETE lifts it (admin,
  ``reason`` required in the JSON body or the query string).

A phone in a URL may be in any format, URL-encoded (``%2B61412345678``, ``0412%20345%20678``).
Consent evidence is required to create a contact, and to update through ``by-phone/`` a
contact without current consent: a form submission is where new consent comes from. Who may do
what is the role matrix (``tenants.roles``): viewers read; staff and admins write contacts and
consent; admins delete contacts and manage the do-not-contact list. Every write goes through
``contacts.services``, which checks and audits it as the pages' writes are.
"""

from __future__ import annotations

from urllib.parse import unquote

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from contacts import selectors, services
from contacts.models import ConsentRecord, Contact
from contacts.phones import normalize_phone
from contacts.serializers import (
    CONSENT_FILTERS,
    ConsentRecordInputSerializer,
    ConsentRecordSerializer,
    ContactFieldsSerializer,
    ContactFilterSerializer,
    ContactSerializer,
    ContactWriteSerializer,
    DncAddSerializer,
    DncBulkResultSerializer,
    DncEntrySerializer,
    DncRemoveSerializer,
)
from tenants.api.idempotency import idempotent
from tenants.api.views import TenantScopedAPIMixin
from tenants.roles import Perm

CONSENT_REQUIRED = (
    "Consent evidence is required for a contact without current consent: give consent with kind "
    "(express or inferred), source and captured_at (evidence is optional)."
)
EVIDENCE = {
    "kind": "express",
    "source": "web form",
    "captured_at": "2026-01-31T10:00:00+11:00",
    "evidence": "signup form #12",
}
CREATE_EXAMPLE = OpenApiExample(
    "A new contact with consent",
    request_only=True,
    value={"phone": "0412 345 678", "first_name": "Ann", "tags": ["web"], "consent": EVIDENCE},
)
UPSERT_EXAMPLE = OpenApiExample(
    "A form submission", request_only=True, value={"first_name": "Ann", "email": "ann@example.com", "consent": EVIDENCE}
)
WITHDRAWAL_EXAMPLE = OpenApiExample(
    "A withdrawal",
    request_only=True,
    value={
        "kind": "express",
        "source": "asked at the counter",
        "captured_at": "2026-02-03T09:30:00+11:00",
        "withdrawn": True,
    },
)
DNC_ONE_EXAMPLE = OpenApiExample("One number", request_only=True, value={"phone": "0412 345 679"})
DNC_LIST_EXAMPLE = OpenApiExample(
    "A list, all or nothing",
    request_only=True,
    value={"phones": ["0412 345 679", "+61 412 345 680"], "reason": "complaint", "note": "rang the shop"},
)
PHONE_IN_PATH = OpenApiParameter(
    "phone", str, OpenApiParameter.PATH, description="A number in any format, URL-encoded: %2B61412345678."
)


class BusinessTimeMixin:
    """Date-times are read (when they carry no offset) and shown in the business's time zone, as
    on the pages. The middleware activates it for a session; a key's tenant is known only once
    the key is checked, so it is activated here (the middleware deactivates it afterwards)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        timezone.activate(self.tenant.zone)


def phone_in_path(raw: str) -> str | None:
    """The E.164 form of a phone in a URL (any format, URL-encoded once more or not), or None."""
    return normalize_phone(unquote(raw)).e164


# --- contacts ---------------------------------------------------------------------------------


@extend_schema(tags=["contacts"])
class ContactViewSet(
    BusinessTimeMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet
):
    """The business's contacts. Viewers read; staff and admins write; admins delete."""

    serializer_class = ContactSerializer
    lookup_value_regex = "[0-9]+"
    write_permission = Perm.CONTACTS_EDIT
    action_permissions = {"destroy": Perm.CONTACTS_DELETE}

    def get_queryset(self):
        return selectors.contacts_for(tenant=self.tenant)

    def _fetch(self, contact: Contact) -> Contact:
        """``contact`` again, as the API shows it (annotated with its do-not-contact state)."""
        return self.get_queryset().get(pk=contact.pk)

    def _shown(self, contact: Contact, code=status.HTTP_200_OK) -> Response:
        return Response(ContactSerializer(self._fetch(contact)).data, status=code)

    @extend_schema(parameters=[ContactFilterSerializer])
    def list(self, request, *args, **kwargs):
        """The contacts, newest first, in cursor pages; filters combine (all must match)."""
        return super().list(request, *args, **kwargs)

    def retrieve(self, request, *args, **kwargs):
        """One contact."""
        return super().retrieve(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        given = {name: value for name, value in self.request.query_params.items() if value.strip()}
        filters = ContactFilterSerializer(data=given)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        queryset = selectors.contacts_for(
            tenant=self.tenant, tag=values.get("tag", ""), consent=CONSENT_FILTERS.get(values.get("consent"), "")
        )
        if "phone" in values:
            queryset = queryset.filter(phone_e164=values["phone"])
        if "updated_since" in values:
            queryset = queryset.filter(updated_at__gte=values["updated_since"])
        return queryset

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer}, examples=[CREATE_EXAMPLE])
    @idempotent
    def create(self, request, *args, **kwargs):
        """A new contact; ``consent`` is required. A number that is already a contact is a 400
        (``fields.phone``): update it by id, or upsert it with PUT ``contacts/by-phone/{phone}/``."""
        serializer = ContactWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        phone = fields.pop("phone")
        existing = self.get_queryset().filter(phone_e164=phone).first()
        if existing is not None:
            update = f"PATCH contacts/{existing.pk}/ or PUT contacts/by-phone/{phone}/"
            raise ValidationError({"phone": [f"{phone} is already a contact (id {existing.pk}): {update} updates it."]})
        return self._shown(self._create(phone, fields), status.HTTP_201_CREATED)

    def _create(self, phone: str, fields: dict) -> Contact:
        if not fields.get("consent"):
            raise ValidationError({"consent": [CONSENT_REQUIRED]})
        return services.contact_create(tenant=self.tenant, actor=self.actor, phone=phone, **fields)

    def _update(self, contact: Contact, fields: dict, *, phone: str | None = None) -> Contact:
        """Change the given fields and record the consent given, unless the same record is on file
        already (a PUT sent twice records its consent once)."""
        consent = fields.pop("consent", None)
        with transaction.atomic():
            if phone is not None or fields:
                contact = services.contact_update(contact=contact, actor=self.actor, phone=phone, **fields)
            if consent and not ConsentRecord.objects.filter(contact=contact, withdrawn=False, **consent).exists():
                services.consent_record_add(contact=contact, actor=self.actor, **consent)
        return contact

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def update(self, request, *args, partial=False, **kwargs):
        """Change a contact. PUT needs ``phone``; both change only the fields given. ``consent``,
        when given, is appended to the contact's consent records."""
        contact = self.get_object()
        serializer = ContactWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        return self._shown(self._update(contact, fields, phone=fields.pop("phone", None)))

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(responses={204: None})
    def destroy(self, request, *args, **kwargs):
        """Delete a contact and its consent history (admin). Its do-not-contact entry stays."""
        services.contact_delete(contact=self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[PHONE_IN_PATH],
        request=ContactFieldsSerializer,
        responses={200: ContactSerializer, 201: ContactSerializer},
        examples=[UPSERT_EXAMPLE],
    )
    @action(detail=False, methods=["put"], url_path=r"by-phone/(?P<phone>[^/]+)", url_name="by-phone")
    def by_phone(self, request, phone: str):
        """Create (201) or update (200) the contact with this number, for form integrations.
        ``consent`` is required unless the contact exists and has current consent; fields left
        out are unchanged."""
        serializer = ContactFieldsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        try:
            e164 = services.phone_require_mobile(unquote(phone))
        except DjangoValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from None
        contact = self.get_queryset().filter(phone_e164=e164).first()
        if contact is None:
            try:
                return self._shown(self._create(e164, dict(fields)), status.HTTP_201_CREATED)
            except DjangoValidationError:
                contact = self.get_queryset().filter(phone_e164=e164).first()
                if contact is None:
                    raise
                # Another request made it in the meantime: update it as if it had been there.
        if not contact.has_consent and not fields.get("consent"):
            raise ValidationError({"consent": [CONSENT_REQUIRED]})
        return self._shown(self._update(contact, fields))


@extend_schema(tags=["contacts"])
class ConsentViewSet(BusinessTimeMixin, TenantScopedAPIMixin, mixins.ListModelMixin, GenericViewSet):
    """A contact's consent records, the most recently recorded first. Append-only: POST adds one; a withdrawal is a
    record with ``withdrawn: true``; the latest by ``captured_at`` decides the contact's consent."""

    serializer_class = ConsentRecordSerializer
    write_permission = Perm.CONTACTS_EDIT

    def _contact(self) -> Contact:
        return self.get_scoped_or_404(Contact, pk=self.kwargs["contact_pk"])

    def get_queryset(self):
        return self._contact().consent_records.select_related("recorded_by")

    def list(self, request, *args, **kwargs):
        """The contact's consent records (evidence and withdrawals), in cursor pages."""
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=ConsentRecordInputSerializer,
        responses={201: ConsentRecordSerializer},
        examples=[OpenApiExample("Consent", request_only=True, value=EVIDENCE), WITHDRAWAL_EXAMPLE],
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        contact = self._contact()
        serializer = ConsentRecordInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.consent_record_add(contact=contact, actor=self.actor, **serializer.validated_data)
        return Response(ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)


# --- do-not-contact ---------------------------------------------------------------------------


DNC_ADDED = PolymorphicProxySerializer(
    component_name="DncAdded",
    serializers=[DncEntrySerializer, DncBulkResultSerializer],
    resource_type_field_name=None,
)
REMOVAL_REASON = OpenApiParameter(
    "reason",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Why the number may be messaged again (kept in the activity log). Required: here, or as "
    '"reason" in a JSON body.',
)


@extend_schema(tags=["do-not-contact"])
class DncViewSet(
    BusinessTimeMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet
):
    """The do-not-contact list. Any role reads it (an order system checks a number with a viewer
    key); adding and removing numbers is for admins, as on the page (``Perm.DNC_MANAGE``)."""

    serializer_class = DncEntrySerializer
    lookup_field = "phone"
    lookup_value_regex = "[^/]+"
    write_permission = Perm.DNC_MANAGE

    def get_queryset(self):
        return selectors.dnc_entries_for(tenant=self.tenant)

    def list(self, request, *args, **kwargs):
        """The numbers on the list, the most recently added first, in cursor pages."""
        return super().list(request, *args, **kwargs)

    def get_object(self):
        """The entry for the number in the URL; 404 when it is not listed or not a number."""
        e164 = phone_in_path(self.kwargs["phone"])
        entry = selectors.dnc_entry_for_phone(tenant=self.tenant, phone_e164=e164) if e164 else None
        if entry is None:
            raise Http404
        return entry

    @extend_schema(
        parameters=[PHONE_IN_PATH],
        responses={
            200: DncEntrySerializer,
            404: OpenApiResponse(description="The number is not on the list (or is not a phone number)."),
        },
    )
    def retrieve(self, request, *args, **kwargs):
        """Whether a number is on the list: 200 with its entry, 404 when it is not."""
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        request=DncAddSerializer,
        responses={201: DNC_ADDED, 200: DNC_ADDED},
        examples=[DNC_ONE_EXAMPLE, DNC_LIST_EXAMPLE],
    )
    @idempotent
    def create(self, request, *args, **kwargs):
        """``{"phone": …}``: 201 with the entry, or 200 with it when the number was listed already.
        ``{"phones": [...]}``: all or nothing; 201 when any was added, else 200, with the counts."""
        serializer = DncAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "phone" in data:
            entry, created = services.dnc_add(
                tenant=self.tenant, phone=data["phone"], reason=data["reason"], actor=self.actor, note=data["note"]
            )
            code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return Response(DncEntrySerializer(entry).data, status=code)
        result = services.dnc_add_many(
            tenant=self.tenant,
            text="\n".join(data["phones"]),
            actor=self.actor,
            reason=data["reason"],
            note=data["note"],
        )
        if result.invalid:  # checked above already; the service's own check has the last word
            bad = "; ".join(f"phones[{line - 1}]: {item!r}" for line, item in result.invalid[:20])
            raise ValidationError({"phones": [f"Nothing added. These are not phone numbers: {bad}."]})
        body = DncBulkResultSerializer({"added": result.added, "already_listed": result.already}).data
        return Response(body, status=status.HTTP_201_CREATED if result.added else status.HTTP_200_OK)

    @extend_schema(parameters=[PHONE_IN_PATH, REMOVAL_REASON], request=DncRemoveSerializer, responses={204: None})
    def destroy(self, request, *args, **kwargs):
        """Lift a number from the list (admin). ``reason`` is required, in a JSON body
        (``{"reason": "…"}``) or the query string (``?reason=…``); it goes into the activity log."""
        entry = self.get_object()
        given = request.data if isinstance(request.data, dict) and "reason" in request.data else request.query_params
        serializer = DncRemoveSerializer(data={"reason": given.get("reason", "")})
        serializer.is_valid(raise_exception=True)
        services.dnc_remove(entry=entry, actor=self.actor, reason=serializer.validated_data["reason"])
        return Response(status=status.HTTP_204_NO_CONTENT)
