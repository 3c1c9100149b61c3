"""Fixtures for the messaging app's tests."""

import pytest
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory, mobile
from messaging.models import Message, MessageStatus, ProviderAccount, SendingNumber
from messaging.tests.fake_twilio import FakeTwilio
from messaging.tests.signing import OUR_NUMBER, TOKEN, sid


@pytest.fixture
def fake_twilio(settings):
    """A local fake of Twilio's Messages API; TWILIO_API_BASE_URL points at it for the test."""
    server = FakeTwilio().start()
    settings.TWILIO_API_BASE_URL = server.url
    try:
        yield server
    finally:
        server.stop()


# --- a tenant's account, number, contact and queued message, for the webhook tests -----------


@pytest.fixture
def account(tenant):
    return ProviderAccount.objects.create(tenant=tenant, account_sid="AC" + "1" * 32, auth_token=TOKEN)


@pytest.fixture
def number(tenant, account):
    return SendingNumber.objects.create(tenant=tenant, account=account, sender=OUR_NUMBER)


@pytest.fixture
def contact(tenant):
    return ContactFactory(tenant=tenant, consent="express", phone_e164=mobile(501))


@pytest.fixture
def message(tenant, number, contact):
    campaign = CampaignFactory(tenant=tenant)
    return Message.objects.create(
        tenant=tenant,
        contact=contact,
        campaign=campaign,
        sending_number=number,
        to_phone=contact.phone_e164,
        from_sender=number.sender,
        body="Hi",
        status=MessageStatus.QUEUED,
        provider_id=sid(),
        handed_off_at=timezone.now(),
    )
