"""Reads about contacts, the do-not-contact list and imports; all take the tenant."""

import json
import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from contacts.models import ConsentRecord, ConsentStatus, Contact, ContactImport, DoNotContact
from contacts.phones import normalize_phone
from contacts.searchtext import fold
from smscrm.edge import db_id
from tenants.models import Tenant

PAGE_SIZE = 50
DNC_FILTER_LITERAL_MAX = 20_000
SEARCH_LITERAL_MAX = 5_000


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


def _name_filter(term: str) -> Q:
    folded = fold(term)
    return Q(search_name__startswith=folded) | Q(search_surname__startswith=folded) | Q(search_email__startswith=folded)


def _search(queryset: QuerySet[Contact], *, tenant: Tenant, term: str) -> QuerySet[Contact]:
    """``queryset`` narrowed to the contacts matching ``term``: a phone in any format, or the start
    of a name or e-mail, ignoring accents and case.

    "zoe" finds Zoë and Zoellner, "ZOË" finds Zoe and Zoë, "zoe sm" finds Zoë Smith, "smith z"
    finds her too: the term is folded as the contact's search columns are and must start one of
    them ("first last", "last first", the e-mail), each a (tenant, column) B-tree range scan.

    A name search is driven from its indexes: the planner, asked for the newest 50 matches,
    would walk every contact by id hoping to meet them early (400 ms for a rare name among a
    million); the matching ids are read from the three search indexes first (a few ms), then
    paged. A name matching more than ``SEARCH_LITERAL_MAX`` contacts is common enough for the
    walk to meet 50 of them at once.
    """
    term = term.strip()
    phone = _phone_filter(term)
    if phone is not None:
        return queryset.filter(phone)
    names = _name_filter(term)
    ids = list(
        Contact.objects.filter(tenant=tenant).filter(names).values_list("pk", flat=True)[: SEARCH_LITERAL_MAX + 1]
    )
    return queryset.filter(pk__in=ids) if len(ids) <= SEARCH_LITERAL_MAX else queryset.filter(names)


def contacts_search(*, tenant: Tenant, term: str) -> QuerySet[Contact]:
    """The tenant's contacts matching ``term`` as the contacts page searches (``_search``): a phone
    in any format, or the start of a name or e-mail, ignoring accents and case."""
    return _search(Contact.objects.filter(tenant=tenant), tenant=tenant, term=term)


@dataclass
class Total:
    """How many rows a list holds: exact up to ``COUNT_EXACT_UP_TO``; above it an estimate
    (``estimated``), or only that there are more (``more_than``) when no estimate is to hand."""

    count: int
    estimated: bool = False
    more_than: int | None = None


COUNT_EXACT_UP_TO = 10_000


def list_total(queryset: QuerySet) -> Total:
    """The number of rows of ``queryset``, counting no more than ``COUNT_EXACT_UP_TO`` + 1.

    A COUNT over a million contacts on every page view would cost more than the page. Past the
    cap, PostgreSQL's planner estimate for the same query is used, rounded to thousands; when
    there is none above the cap (other databases, or a planner that guesses low), the total is
    "more than" the cap.
    """
    queryset = queryset.order_by()
    counted = queryset.values("pk")[: COUNT_EXACT_UP_TO + 1].count()
    if counted <= COUNT_EXACT_UP_TO:
        return Total(counted)
    estimate = planner_estimate(queryset)
    if estimate is not None and round(estimate, -3) > COUNT_EXACT_UP_TO:
        return Total(round(estimate, -3), estimated=True)
    return Total(counted, more_than=COUNT_EXACT_UP_TO)


def planner_estimate(queryset: QuerySet) -> int | None:
    """How many rows PostgreSQL's planner expects ``queryset`` to return (None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    plan = json.loads(queryset.values("pk").explain(format="json"))
    return int(plan[0]["Plan"]["Plan Rows"])


def tag_filter(tag: str) -> Q:
    """Contacts carrying ``tag``, ignoring case as tags do everywhere else.

    Matches the quoted tag inside the JSON text. PostgreSQL renders jsonb with literal
    characters; SQLite keeps Django's JSON text, whose non-ASCII characters are escaped.
    """
    quoted = json.dumps(tag, ensure_ascii=connection.vendor != "postgresql")
    return Q(tags__icontains=quoted)


def contacts_for(
    *,
    tenant: Tenant,
    q: str = "",
    tag: str = "",
    consent: str = "",
    dnc: str = "",
    undeliverable: str = "",
    imported: str = "",
) -> QuerySet[Contact]:
    """The tenant's contacts, filtered as the list page asks, annotated with ``on_dnc``.

    ``imported`` is an import's id: the contacts it created or updated (each got a consent
    record pointing at it). Another tenant's import matches nothing.
    """
    queryset = Contact.objects.filter(tenant=tenant).annotate(
        on_dnc=Exists(DoNotContact.objects.filter(tenant=tenant, phone_e164=OuterRef("phone_e164")))
    )
    if imported:
        import_id = db_id(imported)
        records = ConsentRecord.objects.filter(tenant=tenant, source_import_id=import_id).values("contact_id")
        queryset = queryset.filter(pk__in=records) if import_id is not None else queryset.none()
    if q.strip():
        queryset = _search(queryset, tenant=tenant, term=q)
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


# What the API's list of imports shows beside the summary: counts and progress, never the stored
# headers, mapping, samples and preview rows.
_IMPORT_LISTED = (
    *_IMPORT_SUMMARY,
    "error",
    "size_bytes",
    "add_tags",
    "preview_counts",
    "outside_au",
    "previewed_at",
    "rejected_path",
    "commit_counts",
    "committed_rows",
    "committed_at",
    "data_changed",
    "rows_done",
    "bytes_done",
    "phase_started_at",
    "progress_at",
)


def import_list_for(*, tenant: Tenant) -> QuerySet[ContactImport]:
    """The tenant's imports with their counts and progress (the API's list)."""
    return imports_for(tenant=tenant).only(*_IMPORT_LISTED, "created_by__email")


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
