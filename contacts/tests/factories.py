"""Factories for contacts tests.

Phone numbers come from blocks that libphonenumber accepts as Australian mobiles: contacts
from +61412 000 000 up, do-not-contact entries from +61413 000 000 up, so a factory-made
entry never lands on a factory-made contact by accident. Consent is recorded through
``services.consent_record_add`` (as the product does), never by writing ConsentRecord rows.
"""

from datetime import timedelta

import factory
from django.utils import timezone

from contacts import services
from contacts.models import ConsentKind, Contact, DncReason, DoNotContact
from tenants.tests.factories import TenantFactory


def mobile(n: int, block: int = 412) -> str:
    """A valid AU mobile in E.164, distinct for every ``n`` below a million: mobile(7) == "+61412000007"."""
    return f"+61{block}{n:06d}"


class ContactFactory(factory.django.DjangoModelFactory):
    """A contact; ``ContactFactory(consent="express" | "inferred" | "withdrawn")`` records consent.

    "withdrawn" records express consent a week ago, then a withdrawal a day ago.
    """

    class Meta:
        model = Contact
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    phone_e164 = factory.Sequence(mobile)
    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = "Citizen"

    @factory.post_generation
    def consent(contact, create, extracted, **kwargs):
        if not extracted:
            return
        now = timezone.now()
        kind = ConsentKind.EXPRESS if extracted == "withdrawn" else ConsentKind(extracted)
        services.consent_record_add(
            contact=contact, actor=None, kind=kind, source="sign-up sheet", captured_at=now - timedelta(days=7)
        )
        if extracted == "withdrawn":
            services.consent_record_add(
                contact=contact,
                actor=None,
                kind=kind,
                source="replied STOP",
                captured_at=now - timedelta(days=1),
                withdrawn=True,
            )


class DoNotContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DoNotContact

    tenant = factory.SubFactory(TenantFactory)
    phone_e164 = factory.Sequence(lambda n: mobile(n, block=413))
    reason = DncReason.MANUAL
