"""Who runs an import: the lease on its row (taken, renewed with each batch's progress, or lost)."""

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from contacts.models import ContactImport


class ImportAborted(Exception):
    """The run lost its lease (another copy took over) or the import changed state under it."""


def acquire_lease(import_id: int, *, status: str) -> tuple[ContactImport, object] | None:
    """Take the import's lease if it is in ``status`` and nobody holds a live lease.

    Returns (fresh import, lease token), or None when another run holds it or the state moved
    on, in which case the caller does nothing: running a task twice is harmless.
    """
    now = timezone.now()
    token = ContactImport.new_lease()
    lease_for = timezone.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS)
    claimed = (
        ContactImport.objects.filter(pk=import_id, status=status)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_token=token, lease_until=now + lease_for)
    )
    if not claimed:
        return None
    return ContactImport.objects.select_related("tenant").get(pk=import_id), token


def renew(imp: ContactImport, token, **fields) -> None:
    """Renew the lease and write progress (and any other fields) in one conditional update."""
    now = timezone.now()
    fields.setdefault("progress_at", now)
    fields.setdefault("lease_until", now + timezone.timedelta(seconds=settings.CONTACT_IMPORT_LEASE_SECONDS))
    updated = ContactImport.objects.filter(pk=imp.pk, lease_token=token).update(**fields)
    if not updated:
        raise ImportAborted(f"import {imp.pk}: lease lost")
