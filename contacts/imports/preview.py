"""The dry run: decide every row without writing contacts; store counts, first rows and rejected rows."""

from django.utils import timezone

from contacts import csvfiles
from contacts.imports.batches import DecidedRow, decide_batch, empty_counts, media_path, parsed_batches
from contacts.imports.leases import renew
from contacts.imports.planner import statistics_refresh_if_stale
from contacts.imports.runtime import bulk_runtime, read_ahead
from contacts.models import ACCEPTED_OUTCOMES, ContactImport, ImportOutcome

PREVIEW_ROWS = 100
# Rows outside Australia listed by number on the preview (all are counted).
OUTSIDE_AU_ROWS = 100


def run_preview(imp: ContactImport, token) -> dict[str, int]:
    """Decide every row without writing contacts; store counts, first rows and rejected rows."""
    with bulk_runtime():
        return _run_preview(imp, token)


def _run_preview(imp: ContactImport, token) -> dict[str, int]:
    statistics_refresh_if_stale()
    now = timezone.now()
    counts = empty_counts()
    preview: list[dict] = []
    outside = {"count": 0, "countries": {}, "rows": []}
    rejected_rel = f"imports/{imp.tenant_id}/{imp.pk}-rejected.csv"
    rejected_path = media_path(rejected_rel)
    rejected_path.parent.mkdir(parents=True, exist_ok=True)
    rows_done = 0
    # Written beside and moved into place at the end, so a download never sees half a file.
    partial = rejected_path.with_suffix(".partial")
    with open(partial, "w", newline="", encoding="utf-8-sig") as out:
        writer = csvfiles.safe_writer(out)
        writer.writerow([*imp.headers, "row", "outcome", "reason"])
        for batch, last_row, offset in read_ahead(parsed_batches(imp, now=now)):
            for row in decide_batch(imp.tenant_id, batch):
                outcome = row.decision.outcome
                counts[outcome] += 1
                if outcome not in ACCEPTED_OUTCOMES:
                    writer.writerow([*row.fields, row.row_number, ImportOutcome(outcome).label, row.decision.reason])
                elif _outside_au(row):
                    _count_outside(outside, row)
                if len(preview) < PREVIEW_ROWS:
                    preview.append(_preview_row(row))
            rows_done = last_row
            renew(imp, token, rows_done=rows_done, bytes_done=offset)
    partial.replace(rejected_path)
    renew(
        imp,
        token,
        status=ContactImport.Status.PREVIEWED,
        preview_counts=counts,
        preview_rows=preview,
        outside_au=_outside_summary(outside),
        rejected_path=rejected_rel,
        previewed_at=timezone.now(),
        rows_total=sum(counts.values()),
        rows_done=sum(counts.values()),
        bytes_done=imp.size_bytes,
        lease_token=None,
        lease_until=None,
    )
    return counts


def _outside_au(row: DecidedRow) -> bool:
    """An accepted number outside Australia (+61 also covers Christmas and Cocos Islands, priced as AU)."""
    e164 = row.values.phone.e164 or ""
    return bool(e164) and not e164.startswith("+61")


def _count_outside(outside: dict, row: DecidedRow) -> None:
    region = row.values.phone.region or "?"
    outside["count"] += 1
    outside["countries"][region] = outside["countries"].get(region, 0) + 1
    if len(outside["rows"]) < OUTSIDE_AU_ROWS:
        outside["rows"].append([row.row_number, region])


def _outside_summary(outside: dict) -> dict:
    """As stored: the countries as [region, rows] pairs, most rows first (a JSON object's keys
    come back in the database's order); {} when every accepted number is Australian."""
    if not outside["count"]:
        return {}
    countries = sorted(outside["countries"].items(), key=lambda item: (-item[1], item[0]))
    return {**outside, "countries": [list(item) for item in countries]}


def _preview_row(row: DecidedRow) -> dict:
    v = row.values
    return {
        "row": row.row_number,
        "phone": v.phone.e164 or v.raw_phone,
        "name": " ".join(p for p in (v.first_name, v.last_name) if p),
        "email": v.email,
        "outcome": row.decision.outcome,
        "reason": row.decision.reason,
    }
