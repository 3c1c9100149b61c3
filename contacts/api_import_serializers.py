"""What the imports API reads and writes (``contacts.api_imports``): an import's settings in,
its preview counts, progress and report out, in the words of the import page."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils import html

from contacts import csvfiles, selectors, services
from contacts.models import ACCEPTED_OUTCOMES, ConsentKind, ConsentMode, ContactImport, ImportOutcome
from contacts.rowvalues import split_tags

# A column is imported as one of the fields, kept as a custom field, or left out (""), as on the page.
CUSTOM = "custom"
COLUMN_CHOICES = ("", *(name for name, _label in csvfiles.FIELDS), CUSTOM)
TAG_MAX_CHARS = 50
TAGS_MAX = 50


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "enum": list(COLUMN_CHOICES)},
        "example": {"Mobile": "phone", "Given name": "first_name", "Favourite loaf": CUSTOM, "Internal id": ""},
    }
)
class MappingField(serializers.JSONField):
    """``{column header: field}``: a JSON object (in a multipart upload, its JSON text)."""

    def to_internal_value(self, data) -> dict[str, str]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Give an object of column header → field.")
        if len(value) > settings.CONTACT_IMPORT_MAX_COLUMNS:
            raise serializers.ValidationError(f"At most {settings.CONTACT_IMPORT_MAX_COLUMNS} columns.")
        wrong = [header for header, field in value.items() if not isinstance(field, str) or field not in COLUMN_CHOICES]
        if wrong:
            raise serializers.ValidationError(
                f"Not a field for {', '.join(repr(header) for header in wrong[:5])}: choose one of "
                f"{', '.join(repr(choice) for choice in COLUMN_CHOICES)}."
            )
        return value


class TagsField(serializers.ListField):
    """A list of tags, or one text of them separated by commas (as the page takes them)."""

    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(max_length=TAG_MAX_CHARS), max_length=TAGS_MAX, **kwargs)

    def get_value(self, dictionary):
        value = super().get_value(dictionary)
        if html.is_html_input(dictionary) and isinstance(value, list) and len(value) == 1:
            return value[0]  # one form field: "vip, newsletter"
        return value

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, str):
            data = split_tags(data)  # as the page takes them
        return [tag for tag in (tag.strip() for tag in super().to_internal_value(data)) if tag]


class ImportSettingsSerializer(serializers.Serializer):
    """The import page's "Columns and consent" form: the mapping and how consent was obtained."""

    mapping = MappingField(
        required=False,
        help_text='Changes to the column mapping, {column header: field}; "custom" keeps a column as a custom '
        'field, "" leaves it out. Columns not named keep their mapping (after an upload: the automatic one).',
    )
    consent_mode = serializers.ChoiceField(
        choices=ConsentMode.choices,
        default=ConsentMode.DECLARATION,
        help_text="declaration: one declaration for the file; column: consent columns in the file (the "
        "declaration's fields are then the defaults for rows that leave them empty).",
    )
    consent_kind = serializers.ChoiceField(choices=ConsentKind.choices, allow_blank=True, default="")
    consent_source = serializers.CharField(
        max_length=200, allow_blank=True, default="", help_text="Where consent was obtained."
    )
    consent_captured_at = serializers.DateTimeField(
        allow_null=True,
        default=None,
        help_text="When consent was obtained (ISO 8601; without an offset, in the business's time zone).",
    )
    consent_evidence = serializers.CharField(allow_blank=True, default="", trim_whitespace=False)
    add_tags = TagsField(required=False, help_text="Tags every imported contact gets.")

    def configure_kwargs(self, contact_import: ContactImport) -> dict:
        """``contact_import_configure``'s settings: the mapping's changes applied to the import's."""
        data = self.validated_data
        mapping, custom = dict(contact_import.mapping), list(contact_import.custom_columns)
        for header, field in data.get("mapping", {}).items():
            mapping.pop(header, None)
            custom = [column for column in custom if column != header]
            if field == CUSTOM:
                custom.append(header)
            elif field:
                mapping[header] = field
        return {
            "mapping": mapping,
            "custom_columns": custom,
            "add_tags": data.get("add_tags", contact_import.add_tags),
            "consent_mode": data["consent_mode"],
            "consent_kind": data["consent_kind"],
            "consent_source": data["consent_source"],
            "consent_captured_at": data["consent_captured_at"],
            "consent_evidence": data["consent_evidence"],
        }


SETTINGS_FIELDS = frozenset(ImportSettingsSerializer().fields)


class ImportUploadSerializer(ImportSettingsSerializer):
    """A file to import (CSV or TSV), with the settings optionally: then the dry run starts."""

    file = serializers.FileField(help_text="CSV or TSV, up to 1,000,000 rows. Excel: File › Save As › CSV UTF-8.")


# --- out ----------------------------------------------------------------------------------------


class ImportProgressSerializer(serializers.Serializer):
    running = serializers.BooleanField(help_text="A dry run or an import is under way.")
    rows_done = serializers.IntegerField()
    rows_total = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(allow_null=True)
    rows_per_second = serializers.IntegerField(allow_null=True)
    seconds_left = serializers.IntegerField(allow_null=True)


class ImportCountsSerializer(serializers.Serializer):
    """Rows per outcome, with the accepted and rejected totals."""

    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    duplicate = serializers.IntegerField(help_text="Duplicate in file.")
    invalid_phone = serializers.IntegerField()
    not_mobile = serializers.IntegerField()
    missing_consent = serializers.IntegerField()
    dnc = serializers.IntegerField(help_text="On the do-not-contact list.")
    accepted = serializers.IntegerField(help_text="Created, updated or unchanged.")
    rejected = serializers.IntegerField(help_text="Every other row: in the rejected rows CSV.")


def _counts(stored: dict) -> dict:
    counts = {outcome.value: stored.get(outcome.value, 0) for outcome in ImportOutcome}
    accepted = sum(counts[outcome] for outcome in ACCEPTED_OUTCOMES)
    return {**counts, "accepted": accepted, "rejected": sum(counts.values()) - accepted}


def _outside_au(stored: dict) -> dict:
    return {
        "count": stored.get("count", 0),
        "countries": [{"country": country, "rows": rows} for country, rows in stored.get("countries", [])],
        "rows": [{"row": row, "country": country} for row, country in stored.get("rows", [])],
    }


class ImportOutsideAuSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Accepted rows with a number outside Australia (kept).")
    countries = serializers.ListField(child=serializers.DictField(), help_text="[{country, rows}], most first.")
    rows = serializers.ListField(child=serializers.DictField(), help_text="[{row, country}], the first 100.")


class ImportPreviewSerializer(serializers.Serializer):
    counts = ImportCountsSerializer()
    outside_au = ImportOutsideAuSerializer()
    previewed_at = serializers.DateTimeField()
    rejected_rows_available = serializers.BooleanField(help_text="GET …/rejected/ gives them as CSV.")


class ImportResultSerializer(serializers.Serializer):
    counts = ImportCountsSerializer()
    committed_rows = serializers.IntegerField(help_text="Rows written so far (the checkpoint).")
    committed_at = serializers.DateTimeField(allow_null=True)
    data_changed = serializers.BooleanField(
        help_text="Contacts or the do-not-contact list changed between the preview and the import."
    )


class ImportSerializer(serializers.Serializer):
    """An import as a list shows it: status, progress, the preview's counts and the result."""

    id = serializers.IntegerField()
    original_name = serializers.CharField()
    status = serializers.ChoiceField(choices=ContactImport.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    error = serializers.CharField(help_text="Why it failed; empty otherwise.")
    size_bytes = serializers.IntegerField()
    add_tags = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    progress = serializers.SerializerMethodField()
    preview = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()

    @extend_schema_field(ImportProgressSerializer)
    def get_progress(self, contact_import) -> dict:
        progress = selectors.import_progress(contact_import)
        return {name: progress[name] for name in ImportProgressSerializer().fields}

    @extend_schema_field(ImportPreviewSerializer(allow_null=True))
    def get_preview(self, contact_import) -> dict | None:
        if contact_import.previewed_at is None:
            return None
        return {
            "counts": _counts(contact_import.preview_counts),
            "outside_au": _outside_au(contact_import.outside_au),
            "previewed_at": serializers.DateTimeField().to_representation(contact_import.previewed_at),
            "rejected_rows_available": bool(contact_import.rejected_path),
        }

    @extend_schema_field(ImportResultSerializer(allow_null=True))
    def get_result(self, contact_import) -> dict | None:
        if contact_import.status not in (ContactImport.Status.COMMITTING, ContactImport.Status.COMMITTED):
            return None
        committed_at = contact_import.committed_at
        return {
            "counts": _counts(contact_import.commit_counts),
            "committed_rows": contact_import.committed_rows,
            "committed_at": committed_at and serializers.DateTimeField().to_representation(committed_at),
            "data_changed": contact_import.data_changed,
        }


class ImportPreviewRowSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row number in the file (1 = the first after the header).")
    phone_e164 = serializers.CharField(allow_null=True, help_text="Null when the number cannot be read.")
    phone_as_written = serializers.CharField(allow_null=True, help_text="The cell, when it is not a number.")
    name = serializers.CharField()
    email = serializers.CharField()
    outcome = serializers.ChoiceField(choices=ImportOutcome.choices)
    reason = serializers.CharField()


class ImportDetailSerializer(ImportSerializer):
    """One import as its page shows it: the file, its mapping and consent settings, the first rows."""

    sha256 = serializers.CharField()
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    headers = serializers.ListField(child=serializers.CharField())
    sample_rows = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    mapping = serializers.SerializerMethodField(help_text='{column header: field, "custom" or ""} for every column.')
    consent_mode = serializers.CharField()
    consent_kind = serializers.CharField()
    consent_source = serializers.CharField()
    consent_captured_at = serializers.DateTimeField(allow_null=True)
    consent_evidence = serializers.CharField()
    preview_rows = serializers.SerializerMethodField()
    same_file_imports = serializers.SerializerMethodField()
    editable = serializers.SerializerMethodField(help_text="Its settings can still change (POST …/configure/).")

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_mapping(self, contact_import) -> dict:
        custom = set(contact_import.custom_columns)
        return {
            header: contact_import.mapping.get(header) or (CUSTOM if header in custom else "")
            for header in contact_import.headers
        }

    @extend_schema_field(ImportPreviewRowSerializer(many=True))
    def get_preview_rows(self, contact_import) -> list[dict]:
        return [
            {
                "row": row["row"],
                "phone_e164": None if row["outcome"] == ImportOutcome.INVALID_PHONE else row["phone"],
                "phone_as_written": row["phone"] if row["outcome"] == ImportOutcome.INVALID_PHONE else None,
                "name": row["name"],
                "email": row["email"],
                "outcome": row["outcome"],
                "reason": row["reason"],
            }
            for row in contact_import.preview_rows
        ]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_same_file_imports(self, contact_import) -> list[int]:
        """Earlier imports of this very file (same SHA-256)."""
        return list(selectors.same_file_imports(contact_import=contact_import).values_list("pk", flat=True)[:3])

    def get_editable(self, contact_import) -> bool:
        return contact_import.status in services.CONFIGURABLE
