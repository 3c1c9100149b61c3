"""Contact import services: upload, configure, commit and discard an import, and the runs its tasks call.

The engine that reads, decides and writes the rows is ``contacts.imports``; these services own
the import's states and say what a person may do with it.
"""

import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from contacts import csvfiles, imports
from contacts.models import ConsentMode, ConsentRecord, ContactImport, reserved_custom_field_problem
from contacts.phones import normalize_phone
from contacts.services.audit import ContactAction
from contacts.uploads import IncomingUpload, incoming_dir
from smscrm.queueing import enqueue_after_commit
from tenants.models import Tenant
from tenants.services import acting_user, audit_record


def contact_import_upload(
    *, tenant: Tenant, actor, source: Path | str, original_name: str, move: bool = False
) -> ContactImport:
    """Store an uploaded file, read its encoding, delimiter and headers, and map the columns.

    ``source`` is a path on local disk: an upload already under MEDIA_ROOT (``move``: renamed
    into place, never copied) or a command's argument (copied). Raises ValidationError saying
    why a file is refused; a refused file is not kept.
    """
    relative = f"imports/{tenant.pk}/{uuid.uuid4().hex}.csv"
    stored = imports.media_path(relative)
    stored.parent.mkdir(parents=True, exist_ok=True)
    if move:
        os.replace(source, stored)
    else:
        shutil.copyfile(source, stored)
    try:
        info = csvfiles.inspect_file(
            stored, max_bytes=settings.CONTACT_IMPORT_MAX_BYTES, max_columns=settings.CONTACT_IMPORT_MAX_COLUMNS
        )
        mapping = csvfiles.auto_map(info.headers)
        if "phone" not in mapping.values():
            guessed = _phone_column_by_content(info.headers, info.sample_rows)
            if guessed is None:
                raise csvfiles.CsvFileError(
                    "No column holds phone numbers: no header says 'Mobile' or 'Phone' and no column of the "
                    "first rows contains phone numbers."
                )
            mapping[guessed] = "phone"
    except csvfiles.CsvFileError as exc:
        stored.unlink(missing_ok=True)
        raise ValidationError(str(exc)) from None
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    return ContactImport.objects.create(
        tenant=tenant,
        created_by=acting_user(actor),
        file_path=relative,
        original_name=original_name[:255],
        size_bytes=info.size,
        sha256=info.sha256,
        encoding=info.encoding,
        delimiter=info.delimiter,
        headers=info.headers,
        sample_rows=info.sample_rows,
        mapping=mapping,
    )


def _phone_column_by_content(headers: list[str], sample: list[list[str]]) -> str | None:
    """The first column whose sample values are mostly valid phone numbers (headerless exports)."""
    for i, header in enumerate(headers):
        values = [row[i] for row in sample if i < len(row) and row[i].strip()]
        if values and sum(normalize_phone(v).e164 is not None for v in values) * 2 > len(values):
            return header
    return None


def contact_import_upload_file(*, tenant: Tenant, actor, upload) -> ContactImport:
    """``contact_import_upload`` for a Django UploadedFile (the import page and the admin).

    An upload that the handler already wrote under MEDIA_ROOT is renamed into place; any other
    (a test's in-memory file) is written there once.
    """
    if isinstance(upload, IncomingUpload):
        return contact_import_upload(
            tenant=tenant, actor=actor, source=upload.path, original_name=upload.name, move=True
        )
    incoming = incoming_dir()
    incoming.mkdir(parents=True, exist_ok=True)
    path = incoming / f"{uuid.uuid4().hex}.part"
    try:
        with open(path, "wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        return contact_import_upload(tenant=tenant, actor=actor, source=path, original_name=upload.name, move=True)
    finally:
        path.unlink(missing_ok=True)


CONFIGURABLE = (ContactImport.Status.UPLOADED, ContactImport.Status.PREVIEWED, ContactImport.Status.FAILED)


def contact_import_configure(
    *,
    contact_import: ContactImport,
    actor,
    mapping: dict[str, str],
    custom_columns: list[str],
    add_tags: list[str],
    consent_mode: str,
    consent_kind: str = "",
    consent_source: str = "",
    consent_captured_at: datetime | None = None,
    consent_evidence: str = "",
) -> ContactImport:
    """Save the mapping and consent settings, and start the dry run (a task).

    Not audited (the commit is); ``actor`` is taken like every service's, unused until it is.
    """
    from contacts.tasks import contact_import_preview

    mapping = {header: field for header, field in mapping.items() if field}
    errors = {}
    if set(mapping) - set(contact_import.headers):
        errors["mapping"] = "The mapping names columns the file does not have."
    fields = list(mapping.values())
    if fields.count("phone") != 1:
        errors["mapping"] = "Choose exactly one column for the phone number."
    repeated = sorted({f for f in fields if fields.count(f) > 1 and f != "phone"})
    if repeated:
        errors["mapping"] = f"Each field may come from one column only: {', '.join(repeated)}."
    if consent_mode == ConsentMode.COLUMN and "consent_kind" not in fields:
        errors["consent_mode"] = "Choose the column that says whether each person consented."
    if consent_mode == ConsentMode.DECLARATION:
        if not consent_kind:
            errors["consent_kind"] = "Say how consent was obtained (express or inferred)."
        if not consent_captured_at:
            errors["consent_captured_at"] = "Say when consent was obtained."
        if not (consent_source or "").strip():
            errors["consent_source"] = "Say where consent was obtained (e.g. 'sign-up form on our website')."
    if consent_captured_at and consent_captured_at > timezone.now():
        errors["consent_captured_at"] = "Consent cannot be dated in the future."
    reserved = [problem for column in custom_columns if (problem := reserved_custom_field_problem(column))]
    if reserved:
        errors["custom_columns"] = reserved
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if locked.status not in CONFIGURABLE:
            raise ValidationError(f"This import is {locked.get_status_display().lower()}; it can no longer be changed.")
        locked.mapping = mapping
        locked.custom_columns = [c for c in custom_columns if c in locked.headers and c not in mapping]
        locked.add_tags = add_tags
        locked.consent_mode = consent_mode
        locked.consent_kind = consent_kind
        locked.consent_source = consent_source.strip()
        locked.consent_captured_at = consent_captured_at
        locked.consent_evidence = consent_evidence
        locked.status = ContactImport.Status.PREVIEWING
        locked.error = ""
        locked.preview_counts, locked.preview_rows, locked.previewed_at = {}, [], None
        locked.outside_au = {}
        # A commit that failed half-way under the old settings starts again from the first row:
        # the writes are idempotent, and every row must get the new mapping and consent.
        locked.committed_rows, locked.commit_counts, locked.committed_at = 0, {}, None
        locked.rows_done, locked.bytes_done, locked.rows_total = 0, 0, None
        locked.phase_started_at = timezone.now()
        locked.save()
        enqueue_after_commit(contact_import_preview, locked.pk)  # swept by contact_imports_resume_stalled
    return locked


def contact_import_upload_configured(*, tenant: Tenant, actor, upload, settings_for) -> ContactImport:
    """Upload a file and save its settings at once, so the dry run starts (the API's upload with
    settings). ``settings_for(contact_import)`` gives ``contact_import_configure``'s settings for
    the file just read (its headers, its automatic mapping). Settings that are refused keep
    neither the import nor its file: the caller fixes the request and sends it again."""
    with transaction.atomic():
        contact_import = contact_import_upload_file(tenant=tenant, actor=actor, upload=upload)
        try:
            return contact_import_configure(contact_import=contact_import, actor=actor, **settings_for(contact_import))
        except BaseException:
            imports.media_path(contact_import.file_path).unlink(missing_ok=True)
            raise


def contact_import_run_preview(*, import_id: int) -> dict[str, int] | None:
    """The dry run (called by the task). None when another run holds it or it is not due."""
    claimed = imports.acquire_lease(import_id, status=ContactImport.Status.PREVIEWING)
    if claimed is None:
        return None
    contact_import, token = claimed
    try:
        return imports.run_preview(contact_import, token)
    except imports.ImportAborted:
        return None  # another run took the lease over; it finishes the job
    except (csvfiles.CsvFileError, ValueError, OSError, DatabaseError) as exc:
        # A database error that repeats (a value PostgreSQL refuses, say) would otherwise be
        # retried by the resumer forever; the person sees it and can fix the file instead.
        _fail(contact_import, token, str(exc))
        return None


def contact_import_commit(*, contact_import: ContactImport, actor) -> ContactImport:
    """Start (or, after a failure, resume) writing a previewed import (a task does the work)."""
    from contacts.tasks import contact_import_commit as commit_task

    with transaction.atomic():
        locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        resumable = locked.status == ContactImport.Status.FAILED and locked.previewed_at is not None
        if locked.status != ContactImport.Status.PREVIEWED and not resumable:
            raise ValidationError(f"This import is {locked.get_status_display().lower()}: preview it first.")
        locked.status = ContactImport.Status.COMMITTING
        locked.error = ""
        locked.phase_started_at = timezone.now()
        locked.rows_done = locked.committed_rows
        locked.committed_by = actor if actor is not None and actor.is_authenticated else None
        locked.save(update_fields=["status", "error", "phase_started_at", "rows_done", "committed_by"])
        enqueue_after_commit(commit_task, locked.pk)  # swept by contact_imports_resume_stalled
    return locked


DISCARDABLE = (ContactImport.Status.UPLOADED, ContactImport.Status.PREVIEWED, ContactImport.Status.FAILED)


def import_wrote_rows(contact_import: ContactImport) -> bool:
    """Whether any row of this import reached the contacts. ``committed_rows`` alone is not
    proof: configuring the import again resets it after a commit failed half-way, while every
    contact the import created or updated keeps a consent record pointing at it."""
    return bool(contact_import.committed_rows) or ConsentRecord.objects.filter(source_import=contact_import).exists()


def contact_import_discard(*, contact_import: ContactImport, actor) -> ContactImport:
    """Drop an import that wrote nothing: its file, rejected rows and stored rows are removed.

    Allowed while it waits for a mapping or a commit (uploaded, previewed, or failed before
    any row was written). A committed import, one that is running, or one whose commit wrote
    part of the file cannot be discarded: its contacts exist. The files go once the status
    change is committed, so a rolled-back discard leaves the import whole.
    """
    with transaction.atomic():
        locked = ContactImport.objects.select_for_update().get(pk=contact_import.pk)
        if locked.status not in DISCARDABLE:
            raise ValidationError(
                f"This import is {locked.get_status_display().lower()}: only an import that was not imported "
                "can be discarded."
            )
        if locked.committed_rows:
            raise ValidationError(
                f"The first {locked.committed_rows:,} rows of this file were already imported, so it cannot be "
                "discarded. Import it again to finish it."
            )
        if import_wrote_rows(locked):
            raise ValidationError(
                "An earlier attempt at this import already wrote some of its rows, so it cannot be discarded. "
                "Import it again to finish it."
            )
        files = [imports.media_path(relative) for relative in (locked.file_path, locked.rejected_path) if relative]
        locked.status = ContactImport.Status.DISCARDED
        locked.sample_rows, locked.preview_rows, locked.rejected_path = [], [], ""
        locked.lease_token, locked.lease_until = None, None
        locked.save(
            update_fields=["status", "sample_rows", "preview_rows", "rejected_path", "lease_token", "lease_until"]
        )
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action=ContactAction.IMPORT_DISCARDED,
            target=locked.original_name,
            data={"rows": locked.rows_total},
        )
        transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])
    return locked


def contact_import_run_commit(*, import_id: int) -> dict[str, int] | None:
    """The commit (called by the task); resumes from the checkpoint. None when not due."""
    claimed = imports.acquire_lease(import_id, status=ContactImport.Status.COMMITTING)
    if claimed is None:
        return None
    contact_import, token = claimed
    try:
        counts = imports.run_commit(contact_import, token)
    except imports.ImportAborted:
        return None  # another run took the lease over; it finishes the job
    except (csvfiles.CsvFileError, ValueError, OSError, DatabaseError) as exc:
        # A database error that repeats (a value PostgreSQL refuses, say) would otherwise be
        # retried by the resumer forever; the person sees it and can fix the file instead.
        _fail(contact_import, token, str(exc))
        return None
    audit_record(
        tenant=contact_import.tenant,
        actor=contact_import.committed_by,
        action=ContactAction.IMPORT_COMMITTED,
        target=contact_import.original_name,
        data={k: v for k, v in counts.items() if v},
    )
    return counts


def _fail(contact_import: ContactImport, token, message: str) -> None:
    ContactImport.objects.filter(pk=contact_import.pk, lease_token=token).update(
        status=ContactImport.Status.FAILED, error=message[:2000], lease_token=None, lease_until=None
    )


def contact_imports_resume_stalled() -> list[int]:
    """Re-enqueue imports whose task died (lease lapsed, or never taken for a while)."""
    from contacts.tasks import contact_import_commit as commit_task
    from contacts.tasks import contact_import_preview

    now = timezone.now()
    lapse = timezone.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS)
    stalled = ContactImport.objects.filter(
        status__in=(ContactImport.Status.PREVIEWING, ContactImport.Status.COMMITTING)
    ).filter(Q(lease_until__lt=now) | Q(lease_until__isnull=True, phase_started_at__lt=now - lapse))
    resumed = []
    for contact_import in stalled.only("pk", "status"):
        task = contact_import_preview if contact_import.status == ContactImport.Status.PREVIEWING else commit_task
        task.delay(contact_import.pk)
        resumed.append(contact_import.pk)
    return resumed
