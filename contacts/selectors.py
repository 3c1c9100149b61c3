"""Reads about contacts, the do-not-contact list and imports; all take the tenant."""

import json
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from contacts.models import ConsentStatus, Contact, ContactImport, DoNotContact
from contacts.phones import normalize_phone
from tenants.models import Tenant

PAGE_SIZE = 50
DNC_FILTER_LITERAL_MAX = 20_000


@dataclass
class Page:
    """A keyset page: ``items`` plus the ids to continue from. No COUNT over the whole table,
    so page 20,000 of a million contacts is as fast as page 1."""

    items: list
    next_after: int | None
    has_previous: bool


def keyset_page(queryset: QuerySet, *, after: int | None, size: int = PAGE_SIZE) -> Page:
    """Newest first by id; ``after`` is the last id of the previous page."""
    if after:
        queryset = queryset.filter(pk__lt=after)
    items = list(queryset.order_by("-pk")[: size + 1])
    more = len(items) > size
    items = items[:size]
    return Page(items=items, next_after=items[-1].pk if more and items else None, has_previous=bool(after))


def _phone_filter(term: str) -> Q | None:
    """A phone search in any format: an exact number, or a run of digits inside numbers."""
    phone = normalize_phone(term)
    if phone.e164:
        return Q(phone_e164=phone.e164)
    digits = re.sub(r"\D", "", term)
    if len(digits) >= 4 and len(digits) >= len(term.replace(" ", "")) - 2:
        if digits.startswith("0"):
            digits = "61" + digits[1:]  # 0412 … is +61412 … in storage
        return Q(phone_e164__contains=digits)
    return None


def contact_search_filter(term: str) -> Q:
    term = term.strip()
    phone = _phone_filter(term)
    if phone is not None:
        return phone
    words = term.split()
    if len(words) >= 2:
        return Q(first_name__istartswith=words[0], last_name__istartswith=" ".join(words[1:]))
    return Q(first_name__istartswith=term) | Q(last_name__istartswith=term) | Q(email__istartswith=term)


def tag_filter(tag: str) -> Q:
    """Contacts carrying ``tag``, ignoring case as tags do everywhere else.

    Matches the quoted tag inside the JSON text. PostgreSQL renders jsonb with literal
    characters; SQLite keeps Django's JSON text, whose non-ASCII characters are escaped.
    """
    quoted = json.dumps(tag, ensure_ascii=connection.vendor != "postgresql")
    return Q(tags__icontains=quoted)


def contacts_for(
    *, tenant: Tenant, q: str = "", tag: str = "", consent: str = "", dnc: str = "", undeliverable: str = ""
) -> QuerySet[Contact]:
    """The tenant's contacts, filtered as the list page asks, annotated with ``on_dnc``."""
    queryset = Contact.objects.filter(tenant=tenant).annotate(
        on_dnc=Exists(DoNotContact.objects.filter(tenant=tenant, phone_e164=OuterRef("phone_e164")))
    )
    if q.strip():
        queryset = queryset.filter(contact_search_filter(q))
    if tag.strip():
        queryset = queryset.filter(tag_filter(tag.strip()))
    if consent == "yes":
        queryset = queryset.filter(consent_status__in=(ConsentStatus.EXPRESS, ConsentStatus.INFERRED))
    elif consent in ConsentStatus.values:
        queryset = queryset.filter(consent_status=consent)
    if dnc == "yes":
        # Driven from the do-not-contact list. Filtering the newest-first page directly makes
        # PostgreSQL walk every contact hoping to fill the page early (a full scan when few
        # listed numbers are contacts); probing the (tenant, phone) index for the listed numbers
        # first, then paging over those ids, stays fast at a million contacts.
        numbers = DoNotContact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True)
        listed = list(numbers[: DNC_FILTER_LITERAL_MAX + 1])
        if len(listed) <= DNC_FILTER_LITERAL_MAX:
            ids = list(Contact.objects.filter(tenant=tenant, phone_e164__in=listed).values_list("pk", flat=True))
            queryset = queryset.filter(pk__in=ids)
        else:
            queryset = queryset.filter(phone_e164__in=numbers)
    elif dnc == "no":
        queryset = queryset.filter(on_dnc=False)
    if undeliverable in ("yes", "no"):
        queryset = queryset.filter(undeliverable=undeliverable == "yes")
    return queryset


def dnc_entries_for(*, tenant: Tenant, q: str = "") -> QuerySet[DoNotContact]:
    queryset = DoNotContact.objects.filter(tenant=tenant).select_related("added_by")
    if q.strip():
        phone = _phone_filter(q.strip())
        queryset = queryset.filter(phone) if phone is not None else queryset.none()
    return queryset


def dnc_entry_for_phone(*, tenant: Tenant, phone_e164: str) -> DoNotContact | None:
    return DoNotContact.objects.filter(tenant=tenant, phone_e164=phone_e164).first()


# What a list of imports shows: never the stored headers, samples and preview rows.
_IMPORT_SUMMARY = ("id", "tenant_id", "original_name", "status", "rows_total", "created_at", "created_by", "sha256")


def imports_for(*, tenant: Tenant) -> QuerySet[ContactImport]:
    return ContactImport.objects.filter(tenant=tenant).select_related("created_by")


def import_summaries_for(*, tenant: Tenant) -> QuerySet[ContactImport]:
    """The tenant's imports for a list: their summary columns only."""
    return imports_for(tenant=tenant).only(*_IMPORT_SUMMARY, "created_by__email")


def same_file_imports(*, contact_import: ContactImport) -> QuerySet[ContactImport]:
    """Earlier imports of the same file (same SHA-256) into the same tenant."""
    return (
        ContactImport.objects.filter(
            tenant_id=contact_import.tenant_id, sha256=contact_import.sha256, created_at__lt=contact_import.created_at
        )
        .exclude(pk=contact_import.pk)
        .only(*_IMPORT_SUMMARY)
    )


def import_progress(contact_import: ContactImport) -> dict:
    """What the progress bar shows: rows done of total, rate, time left (from stored progress)."""
    total = contact_import.rows_total
    done = contact_import.rows_done
    fraction = None
    if contact_import.status == ContactImport.Status.PREVIEWING:
        fraction = contact_import.bytes_done / contact_import.size_bytes if contact_import.size_bytes else 0
    elif contact_import.status == ContactImport.Status.COMMITTING and total:
        fraction = done / total
    elif contact_import.status in (ContactImport.Status.PREVIEWED, ContactImport.Status.COMMITTED):
        fraction = 1.0
    elapsed = None
    if contact_import.phase_started_at and contact_import.progress_at:
        elapsed = (contact_import.progress_at - contact_import.phase_started_at).total_seconds()
    rate = done / elapsed if elapsed and elapsed > 0 and done else None
    seconds_left = None
    if rate and fraction and 0 < fraction < 1 and elapsed:
        seconds_left = elapsed * (1 - fraction) / fraction
    return {
        "status": contact_import.status,
        "status_label": contact_import.get_status_display(),
        "running": contact_import.is_running,
        "rows_done": done,
        "rows_total": total,
        "percent": round(fraction * 100, 1) if fraction is not None else None,
        "rows_per_second": round(rate) if rate else None,
        "seconds_left": round(seconds_left) if seconds_left is not None else None,
        "error": contact_import.error,
    }
