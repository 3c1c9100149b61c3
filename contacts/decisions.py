"""The one decision function every import row goes through, in the dry run and the commit."""

from dataclasses import dataclass
from datetime import datetime

from contacts.models import ConsentStatus, ImportOutcome
from contacts.phones import phone_problem
from contacts.rowvalues import RowValues, merge_tags

SCALAR_FIELDS = ("first_name", "last_name", "email", "timezone", "state", "postcode")


@dataclass(frozen=True, slots=True)
class ExistingContact:
    """What the database holds for a phone number the row names."""

    id: int
    first_name: str
    last_name: str
    email: str
    timezone: str
    state: str
    postcode: str
    tags: tuple[str, ...]
    custom: dict
    consent_status: str
    consent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str
    reason: str


def _changes(values: RowValues, existing: ExistingContact) -> list[str]:
    """Names of the fields the row would change; a field the row leaves empty never changes."""
    changed = [f for f in SCALAR_FIELDS if getattr(values, f) and getattr(values, f) != getattr(existing, f)]
    if values.tags and merge_tags(existing.tags, values.tags) != list(existing.tags):
        changed.append("tags")
    if any(existing.custom.get(key) != value for key, value in values.custom):
        changed.append("custom fields")
    consent = values.consent
    if consent is not None:
        has = existing.consent_status in (ConsentStatus.EXPRESS, ConsentStatus.INFERRED)
        upgrade = existing.consent_status == ConsentStatus.INFERRED and consent.kind == ConsentStatus.EXPRESS
        if not has or upgrade:
            changed.append("consent")
    return changed


def decide_row(values: RowValues, *, existing: ExistingContact | None, duplicate: bool, on_dnc: bool) -> Decision:
    """Exactly one outcome for a row; the first rule that applies wins.

    invalid phone → not a mobile → duplicate in file → do-not-contact → missing consent
    (including consent older than a withdrawal) → create → update → unchanged.
    """
    phone = values.phone
    if phone.error in ("empty", "invalid"):
        if not values.raw_phone:
            return Decision(ImportOutcome.INVALID_PHONE, "no phone number")
        return Decision(ImportOutcome.INVALID_PHONE, phone_problem(values.raw_phone))
    if phone.error == "not_mobile":
        kind = (phone.number_type or "landline").replace("_", " ")
        return Decision(ImportOutcome.NOT_MOBILE, f"number {phone.e164} is a {kind} number and cannot receive SMS")
    if duplicate:
        return Decision(ImportOutcome.DUPLICATE, f"number {phone.e164} appears earlier in the file")
    if on_dnc:
        return Decision(ImportOutcome.DNC, f"number {phone.e164} is on the do-not-contact list")
    if values.consent is None:
        return Decision(ImportOutcome.MISSING_CONSENT, values.consent_problem or "no consent")
    if (
        existing is not None
        and existing.consent_status == ConsentStatus.WITHDRAWN
        and existing.consent_at is not None
        and values.consent.captured_at <= existing.consent_at
    ):
        return Decision(
            ImportOutcome.MISSING_CONSENT,
            f"consent was withdrawn on {existing.consent_at:%d/%m/%Y}, after the consent this file gives",
        )
    notes = f" ({'; '.join(values.notes)})" if values.notes else ""
    if existing is None:
        return Decision(ImportOutcome.CREATE, f"new contact{notes}")
    changed = _changes(values, existing)
    if changed:
        return Decision(ImportOutcome.UPDATE, f"changes {', '.join(changed)}{notes}")
    return Decision(ImportOutcome.UNCHANGED, f"already up to date{notes}")
