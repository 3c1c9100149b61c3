"""Do-not-contact services: add numbers (one, or a pasted list), lift an entry by hand or on an opt-in."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from contacts import guard
from contacts.models import DNC_REASONS_LIFTED_BY_OPT_IN, DncReason, DoNotContact
from contacts.phones import normalize_phone, phone_problem
from contacts.services.audit import ContactAction
from tenants.acting import acting_api_key
from tenants.models import Tenant
from tenants.services import acting_user, audit_record
from webhooks.events import event_emit
from webhooks.models import EventType


def dnc_add(
    *, tenant: Tenant, phone: str, reason: str, actor=None, note: str = "", source: str = ""
) -> tuple[DoNotContact, bool]:
    """Put a number on the tenant's do-not-contact list; (entry, created). Idempotent.

    Accepts any number that parses (a landline too: it may become a mobile's number later).
    No message to the number is handed to the provider after this returns (contacts.guard).
    """
    return _dnc_add(tenant=tenant, phone=phone, reason=reason, actor=actor, note=note, source=source, lock=True)


def _dnc_add(*, tenant, phone, reason, actor, note, source, lock: bool) -> tuple[DoNotContact, bool]:
    parsed = normalize_phone(phone)
    if parsed.e164 is None:
        raise ValidationError(f"Not a valid phone number: {phone_problem(phone)}.")
    with transaction.atomic():
        if lock:  # else the caller holds the tenant-wide lock
            guard.lock_number_exclusively(tenant.id, parsed.e164)
        entry, created = DoNotContact.objects.get_or_create(
            tenant=tenant,
            phone_e164=parsed.e164,
            defaults={
                "reason": DncReason(reason),
                "note": note[:500],
                "source": source[:200],
                "added_by": acting_user(actor),
            },
        )
        if created:
            audit_record(
                tenant=tenant,
                actor=actor,
                action=ContactAction.DNC_ADDED,
                target=parsed.e164,
                data={"reason": reason, "note": note[:200]},
            )
            if _by_a_person(actor):
                event_emit(
                    tenant_id=tenant.id,
                    type=EventType.CONTACT_OPTED_OUT,
                    data={"phone_e164": parsed.e164, "reason": entry.reason, "by": "staff"},
                )
    return entry, created


def _by_a_person(actor) -> bool:
    """A person (on a page) or a system with an API key put it there. A STOP by text is announced
    by messaging with its keyword, and a hard bounce is not an opt-out: neither has an actor."""
    return acting_user(actor) is not None or acting_api_key.get() is not None


@dataclass
class DncBulkResult:
    added: int
    already: int
    invalid: list[tuple[int, str]]


def dnc_add_many(*, tenant: Tenant, text: str, actor, reason: str = DncReason.MANUAL, note: str = "") -> DncBulkResult:
    """Add every number of a pasted list (one per line, or separated by commas/semicolons).

    Nothing is added when any line is invalid: the caller shows the bad lines and the person
    fixes them, so no list is ever half-applied.
    """
    lines = [
        (n, item.strip()) for n, line in enumerate(text.splitlines(), 1) for item in line.replace(";", ",").split(",")
    ]
    lines = [(n, item) for n, item in lines if item]
    invalid = [(n, item) for n, item in lines if normalize_phone(item).e164 is None]
    if invalid or not lines:
        return DncBulkResult(0, 0, invalid)
    added = already = 0
    with transaction.atomic():
        guard.lock_tenant_exclusively(tenant.id)  # one lock, however long the list
        for _, item in lines:
            _, created = _dnc_add(
                tenant=tenant, phone=item, reason=reason, actor=actor, note=note, source="", lock=False
            )
            added += created
            already += not created
    return DncBulkResult(added, already, [])


def dnc_remove(*, entry: DoNotContact, actor, reason: str) -> None:
    """Lift a do-not-contact entry. Needs a reason, which goes into the audit log."""
    if not reason.strip():
        raise ValidationError("Say why this number may be contacted again.")
    with transaction.atomic():
        audit_record(
            tenant=entry.tenant,
            actor=actor,
            action=ContactAction.DNC_REMOVED,
            target=entry.phone_e164,
            data={"reason": reason.strip()[:500], "entry_reason": entry.reason, "added": entry.created_at.isoformat()},
        )
        DoNotContact.objects.filter(pk=entry.pk).delete()
        event_emit(
            tenant_id=entry.tenant_id,
            type=EventType.CONTACT_OPTED_IN,
            data={"phone_e164": entry.phone_e164, "reason": reason.strip()[:500], "by": "staff"},
        )


def dnc_opt_in(*, tenant: Tenant, phone: str, source: str) -> str:
    """Someone asked to hear from the tenant again (START): lift an opt-out entry, never more.

    Returns "lifted", "absent" (no entry), or "kept" (the entry is a complaint, a manual entry
    or a hard bounce, which only staff may lift).
    """
    with transaction.atomic():
        entry = DoNotContact.objects.select_for_update().filter(tenant=tenant, phone_e164=phone).first()
        if entry is None:
            return "absent"
        if entry.reason not in DNC_REASONS_LIFTED_BY_OPT_IN:
            return "kept"
        audit_record(
            tenant=tenant,
            actor=None,
            action=ContactAction.DNC_REMOVED,
            target=entry.phone_e164,
            data={"reason": f"Opted back in ({source})"[:500], "entry_reason": entry.reason},
        )
        DoNotContact.objects.filter(pk=entry.pk).delete()
    return "lifted"
