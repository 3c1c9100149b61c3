"""Hostile input at the webhooks: NUL characters, half-written opt-outs, forged replays.

What a security review found: ``STOP\\x00`` (signed) committed the do-not-contact row but rolled
back the inbound message, its event and the consent withdrawal, and the provider's retries
failed the same way; and another tenant's account could pre-empt our status callbacks because
events were de-duplicated by MessageSid alone.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import ConsentStatus, DoNotContact
from contacts.tests.factories import mobile
from messaging import inbound
from messaging.models import (
    EventKind,
    Message,
    MessageKind,
    MessageStatus,
    ProviderAccount,
    ProviderEvent,
    SendingNumber,
)
from messaging.tests.signing import OUR_NUMBER, inbound_params, signed, status_params
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

RIVAL_TOKEN = "fedcba9876543210fedcba9876543210"


def test_a_stop_with_a_nul_opts_out_and_keeps_everything(client, tenant, number, contact):
    params = inbound_params("STOP\x00", phone=contact.phone_e164, message_sid="SM\x00abc")
    response = signed(client, "messaging:inbound_webhook", params)
    assert response.status_code == 200 and b"unsubscribed" in response.content
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()
    inbound_message = Message.objects.get(kind=MessageKind.INBOUND)
    assert inbound_message.body == "STOP" and inbound_message.provider_id == "SMabc"
    assert ProviderEvent.objects.get(status=EventKind.INBOUND).message == inbound_message
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.WITHDRAWN


def test_a_status_callback_with_nul_is_stored_without_it(client, message):
    params = status_params(message, "delivered", ErrorCode="", Price="-0.05\x00")
    response = signed(client, "messaging:status_callback", params)
    assert response.status_code == 200
    assert ProviderEvent.objects.get(status="delivered").params["Price"] == "-0.05"


def test_an_inbound_text_commits_all_its_writes_or_none(tenant, number, contact, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away half-way")

    monkeypatch.setattr(inbound.contact_services, "consent_record_add", broken)
    with pytest.raises(RuntimeError):
        inbound.inbound_receive(tenant=tenant, params=inbound_params("STOP", phone=contact.phone_e164))
    # Nothing half-written: the retry starts from a clean slate (and is not taken for a replay).
    assert not DoNotContact.objects.exists()
    assert not ProviderEvent.objects.exists() and not Message.objects.exists()
    monkeypatch.undo()
    received = inbound.inbound_receive(tenant=tenant, params=inbound_params("STOP", phone=contact.phone_e164))
    assert not received.replay and DoNotContact.objects.filter(phone_e164=contact.phone_e164).exists()


def test_another_accounts_callback_cannot_pre_empt_ours(client, tenant, other_tenant, message):
    rival_account = ProviderAccount.objects.create(
        tenant=other_tenant, account_sid="AC" + "9" * 32, auth_token=RIVAL_TOKEN
    )
    SendingNumber.objects.create(tenant=other_tenant, account=rival_account, sender="+61485000099")
    forged = status_params(message, "undelivered", account_sid=rival_account.account_sid, From="+61485000099")
    forged_delivered = status_params(message, "delivered", account_sid=rival_account.account_sid, From="+61485000099")
    for params in (forged, forged_delivered):
        assert signed(client, "messaging:status_callback", params, token=RIVAL_TOKEN).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED  # the rival's events never touch our message
    # Our provider's real report is not taken for a replay of the rival's.
    assert signed(client, "messaging:status_callback", status_params(message, "delivered")).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED
    assert ProviderEvent.objects.filter(message=message, status="delivered").count() == 1


def test_an_inbound_replay_is_recognised_per_account(client, tenant, other_tenant, number, contact):
    rival_account = ProviderAccount.objects.create(
        tenant=other_tenant, account_sid="AC" + "9" * 32, auth_token=RIVAL_TOKEN
    )
    SendingNumber.objects.create(tenant=other_tenant, account=rival_account, sender="+61485000099")
    taken = "SM" + "7" * 32
    rival = inbound_params(
        "hello", phone=mobile(900), to="+61485000099", message_sid=taken, account_sid=rival_account.account_sid
    )
    signed(client, "messaging:inbound_webhook", rival, token=RIVAL_TOKEN)
    ours = inbound_params("STOP", phone=contact.phone_e164, to=OUR_NUMBER, message_sid=taken)
    assert b"unsubscribed" in signed(client, "messaging:inbound_webhook", ours).content
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()


@pytest.mark.parametrize(
    "url",
    ["/contacts/?q=%00abc", "/contacts/?tag=a%00", "/contacts/do-not-contact/?q=%00", "/inbox/?page=%00"],
)
def test_a_nul_in_a_query_string_is_refused_not_a_500(tenant, members, url):
    response = client_for(members["owner"]).get(url)
    assert response.status_code == 400 and b"NUL" in response.content


def test_a_nul_in_the_admin_search_is_refused(tenant, staff_owner):
    response = client_for(staff_owner).get(reverse("admin:contacts_contact_changelist") + "?q=%00x")
    assert response.status_code == 400


def test_a_nul_in_a_form_field_is_refused(tenant, members):
    response = client_for(members["admin"]).post(reverse("tenants:pause"), {"reason": "x\x00y"})
    assert response.status_code == 400
    tenant.refresh_from_db()
    assert not tenant.is_paused
