"""Consent services: the rule for consent typed by hand, and ``consent_record_add``, which appends a
record (or a withdrawal) and refreshes the contact's consent summary."""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts.models import ConsentKind, ConsentRecord, ConsentStatus, Contact
from contacts.services.audit import ContactAction
from tenants.acting import acting_api_key
from tenants.services import acting_user, audit_record


def _summarise_consent(contact: Contact) -> None:
    """Recompute the contact's consent summary from its records (the latest one wins)."""
    latest = ConsentRecord.objects.filter(contact=contact).order_by("-captured_at", "-id").first()
    if latest is None:
        status, at = ConsentStatus.NONE, None
    else:
        status, at = (ConsentStatus.WITHDRAWN if latest.withdrawn else latest.kind), latest.captured_at
    Contact.objects.filter(pk=contact.pk).update(consent_status=status, consent_at=at)
    contact.consent_status, contact.consent_at = status, at


# What a person types to record consent by hand; "withdrawn" is a separate choice.
CONSENT_FIELDS = ("kind", "source", "captured_at", "evidence")


def consent_filled(values: dict) -> bool:
    """True when any consent field has a value: then the whole record must be complete."""
    return any(str(values.get(name) or "").strip() for name in CONSENT_FIELDS)


def consent_problems(*, kind: str, source: str, captured_at: datetime | None) -> dict[str, str]:
    """Why manual consent cannot be recorded, by field ({} when it can). Nothing is assumed: the
    person says how consent was given, where and when (a form presets none of them)."""
    problems = {}
    if kind not in ConsentKind.values:
        problems["kind"] = "Choose how consent was given: express (they asked) or inferred."
    if not (source or "").strip():
        problems["source"] = "Say where consent was given, e.g. in-store sign-up sheet."
    if captured_at is None:
        problems["captured_at"] = "Say when consent was given (date and time)."
    elif captured_at > timezone.now() + timezone.timedelta(minutes=5):
        problems["captured_at"] = "Consent cannot be dated in the future."
    return problems


def consent_record_add(
    *,
    contact: Contact,
    actor,
    kind: str,
    source: str,
    captured_at: datetime | None,
    evidence: str = "",
    withdrawn: bool = False,
) -> ConsentRecord:
    """Append consent evidence (or a withdrawal) and refresh the contact's consent summary.
    Refused, by field, unless its kind, source and time are all given (``consent_problems``)."""
    problems = consent_problems(kind=kind, source=source, captured_at=captured_at)
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        Contact.objects.select_for_update().filter(pk=contact.pk).get()
        record = ConsentRecord.objects.create(
            tenant_id=contact.tenant_id,
            contact=contact,
            kind=ConsentKind(kind),
            withdrawn=withdrawn,
            source=source[:200],
            captured_at=captured_at,
            evidence=evidence,
            recorded_by=acting_user(actor),
        )
        _summarise_consent(contact)
        if withdrawn:
            audit_record(
                tenant=contact.tenant,
                actor=actor,
                action=ContactAction.CONSENT_WITHDRAWN,
                target=contact.phone_e164,
                data={"source": source},
            )
        elif (actor is not None and actor.is_authenticated) or acting_api_key.get() is not None:
            # Consent a person typed in, or a system sent with an API key. A START by text is
            # logged by messaging as an opt-in, and an import's records by the import: neither is
            # logged twice.
            audit_record(
                tenant=contact.tenant,
                actor=actor,
                action=ContactAction.CONSENT_RECORDED,
                target=contact.phone_e164,
                data={"kind": record.kind, "source": record.source, "captured_at": captured_at.isoformat()},
            )
    return record
