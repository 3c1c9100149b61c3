"""The REST API's shapes for contacts, their consent records and the do-not-contact list
(``contacts.api`` serves them; docs/api.md describes them).

Input serializers only read and check what a client sent: phones in any format become E.164
here, consent is checked by the same rule as the pages (``services.consent_problems``), and
everything is then written by ``contacts.services``, never by a serializer's ``save``.
Date-times without an offset are read in the business's time zone, and every date-time is
shown in it, with its offset (``contacts.api`` activates the zone for the request).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from contacts import services
from contacts.models import (
    AustralianState,
    ConsentKind,
    ConsentRecord,
    ConsentStatus,
    Contact,
    DncReason,
    DoNotContact,
    reserved_custom_field_problem,
)
from contacts.phones import normalize_phone, phone_problem
from contacts.rowvalues import merge_tags
from tenants.models import validate_timezone

# --- consent ----------------------------------------------------------------------------------


class ConsentEvidenceSerializer(serializers.Serializer):
    """How, where and when a person consented. ``kind`` is the model's own value: "express" (they
    asked) or "inferred" (an existing business relationship)."""

    kind = serializers.ChoiceField(choices=ConsentKind.choices, help_text="express or inferred.")
    source = serializers.CharField(max_length=200, help_text="Where consent was given, e.g. 'web form'.")
    captured_at = serializers.DateTimeField(
        help_text="When consent was given (ISO 8601; without an offset, the business's time zone)."
    )
    evidence = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Text or a URL: the form, the sheet, the message."
    )

    def validate(self, attrs):
        problems = services.consent_problems(
            kind=attrs.get("kind", ""), source=attrs.get("source", ""), captured_at=attrs.get("captured_at")
        )
        if problems:
            raise serializers.ValidationError({field: [problem] for field, problem in problems.items()})
        return attrs


class ConsentRecordInputSerializer(ConsentEvidenceSerializer):
    withdrawn = serializers.BooleanField(
        required=False, default=False, help_text="true records a withdrawal of consent (a record like any other)."
    )


class ConsentRecordSerializer(serializers.ModelSerializer):
    source_import = serializers.PrimaryKeyRelatedField(read_only=True, help_text="The import that recorded it.")
    recorded_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = ConsentRecord
        fields = ["id", "kind", "withdrawn", "source", "captured_at", "evidence", "source_import", "recorded_by",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


# --- contacts ---------------------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    """A contact as the API shows it. Consent is summarised (the latest record wins): the full
    history is at ``contacts/{id}/consent/``."""

    has_consent = serializers.SerializerMethodField(help_text="Current consent (express or inferred) on file.")
    consent_kind = serializers.SerializerMethodField(
        help_text="express or inferred while consent is current, else null."
    )
    on_do_not_contact = serializers.SerializerMethodField(help_text="The number is on the do-not-contact list.")
    state = serializers.ChoiceField(choices=AustralianState.choices, allow_blank=True, read_only=True)
    email = serializers.CharField(read_only=True, help_text="An e-mail address, or empty.")

    class Meta:
        model = Contact
        fields = [
            "id", "phone_e164", "first_name", "last_name", "email", "timezone", "state", "postcode", "tags",
            "custom_fields", "has_consent", "consent_kind", "consent_status", "consent_at", "on_do_not_contact",
            "undeliverable", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_has_consent(self, contact: Contact) -> bool:
        return contact.has_consent

    def get_consent_kind(self, contact: Contact) -> str | None:
        return contact.consent_status if contact.has_consent else None

    def get_on_do_not_contact(self, contact: Contact) -> bool:
        return bool(contact.on_dnc)  # annotated by selectors.contacts_for


def _mobile(value: str) -> str:
    try:
        return services.phone_require_mobile(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from None


class ContactFieldsSerializer(serializers.Serializer):
    """The fields a client may set on a contact, and consent evidence to record with them."""

    first_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(max_length=254, required=False, allow_blank=True)
    timezone = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="IANA zone, e.g. Australia/Perth."
    )
    state = serializers.ChoiceField(choices=AustralianState.choices, required=False, allow_blank=True)
    postcode = serializers.RegexField(r"^\d{4}$", required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50, allow_blank=True), required=False)
    custom_fields = serializers.DictField(
        child=serializers.CharField(max_length=500, allow_blank=True), required=False, help_text="Name: value."
    )
    consent = ConsentEvidenceSerializer(
        required=False,
        help_text="Consent evidence, recorded with the contact. Required to create a contact, and to update "
        "one through contacts/by-phone/ that has no current consent.",
    )

    def validate_timezone(self, value: str) -> str:
        if value:
            try:
                validate_timezone(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
        return value

    def validate_tags(self, value: list[str]) -> list[str]:
        return merge_tags([], [tag.strip() for tag in value if tag.strip()])

    def validate_custom_fields(self, value: dict) -> dict:
        problems = [problem for name in value if (problem := reserved_custom_field_problem(str(name)))]
        problems += [f"“{name[:60]}…”: a name has at most 60 characters." for name in value if len(name) > 60]
        problems += [f"{name!r}: a name is printable text only." for name in value if not name.isprintable()]
        if problems:
            raise serializers.ValidationError(problems)
        return value


class ContactWriteSerializer(ContactFieldsSerializer):
    phone = serializers.CharField(
        max_length=40, help_text="A mobile number in any format: 0412 345 678, +61 412 345 678, …"
    )

    def validate_phone(self, value: str) -> str:
        return _mobile(value)


# --- list filters -----------------------------------------------------------------------------

# The contacts page's consent filter, with "current" as the API's word for its "yes" (either kept).
CONSENT_FILTERS = {"current": "yes", "yes": "yes", **{value: value for value in ConsentStatus.values}}


class ContactFilterSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, help_text="A number in any format: the contact with that number.")
    tag = serializers.CharField(required=False, help_text="Contacts with this tag (any case).")
    consent = serializers.ChoiceField(
        choices=list(CONSENT_FILTERS),
        required=False,
        help_text="current (express or inferred; 'yes' also works), none, express, inferred or withdrawn.",
    )
    updated_since = serializers.DateTimeField(
        required=False, help_text="Contacts changed at or after this time (ISO 8601)."
    )

    def validate_phone(self, value: str) -> str:
        phone = normalize_phone(value)
        if phone.e164 is None:
            raise serializers.ValidationError(f"Not a valid phone number: {phone_problem(value)}.")
        return phone.e164


# --- do-not-contact ---------------------------------------------------------------------------

# What the do-not-contact page lets a person give as the reason for adding numbers.
DNC_ADD_REASONS = [
    (DncReason.MANUAL.value, DncReason.MANUAL.label),
    (DncReason.COMPLAINT.value, DncReason.COMPLAINT.label),
]
LIST_SEPARATORS = ",;\r\n"
LIFT_REASON_MISSING = "Say why this number may be contacted again."


class DncEntrySerializer(serializers.ModelSerializer):
    added_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = DoNotContact
        fields = ["id", "phone_e164", "reason", "note", "source", "added_by", "created_at"]
        read_only_fields = fields


class DncAddSerializer(serializers.Serializer):
    """One number (``phone``) or a list (``phones``), never both. A list is all or nothing: when
    any item is not a phone number, nothing is added and each bad item is named by its position
    (``phones[0]`` is the first)."""

    phone = serializers.CharField(required=False, max_length=40, help_text="One number, any format.")
    phones = serializers.ListField(
        child=serializers.CharField(max_length=40, allow_blank=True),
        required=False,
        max_length=10_000,
        help_text="Several numbers, any format; all added or none.",
    )
    reason = serializers.ChoiceField(choices=DNC_ADD_REASONS, default=DncReason.MANUAL)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    def validate_phone(self, value: str) -> str:
        phone = normalize_phone(value)
        if phone.e164 is None:
            raise serializers.ValidationError(f"Not a valid phone number: {phone_problem(value)}.")
        return phone.e164

    def validate_phones(self, value: list[str]) -> list[str]:
        if not any(item.strip() for item in value):
            raise serializers.ValidationError("Give at least one number.")
        bad = [
            f"phones[{i}]: {item!r}"
            for i, item in enumerate(value)
            if normalize_phone(item).e164 is None or any(sep in item for sep in LIST_SEPARATORS)
        ]
        if bad:
            raise serializers.ValidationError(
                f"Nothing added. These are not phone numbers (one number per item): {'; '.join(bad[:20])}"
                + (f"; and {len(bad) - 20} more." if len(bad) > 20 else ".")
            )
        return value

    def validate(self, attrs):
        if ("phone" in attrs) == ("phones" in attrs):
            raise serializers.ValidationError({"phone": ["Give one number as phone, or a list as phones (not both)."]})
        return attrs


class DncRemoveSerializer(serializers.Serializer):
    reason = serializers.CharField(
        error_messages={"blank": LIFT_REASON_MISSING, "required": LIFT_REASON_MISSING},
        help_text="Why the number may be messaged again; kept in the activity log.",
    )


class DncBulkResultSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text="Numbers put on the list now.")
    already_listed = serializers.IntegerField(help_text="Numbers that were on it already.")
