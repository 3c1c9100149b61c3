"""Status callbacks: signed like Twilio signs them, applied in order-proof fashion."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from twilio.request_validator import RequestValidator

from contacts.models import Contact, DoNotContact
from contacts.tests.factories import ContactFactory
from messaging.models import Message, MessageStatus, ProviderAccount, SendingNumber
from messaging.simulation import callback_params

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def account(tenant):
    return ProviderAccount.objects.create(tenant=tenant, account_sid="AC" + "1" * 32, auth_token=TOKEN)


@pytest.fixture
def message(tenant, account):
    contact = ContactFactory(tenant=tenant, consent="express")
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000001")
    return Message.objects.create(
        tenant=tenant,
        contact=contact,
        sending_number=number,
        to_phone=contact.phone_e164,
        from_sender=number.sender,
        body="Hi",
        status=MessageStatus.QUEUED,
        provider_id="SM" + "a" * 32,
    )


def post_status(client, message, status, *, error_code="", token=TOKEN, account_sid=None):
    url = settings.PUBLIC_BASE_URL + reverse("messaging:status_callback")
    params = callback_params(
        provider_id=message.provider_id,
        account_sid=account_sid or message.sending_number.account.account_sid,
        sender=message.from_sender,
        to=message.to_phone,
        status=status,
        error_code=error_code,
    )
    signature = RequestValidator(token).compute_signature(url, params)
    return client.post(reverse("messaging:status_callback"), params, HTTP_X_TWILIO_SIGNATURE=signature)


@pytest.mark.django_db
def test_a_signed_callback_moves_the_message_forward(client, message):
    response = post_status(client, message, "sent")
    assert response.status_code == 200 and b"<Response/>" in response.content
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT


@pytest.mark.django_db
def test_a_bad_signature_or_unknown_account_changes_nothing(client, message):
    assert post_status(client, message, "delivered", token="wrong-token").status_code == 403
    assert post_status(client, message, "delivered", account_sid="AC" + "9" * 32).status_code == 403
    assert client.post(reverse("messaging:status_callback"), {"MessageSid": message.provider_id}).status_code == 403
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED


@pytest.mark.django_db
def test_a_late_sent_never_overwrites_delivered_and_repeats_change_nothing(client, message):
    post_status(client, message, "delivered")
    post_status(client, message, "sent")
    post_status(client, message, "delivered")
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


@pytest.mark.django_db
def test_hard_bounces_and_provider_opt_outs_stop_the_contact(client, message, tenant):
    post_status(client, message, "undelivered", error_code="30005")
    contact = Contact.objects.get(pk=message.contact_id)
    assert contact.undeliverable and "30005" in contact.undeliverable_reason
    other = Message.objects.create(
        tenant=tenant,
        contact=ContactFactory(tenant=tenant),
        sending_number=message.sending_number,
        to_phone="+61412999999",
        from_sender=message.from_sender,
        body="Hi",
        status=MessageStatus.QUEUED,
        provider_id="SM" + "b" * 32,
    )
    post_status(client, other, "failed", error_code="21610")
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=other.contact.phone_e164).exists()


@pytest.mark.django_db
def test_another_tenants_account_cannot_touch_our_message(client, message, other_tenant):
    theirs = ProviderAccount.objects.create(tenant=other_tenant, account_sid="AC" + "2" * 32, auth_token="t" * 32)
    assert (
        post_status(client, message, "failed", token=theirs.auth_token, account_sid=theirs.account_sid).status_code
        == 200
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED  # validly signed, but not their message
