"""Reserved spend is corrected with what the provider charged, once it says (Twilio: later)."""

import datetime as dt

import pytest
from django.utils import timezone

from contacts.tests.factories import ContactFactory
from messaging import services
from messaging.backends.base import OutboundSMS, Outcome
from messaging.backends.twilio import TwilioBackend
from messaging.models import Message, MessageStatus, ProviderAccount, SendingNumber, Spend


@pytest.mark.django_db
def test_a_price_reported_after_sending_corrects_the_spend(tenant, fake_twilio):
    account = ProviderAccount.objects.create(tenant=tenant, account_sid="AC" + "3" * 32, auth_token="t" * 32)
    fake_twilio.add_account(account.account_sid, account.auth_token)
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000009")
    contact = ContactFactory(tenant=tenant, consent="express")
    backend = TwilioBackend()
    [result] = backend.send(
        [
            OutboundSMS(
                reference="r1", to=contact.phone_e164, sender=number.sender, body="Hi", account=account.credentials
            )
        ]
    )
    assert result.outcome == Outcome.ACCEPTED and result.price_cents is None  # Twilio prices later
    sent_at = timezone.now() - dt.timedelta(minutes=10)
    message = Message.objects.create(
        tenant=tenant, contact=contact, sending_number=number, to_phone=contact.phone_e164, from_sender=number.sender,
        body="Hi", status=MessageStatus.DELIVERED, provider_id=result.provider_id, cost_cents=5, handed_off_at=sent_at,
    )  # fmt: skip
    # The reservation's day is the decision's (the message's creation), as the correction reads it.
    day, month = services.local_periods(tenant, message.created_at)
    services.spend_read(tenant=tenant, day=day, month=month)
    services.spend_add(tenant=tenant, day=day, month=month, cents=5)

    assert services.message_prices_reconcile(backend=backend) == 0  # not priced yet: nothing changes
    fake_twilio.messages[result.provider_id]["price"] = "-0.0790"
    assert services.message_prices_reconcile(backend=backend) == 1
    message.refresh_from_db()
    assert message.provider_price_cents == 8
    assert Spend.objects.get(tenant=tenant, period="day").cents == 8  # 5 reserved, corrected to 8
    assert services.message_prices_reconcile(backend=backend) == 0  # settled: not asked again
