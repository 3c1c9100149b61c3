"""Contacts, their consent evidence, the do-not-contact list and contact imports."""

import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from contacts.searchtext import contact_search_keys
from tenants.models import Tenant, validate_timezone


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} rows are append-only.")

    def delete(self):
        raise TypeError(f"{self.model.__name__} rows are append-only.")


class AustralianState(models.TextChoices):
    ACT = "ACT", "Australian Capital Territory"
    NSW = "NSW", "New South Wales"
    NT = "NT", "Northern Territory"
    QLD = "QLD", "Queensland"
    SA = "SA", "South Australia"
    TAS = "TAS", "Tasmania"
    VIC = "VIC", "Victoria"
    WA = "WA", "Western Australia"


class ConsentStatus(models.TextChoices):
    NONE = "none", "No consent on file"
    EXPRESS = "express", "Express consent"
    INFERRED = "inferred", "Inferred consent"
    WITHDRAWN = "withdrawn", "Consent withdrawn"


# Placeholders a message template fills from the contact's own fields or the business's, never
# from data a file brought in: a custom field by one of these names would replace the campaign's
# link or the business's name in the message (a CSV column "link" pointed people at phishing).
BUILT_IN_PLACEHOLDERS = ("first_name", "last_name", "business_name", "link")
# Names a custom field may not take: the placeholders, and the contact's own fields.
RESERVED_CUSTOM_FIELDS = frozenset(
    {*BUILT_IN_PLACEHOLDERS, "phone", "phone_e164", "email", "timezone", "state", "postcode", "tags", "opt_out_line"}
)
_NOT_NAME = re.compile(r"[^a-z0-9]+")


def custom_field_key(name: str) -> str:
    """How a custom field's name reads as a placeholder: "Business Name" → "business_name"."""
    return _NOT_NAME.sub("_", name.casefold()).strip("_")


def reserved_custom_field_problem(name: str) -> str:
    """Why ``name`` cannot be a custom field, or ""."""
    key = custom_field_key(name)
    if key in RESERVED_CUSTOM_FIELDS:
        return (
            f"“{name}” is a name the product fills in itself ({{{{ {key} }}}}): it cannot be kept as a custom "
            "field. Map the column to a contact field, or leave it out."
        )
    return ""


def validate_custom_fields(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError("Custom fields are a set of names and values.")
    problems = [problem for name in value if (problem := reserved_custom_field_problem(str(name)))]
    if problems:
        raise ValidationError(problems)


class Contact(models.Model):
    """A person a tenant may message, keyed by E.164 phone number (unique per tenant).

    ``consent_status`` and ``consent_at`` summarise the contact's ConsentRecords (the latest
    record wins). They are written only by ``contacts.services`` in the same transaction as the
    record they summarise, so the audience of a campaign can be selected without reading the
    whole consent history of a million contacts.
    """

    # No index of its own: the (tenant, phone) and (tenant, -id) indexes lead with the tenant.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    phone_e164 = models.CharField("phone", max_length=16)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    email = models.EmailField(max_length=254, blank=True)
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    state = models.CharField(max_length=3, blank=True, choices=AustralianState.choices)
    postcode = models.CharField(max_length=4, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True, validators=[validate_custom_fields])
    tags = models.JSONField(default=list, blank=True)
    consent_status = models.CharField(max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.NONE)
    consent_at = models.DateTimeField(null=True, blank=True)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    undeliverable = models.BooleanField(default=False)
    undeliverable_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The names and e-mail folded for search (``contacts.searchtext``): "first last", "last
    # first" and the e-mail, written by ``save`` and by the import's bulk writes, never by hand.
    # On PostgreSQL a (tenant, column) B-tree index serves a prefix search of each (migration
    # 0004); the database default keeps raw bulk loads (benchmarks) valid.
    search_name = models.TextField(default="", db_default="", blank=True, editable=False)
    search_surname = models.TextField(default="", db_default="", blank=True, editable=False)
    search_email = models.TextField(default="", db_default="", blank=True, editable=False)

    SEARCHED_FIELDS = ("first_name", "last_name", "email")
    SEARCH_COLUMNS = ("search_name", "search_surname", "search_email")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone_e164"], name="contact_phone_unique_per_tenant"),
        ]
        indexes = [
            # The list page pages by id within a tenant (keyset pagination).
            models.Index(fields=["tenant", "-id"], name="contact_tenant_id_desc"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        """Save, keeping the search columns in step with the names and e-mail."""
        self.search_name, self.search_surname, self.search_email = contact_search_keys(
            first_name=self.first_name, last_name=self.last_name, email=self.email
        )
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and set(update_fields) & set(self.SEARCHED_FIELDS):
            kwargs["update_fields"] = {*update_fields, *self.SEARCH_COLUMNS}
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part) or self.phone_e164

    @property
    def has_consent(self) -> bool:
        return self.consent_status in (ConsentStatus.EXPRESS, ConsentStatus.INFERRED)


class ConsentKind(models.TextChoices):
    EXPRESS = "express", "Express (they asked)"
    INFERRED = "inferred", "Inferred (existing business relationship)"


class ConsentRecord(models.Model):
    """One piece of consent evidence for a contact (Spam Act s16; ACMA's expectations).

    Append-only: a withdrawal is a new row with ``withdrawn=True``, never an edit. The latest
    record by ``captured_at`` (then id) decides the contact's current consent. A record made by
    an import points at it; (contact, source_import) is unique, so re-running an import never
    adds a second record.
    """

    # The contact's tenant, copied for scoping. Imports write a million of these at a time, so it
    # carries neither an index nor a constraint check of its own: the contact's foreign key
    # already ties the row to that tenant, and services always copy the contact's tenant_id.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    # Indexed by ("contact", "-captured_at") below, which serves every look-up by contact.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_records", db_index=False)
    kind = models.CharField(max_length=10, choices=ConsentKind.choices)
    withdrawn = models.BooleanField(default=False)
    source = models.CharField(max_length=200)
    captured_at = models.DateTimeField()
    evidence = models.TextField(blank=True)
    # No database constraint (still an index): an import writes a million of these in a few
    # transactions, and checking each row's import at commit cost seconds. Imports are never
    # deleted by the product; if one is, Django's collector still nulls these pointers.
    source_import = models.ForeignKey(
        "ContactImport",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="consent_records",
        db_constraint=False,
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-captured_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "source_import"],
                condition=models.Q(source_import__isnull=False),
                name="consent_once_per_contact_and_import",
            ),
        ]
        indexes = [models.Index(fields=["contact", "-captured_at"], name="consent_contact_captured")]

    def __str__(self) -> str:
        verb = "withdrew" if self.withdrawn else f"gave {self.kind} consent"
        return f"{verb} via {self.source} at {self.captured_at:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("Consent records are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("Consent records are append-only.")


class DncReason(models.TextChoices):
    STOP_KEYWORD = "stop_keyword", "Replied STOP"
    OPT_OUT_REQUEST = "opt_out_request", "Asked to stop in other words"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Added by staff"
    PROVIDER_OPT_OUT = "provider_opt_out", "Provider opt-out"
    HARD_BOUNCE = "hard_bounce", "Hard bounce"


# Reasons an opt-in keyword (START) may lift; a complaint or a manual entry never lifts by keyword.
DNC_REASONS_LIFTED_BY_OPT_IN = (DncReason.STOP_KEYWORD, DncReason.OPT_OUT_REQUEST, DncReason.PROVIDER_OPT_OUT)


class DoNotContact(models.Model):
    """A phone number the tenant must never message, whatever its contact row says.

    Keyed by phone, not by contact: deleting or re-importing a contact never lifts it. Only
    ``contacts.services.dnc_remove`` removes an entry, with a reason, into the audit log.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="do_not_contact")
    phone_e164 = models.CharField("phone", max_length=16)
    reason = models.CharField(max_length=20, choices=DncReason.choices)
    note = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="What caused it, e.g. a message id.")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "do-not-contact entry"
        verbose_name_plural = "do-not-contact list"
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone_e164"], name="dnc_phone_unique_per_tenant"),
        ]
        indexes = [models.Index(fields=["tenant", "-id"], name="dnc_tenant_id_desc")]

    def __str__(self) -> str:
        return f"{self.phone_e164} ({self.get_reason_display()})"


class ImportOutcome(models.TextChoices):
    """What an import row does: every row gets exactly one, in the dry run and the commit."""

    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    UNCHANGED = "unchanged", "Unchanged"
    DUPLICATE = "duplicate", "Duplicate in file"
    INVALID_PHONE = "invalid_phone", "Not a valid phone number"
    NOT_MOBILE = "not_mobile", "Not a mobile number"
    MISSING_CONSENT = "missing_consent", "Missing consent"
    DNC = "dnc", "On the do-not-contact list"


ACCEPTED_OUTCOMES = (ImportOutcome.CREATE, ImportOutcome.UPDATE, ImportOutcome.UNCHANGED)


class ConsentMode(models.TextChoices):
    DECLARATION = "declaration", "One declaration for the whole file"
    COLUMN = "column", "Consent columns in the file"


class ContactImport(models.Model):
    """One uploaded contact file and its way through preview and commit.

    Lifecycle::

        uploaded ──(mapping saved)──▶ previewing ──▶ previewed ──(commit)──▶ committing ──▶ committed
              ▲                            │                                      │
              └────── mapping changed ─────┴──────────── failed ◀─────────────────┘

    - *uploaded*: file stored, headers and a sample read, columns auto-mapped; nothing decided.
    - *previewing*: the dry-run task reads every row through the decision function and stores
      counts, the first rows and a CSV of rejected rows. Nothing is written to contacts.
    - *committing*: the commit task applies the same decisions in batches; each batch, its
      consent records and the checkpoint (``committed_rows``, ``commit_counts``) commit together,
      so a task that dies is re-run from the checkpoint and writes nothing twice.
    - *committed*: ``commit_counts`` is the final report; ``data_changed`` says whether it
      differs from the preview because contacts or the DNC list changed in between.
    - *discarded*: the person dropped it before it was committed (from uploaded, previewed, or
      failed with nothing written): the file, the rejected rows and the stored rows are gone,
      the counts stay for the record. Final, like *committed*.
    Progress (``rows_done`` of about ``rows_total``) is written as the tasks go, so the page can
    show it live and after a reload.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded: map the columns"
        PREVIEWING = "previewing", "Checking every row"
        PREVIEWED = "previewed", "Preview ready"
        COMMITTING = "committing", "Importing"
        COMMITTED = "committed", "Imported"
        FAILED = "failed", "Failed"
        DISCARDED = "discarded", "Discarded"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contact_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Who started the commit (the audit log's actor for it); the uploader may be someone else.
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    error = models.TextField(blank=True)

    # The file.
    file_path = models.CharField(max_length=300, help_text="Relative to MEDIA_ROOT.")
    original_name = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    encoding = models.CharField(max_length=20)
    delimiter = models.CharField(max_length=2)
    headers = models.JSONField(default=list)
    sample_rows = models.JSONField(default=list)

    # The user's choices.
    mapping = models.JSONField(default=dict, help_text="Header → field name.")
    custom_columns = models.JSONField(default=list, help_text="Unmapped headers kept as custom fields.")
    add_tags = models.JSONField(default=list, blank=True)
    consent_mode = models.CharField(max_length=12, choices=ConsentMode.choices, default=ConsentMode.DECLARATION)
    consent_kind = models.CharField(max_length=10, choices=ConsentKind.choices, blank=True)
    consent_source = models.CharField(max_length=200, blank=True)
    consent_captured_at = models.DateTimeField(null=True, blank=True)
    consent_evidence = models.TextField(blank=True)

    # The dry run.
    preview_counts = models.JSONField(default=dict, blank=True)
    preview_rows = models.JSONField(default=list, blank=True)
    # {"count": n, "countries": [[region, n], …] most first, "rows": [[row number, region], …] the first 100}
    outside_au = models.JSONField(
        default=dict,
        blank=True,
        help_text="Accepted rows with a number outside Australia: count, countries, first row numbers.",
    )
    rejected_path = models.CharField(max_length=300, blank=True)
    previewed_at = models.DateTimeField(null=True, blank=True)

    # The commit, checkpointed per batch.
    commit_counts = models.JSONField(default=dict, blank=True)
    committed_rows = models.PositiveIntegerField(default=0)
    committed_at = models.DateTimeField(null=True, blank=True)
    data_changed = models.BooleanField(default=False)

    # Progress of whichever task runs now.
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    phase_started_at = models.DateTimeField(null=True, blank=True)
    progress_at = models.DateTimeField(null=True, blank=True)
    # A running task holds the lease and renews it; a second copy of the task leaves it alone.
    lease_token = models.UUIDField(null=True, blank=True, editable=False, default=None)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="import_tenant_created")]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def is_running(self) -> bool:
        return self.status in (self.Status.PREVIEWING, self.Status.COMMITTING)

    @staticmethod
    def new_lease() -> uuid.UUID:
        return uuid.uuid4()
