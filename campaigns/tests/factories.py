"""Factories for campaigns tests: templates, campaigns, and what sending needs (account, sender, price).

Senders are valid AU mobiles in E.164 from +61400 000 000 up (``sender(7) == "+61400000007"``),
apart from the contacts' and do-not-contact blocks (+61412…, +61413…).
"""

import secrets
import uuid
from datetime import date

import factory

from campaigns.models import Campaign, CampaignStatus, Template, Variant
from messaging.models import Price, Provider, ProviderAccount, SenderIdStatus, SenderKind, SendingNumber
from tenants.tests.factories import TenantFactory

DEFAULT_BODY = "Hi {{ first_name|there }}, 20% off all bread today"


def sender(n: int) -> str:
    return f"+61400{n:06d}"


class TemplateFactory(factory.django.DjangoModelFactory):
    """A template; ``TemplateFactory(bodies=[...])`` sets its variants (default: one plain body)."""

    class Meta:
        model = Template
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"Template {n}")

    @factory.post_generation
    def bodies(template, create, extracted, **kwargs):
        bodies = DEFAULT_BODY if extracted is None else extracted
        bodies = [bodies] if isinstance(bodies, str) else list(bodies)
        Variant.objects.bulk_create(
            [Variant(template=template, position=position, body=body) for position, body in enumerate(bodies)]
        )


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    tenant = factory.SubFactory(TenantFactory)
    template = factory.SubFactory(TemplateFactory, tenant=factory.SelfAttribute("..tenant"))
    name = factory.Sequence(lambda n: f"Campaign {n}")
    status = CampaignStatus.DRAFT


class ProviderAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderAccount

    tenant = factory.SubFactory(TenantFactory)
    provider = Provider.SIMULATOR
    account_sid = factory.LazyFunction(lambda: "AC" + uuid.uuid4().hex)
    auth_token = factory.LazyFunction(lambda: secrets.token_hex(16))


class SendingNumberFactory(factory.django.DjangoModelFactory):
    """A phone number by default; ``kind=SenderKind.ALPHA, sender="AcmeBakery", sender_id_status=…`` for an ID."""

    class Meta:
        model = SendingNumber

    tenant = factory.SubFactory(TenantFactory)
    account = factory.SubFactory(ProviderAccountFactory, tenant=factory.SelfAttribute("..tenant"))
    sender = factory.Sequence(lambda n: sender(n + 1))
    kind = SenderKind.NUMBER
    sender_id_status = SenderIdStatus.NOT_APPLICABLE
    warmup_started_on = date(2020, 1, 1)
    warmup_curve = factory.LazyFunction(lambda: [1000])


class PriceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Price

    tenant = factory.SubFactory(TenantFactory)
    provider = Provider.SIMULATOR
    country = "AU"
    cents_per_segment = 5
    effective_from = date(2020, 1, 1)
