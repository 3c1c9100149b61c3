"""Contact services: create, update and delete a contact, and the mobile-number check they use."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from contacts.models import Contact
from contacts.phones import normalize_phone, phone_problem
from contacts.services.audit import ContactAction
from contacts.services.consent import consent_filled, consent_problems, consent_record_add
from tenants.models import Tenant
from tenants.services import audit_record


def phone_require_mobile(raw: str) -> str:
    """The E.164 form of a number that can receive SMS, or a ValidationError saying why not."""
    phone = normalize_phone(raw)
    if phone.error == "empty":
        raise ValidationError("Enter a phone number.")
    if phone.error == "invalid":
        raise ValidationError(f"Not a valid phone number: {phone_problem(raw)}.")
    if phone.error == "not_mobile":
        raise ValidationError(
            f"{raw} is a {(phone.number_type or 'landline').replace('_', ' ')} number: it cannot receive SMS."
        )
    return phone.e164


EDITABLE_FIELDS = ("first_name", "last_name", "email", "timezone", "state", "postcode", "tags", "custom_fields")


def _phone_field(raw: str) -> str:
    """``phone_require_mobile`` with its error attached to the phone field of a form."""
    try:
        return phone_require_mobile(raw)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages}) from None


def contact_create(*, tenant: Tenant, actor, phone: str, consent: dict | None = None, **fields) -> Contact:
    """Create a contact from a form. ``consent`` (kind, source, captured_at, evidence) is optional:
    with every field empty no consent is recorded; with any filled, kind, source and time are
    required (refused by field before anything is saved)."""
    if consent is not None and not consent_filled(consent):
        consent = None
    if consent is not None:
        problems = consent_problems(
            kind=consent.get("kind", ""), source=consent.get("source", ""), captured_at=consent.get("captured_at")
        )
        if problems:
            raise ValidationError(problems)
    e164 = _phone_field(phone)
    with transaction.atomic():
        contact = Contact(tenant=tenant, phone_e164=e164, **{k: v for k, v in fields.items() if k in EDITABLE_FIELDS})
        contact.full_clean(exclude=["tenant"], validate_unique=False)
        try:
            with transaction.atomic():
                contact.save()
        except IntegrityError:
            raise ValidationError({"phone": f"{e164} is already a contact."}) from None
        audit_record(
            tenant=tenant,
            actor=actor,
            action=ContactAction.CONTACT_CREATED,
            target=e164,
            data={"name": contact.display_name if contact.display_name != e164 else ""},
        )
        if consent:
            consent_record_add(contact=contact, actor=actor, **consent)
    return contact


def contact_update(*, contact: Contact, actor, phone: str | None = None, **fields) -> Contact:
    """Change a contact's fields; the phone is re-validated and must stay unique."""
    with transaction.atomic():
        locked = Contact.objects.select_for_update().get(pk=contact.pk)
        before = {field: getattr(locked, field) for field in ("phone_e164", *EDITABLE_FIELDS)}
        if phone is not None:
            locked.phone_e164 = _phone_field(phone)
        for field, value in fields.items():
            if field not in EDITABLE_FIELDS:
                raise ValueError(f"{field} is not editable here")
            setattr(locked, field, value)
        locked.full_clean(exclude=["tenant"], validate_unique=False)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise ValidationError({"phone": f"{locked.phone_e164} is already another contact."}) from None
        changed = {
            ("phone" if field == "phone_e164" else field): {"from": old, "to": getattr(locked, field)}
            for field, old in before.items()
            if getattr(locked, field) != old
        }
        if changed:
            audit_record(
                tenant=locked.tenant,
                actor=actor,
                action=ContactAction.CONTACT_UPDATED,
                target=locked.phone_e164,
                data=changed,
            )
    return locked


def contact_delete(*, contact: Contact, actor) -> None:
    """Delete a contact and its consent history. Its do-not-contact entry, keyed by phone, stays."""
    with transaction.atomic():
        audit_record(
            tenant=contact.tenant,
            actor=actor,
            action=ContactAction.CONTACT_DELETED,
            target=contact.phone_e164,
            data={"name": contact.display_name},
        )
        # The cascade takes the consent records along (Django's collector uses the plain base
        # manager, not the append-only one): the person is gone, so is the evidence about them.
        Contact.objects.filter(pk=contact.pk).delete()
