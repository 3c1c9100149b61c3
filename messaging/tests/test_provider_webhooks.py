"""Provider webhooks end to end: signatures, idempotency, the status state machine, inbound keywords.

Every request is signed exactly as Twilio signs it (RequestValidator.compute_signature over the
public URL and every posted parameter) and posted through the real view.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from twilio.request_validator import RequestValidator

from campaigns.tests.factories import CampaignFactory
from contacts.models import ConsentRecord, ConsentStatus, Contact, DncReason, DoNotContact
from contacts.tests.factories import ContactFactory, mobile
from messaging import events
from messaging.keywords import Intent
from messaging.models import (
    EventKind,
    Message,
    MessageKind,
    MessageStatus,
    ProviderAccount,
    ProviderEvent,
    SendingNumber,
    Spend,
)
from messaging.tests.signing import (
    TOKEN,
    inbound_params,
    post_inbound,
    post_status,
    sid,
    signed,
    status_params,
)
from tenants.models import AuditEvent


def fresh(obj):
    obj.refresh_from_db()
    return obj


# --- signatures ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["messaging:status_callback", "messaging:provider_webhook"])
def test_a_validly_signed_callback_is_applied_at_either_url(client, message, path):
    response = post_status(client, message, "delivered", path=path)
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert b"<Response/>" in response.content
    assert fresh(message).status == MessageStatus.DELIVERED


@pytest.mark.django_db
def test_tampered_wrong_token_missing_header_or_unknown_account_is_403_and_stores_nothing(
    client, message, caplog, account
):
    params = status_params(message, "delivered")
    url = "http://127.0.0.1:8000" + reverse("messaging:status_callback")
    good = RequestValidator(TOKEN).compute_signature(url, params)
    path = reverse("messaging:status_callback")
    with caplog.at_level(logging.WARNING, logger="messaging.webhooks"):
        tampered = {**params, "MessageStatus": "failed"}
        assert client.post(path, tampered, HTTP_X_TWILIO_SIGNATURE=good).status_code == 403
        assert signed(client, "messaging:status_callback", params, token="f" * 32).status_code == 403
        assert client.post(path, params).status_code == 403  # no header
        stranger = status_params(message, "delivered", account_sid="AC" + "9" * 32)
        assert signed(client, "messaging:status_callback", stranger).status_code == 403
        account.is_active = False
        account.save()
        assert signed(client, "messaging:status_callback", params).status_code == 403
    assert fresh(message).status == MessageStatus.QUEUED
    assert not ProviderEvent.objects.exists()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "webhook refused" in logged and "invalid signature" in logged and "missing signature" in logged
    assert TOKEN not in logged and good not in logged


@pytest.mark.django_db
def test_another_tenants_token_does_not_validate_our_account(client, message, other_tenant):
    ProviderAccount.objects.create(tenant=other_tenant, account_sid="AC" + "2" * 32, auth_token="t" * 32)
    # Signed with their token but naming our account: refused.
    assert (
        signed(client, "messaging:status_callback", status_params(message, "failed"), token="t" * 32).status_code == 403
    )
    # Signed with their token and naming their account: valid, but our message is not theirs.
    theirs = status_params(message, "failed", account_sid="AC" + "2" * 32)
    assert signed(client, "messaging:status_callback", theirs, token="t" * 32).status_code == 200
    assert fresh(message).status == MessageStatus.QUEUED
    event = ProviderEvent.objects.get()
    assert event.tenant_id == other_tenant.id and event.message_id is None


@pytest.mark.django_db
@override_settings(PUBLIC_BASE_URL="https://crm.example.com")
@pytest.mark.parametrize("signed_url", ["https://crm.example.com{}", "https://crm.example.com:443{}"])
def test_both_port_forms_of_the_public_url_validate(client, message, signed_url):
    path = reverse("messaging:status_callback")
    response = signed(client, "messaging:status_callback", status_params(message, "sent"), url=signed_url.format(path))
    assert response.status_code == 200
    assert fresh(message).status == MessageStatus.SENT


@pytest.mark.django_db
@override_settings(PUBLIC_BASE_URL="https://crm.example.com")
def test_the_url_comes_from_the_configured_base_not_the_host_header(client, message):
    path = reverse("messaging:status_callback")
    # Signed for the Host the request claims: not what we are configured as, so refused.
    spoofed = signed(
        client, "messaging:status_callback", status_params(message, "sent"), url="http://testserver" + path
    )
    assert spoofed.status_code == 403
    # Proxy headers are ignored unless trusted.
    forwarded = signed(
        client,
        "messaging:status_callback",
        status_params(message, "sent"),
        url="https://hooks.example.net" + path,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="hooks.example.net",
    )
    assert forwarded.status_code == 403


@pytest.mark.django_db
@override_settings(PUBLIC_BASE_URL="https://crm.example.com", WEBHOOK_TRUST_PROXY_HEADERS=True)
def test_a_trusted_proxy_says_which_url_was_called(client, message):
    path = reverse("messaging:status_callback")
    response = signed(
        client,
        "messaging:status_callback",
        status_params(message, "sent"),
        url="https://hooks.example.net:8443" + path,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="hooks.example.net",
        HTTP_X_FORWARDED_PORT="8443",
    )
    assert response.status_code == 200
    assert fresh(message).status == MessageStatus.SENT


@pytest.mark.django_db
def test_a_signed_request_without_a_message_sid_is_400_and_stores_nothing(client, message):
    params = status_params(message, "delivered")
    del params["MessageSid"]
    assert signed(client, "messaging:provider_webhook", params).status_code == 400
    assert fresh(message).status == MessageStatus.QUEUED and not ProviderEvent.objects.exists()


@pytest.mark.django_db
def test_a_body_over_64_kb_is_413_and_stores_nothing(client, message):
    params = status_params(message, "delivered", Padding="x" * (64 * 1024))
    assert signed(client, "messaging:provider_webhook", params).status_code == 413
    assert fresh(message).status == MessageStatus.QUEUED and not ProviderEvent.objects.exists()


@pytest.mark.django_db
@override_settings(TWILIO_AUTH_TOKENS={"AC" + "3" * 32: "e" * 32})
def test_a_token_kept_in_the_environment_validates(client, tenant, contact):
    account = ProviderAccount.objects.create(tenant=tenant, account_sid="AC" + "3" * 32, auth_token="")
    response = signed(
        client,
        "messaging:inbound_webhook",
        inbound_params("Hello", phone=contact.phone_e164, account_sid=account.account_sid),
        token="e" * 32,
    )
    assert response.status_code == 200
    assert Message.objects.filter(kind=MessageKind.INBOUND, body="Hello").exists()


@pytest.mark.django_db
def test_tokens_are_stored_encrypted(account):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM messaging_provideraccount WHERE id = %s", [account.pk])
        (stored,) = cursor.fetchone()
    assert stored.startswith("fernet:") and TOKEN not in stored
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == TOKEN


# --- idempotency and the state machine ---------------------------------------------------------


@pytest.mark.django_db
def test_ten_replays_of_a_callback_change_nothing(client, message):
    for _ in range(10):
        assert post_status(client, message, "undelivered", error_code="30003").status_code == 200
    assert ProviderEvent.objects.filter(message=message).count() == 1
    first = fresh(message)
    assert first.status == MessageStatus.UNDELIVERED and first.error_code == "30003"
    for _ in range(10):
        post_status(client, message, "undelivered", error_code="30003")
    again = fresh(message)
    assert (again.status, again.status_at) == (first.status, first.status_at)


FINAL_OF = {
    "sent": MessageStatus.SENT,
    "failed": MessageStatus.FAILED,
    "undelivered": MessageStatus.UNDELIVERED,
    "delivered": MessageStatus.DELIVERED,
}
ORDER = ["sent", "failed", "undelivered", "delivered"]  # lowest rank first


@pytest.mark.django_db
def test_every_order_of_every_set_of_reports_ends_on_the_highest(client, tenant, number, contact):
    checked = 0
    for size in range(1, 5):
        for subset in itertools.combinations(ORDER, size):
            expected = FINAL_OF[max(subset, key=ORDER.index)]
            for order in itertools.permutations(subset):
                message = Message.objects.create(
                    tenant=tenant,
                    contact=contact,
                    sending_number=number,
                    to_phone=contact.phone_e164,
                    from_sender=number.sender,
                    body="Hi",
                    status=MessageStatus.QUEUED,
                    provider_id=sid(),
                )
                for status in order:
                    assert post_status(client, message, status).status_code == 200
                assert fresh(message).status == expected, order
                assert ProviderEvent.objects.filter(message=message).count() == len(order)  # the full history
                checked += 1
    assert checked == 64


@pytest.mark.django_db
def test_delivery_time_comes_from_raw_dlr_done_date(client, message):
    post_status(client, message, "delivered", RawDlrDoneDate="2611250342")
    assert fresh(message).delivered_at == dt.datetime(2026, 11, 25, 3, 42, tzinfo=dt.UTC)
    assert ProviderEvent.objects.get().done_at == dt.datetime(2026, 11, 25, 3, 42, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_a_callback_that_beats_the_provider_id_is_applied_once_it_is_known(client, message):
    real_sid = message.provider_id
    Message.objects.filter(pk=message.pk).update(provider_id="")
    post_status(client, message, "sent")
    post_status(client, message, "delivered")
    assert fresh(message).status == MessageStatus.QUEUED
    assert ProviderEvent.objects.filter(applied=False, message__isnull=True).count() == 2
    Message.objects.filter(pk=message.pk).update(provider_id=real_sid)
    assert events.events_apply_pending() == 2
    assert fresh(message).status == MessageStatus.DELIVERED
    assert ProviderEvent.objects.filter(message=message, applied=True).count() == 2
    assert events.events_apply_pending() == 0


@pytest.mark.django_db
def test_a_reported_aud_price_corrects_the_reserved_spend(client, message, tenant):
    Message.objects.filter(pk=message.pk).update(cost_cents=10)
    day = timezone.localtime(message.handed_off_at, tenant.zone).date()
    Spend.objects.create(tenant=tenant, period="day", starts_on=day, cents=10)
    Spend.objects.create(tenant=tenant, period="month", starts_on=day.replace(day=1), cents=10)
    post_status(client, message, "delivered", Price="-0.0790", PriceUnit="AUD")
    assert fresh(message).provider_price_cents == 8
    assert Spend.objects.get(tenant=tenant, period="day").cents == 8
    assert events.price_cents("-0.0795", "AUD") == 8 and events.price_cents("-0.07", "USD") is None
    assert events.price_cents(str(Decimal("-1.005")), "aud") == 101


# --- error codes -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_21610_puts_the_number_on_the_do_not_contact_list(client, message, tenant):
    post_status(client, message, "failed", error_code="21610")
    entry = DoNotContact.objects.get(tenant=tenant, phone_e164=message.to_phone)
    assert entry.reason == DncReason.PROVIDER_OPT_OUT


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["30005", "30006", "21211", "21614"])
def test_hard_bounces_flag_the_contact_undeliverable(client, message, code):
    post_status(client, message, "undelivered", error_code=code)
    contact = Contact.objects.get(pk=message.contact_id)
    assert contact.undeliverable and code in contact.undeliverable_reason


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["30003", "30008", "30007"])
def test_transient_and_content_errors_fail_the_message_but_not_the_contact(client, message, code, tenant):
    post_status(client, message, "undelivered", error_code=code)
    message = fresh(message)
    assert (message.status, message.error_code) == (MessageStatus.UNDELIVERED, code)
    contact = Contact.objects.get(pk=message.contact_id)
    assert not contact.undeliverable and not DoNotContact.objects.filter(tenant=tenant).exists()
    if code == "30007":  # what the campaign page counts as a content problem
        assert Message.objects.filter(campaign=message.campaign, error_code="30007").count() == 1


# --- inbound keywords ------------------------------------------------------------------------


def twiml_message(response) -> str:
    content = response.content.decode()
    assert response["Content-Type"] == "text/xml" and content.startswith("<?xml")
    if "<Message>" not in content:
        return ""
    return content.split("<Message>")[1].split("</Message>")[0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    ["STOP", " stop. ", "Stop!", "STOP ALL", "stopall", "Unsubscribe", "cancel", "END", "quit", "opt out", "REVOKE"],
)
def test_stop_words_put_the_number_on_the_list_and_confirm_with_the_business_name(
    client, tenant, number, message, contact, body
):
    response = post_inbound(client, body, phone=contact.phone_e164)
    assert response.status_code == 200
    assert twiml_message(response) == "You've been unsubscribed from Acme Bakery. No more messages will be sent."
    entry = DoNotContact.objects.get(tenant=tenant, phone_e164=contact.phone_e164)
    assert entry.reason == DncReason.STOP_KEYWORD
    inbound = Message.objects.get(kind=MessageKind.INBOUND)
    assert (inbound.intent, inbound.contact_id, inbound.campaign_id) == (
        Intent.OPT_OUT,
        contact.id,
        message.campaign_id,
    )
    assert fresh(contact).consent_status == ConsentStatus.WITHDRAWN
    assert Message.objects.get(kind=MessageKind.REPLY).body.startswith("You've been unsubscribed from Acme Bakery")


@pytest.mark.django_db
def test_opt_out_type_stop_counts_whatever_the_body(client, tenant, number, contact):
    post_inbound(client, "arrête", phone=contact.phone_e164, OptOutType="STOP")
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()


@pytest.mark.django_db
def test_a_stranger_who_texts_stop_is_listed_and_kept(client, tenant, number):
    stranger = mobile(777)
    response = post_inbound(client, "STOP", phone=stranger)
    assert "Acme Bakery" in twiml_message(response)
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=stranger).exists()
    inbound = Message.objects.get(kind=MessageKind.INBOUND)
    assert inbound.contact is None and inbound.from_sender == stranger and inbound.campaign is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "matched"),
    [
        ("please stop texting me", "stop texting"),
        ("Remove me from your list", "remove me"),
        ("unsubscribe me please", "unsubscribe"),
        ("Don't text me again", "dont text"),
    ],
)
def test_clear_requests_in_other_words_opt_out_and_are_flagged(client, tenant, number, contact, body, matched):
    response = post_inbound(client, body, phone=contact.phone_e164)
    assert "unsubscribed from Acme Bakery" in twiml_message(response)
    entry = DoNotContact.objects.get(tenant=tenant, phone_e164=contact.phone_e164)
    assert entry.reason == DncReason.OPT_OUT_REQUEST
    inbound = Message.objects.get(kind=MessageKind.INBOUND)
    assert (inbound.intent, inbound.matched) == (Intent.OPT_OUT_PHRASE, matched)


@pytest.mark.django_db
def test_a_tenants_own_phrases_replace_the_defaults(client, tenant, number, contact):
    tenant.opt_out_phrases = "no thanks\nnot interested"
    tenant.save()
    post_inbound(client, "Not interested, sorry", phone=contact.phone_e164)
    assert DoNotContact.objects.filter(tenant=tenant).count() == 1
    post_inbound(client, "can you stop by the shop?", phone=mobile(778))  # "stop" is not a phrase any more
    assert DoNotContact.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db
def test_a_custom_confirmation_still_names_the_business(client, tenant, number, contact):
    tenant.opt_out_reply = "Done - {business} won't text you again."
    tenant.save()
    response = post_inbound(client, "STOP", phone=contact.phone_e164)
    assert "Acme Bakery" in twiml_message(response) and "again" in twiml_message(response)


@pytest.mark.django_db
def test_start_lifts_only_stop_type_entries_and_records_consent(client, tenant, number, contact):
    post_inbound(client, "STOP", phone=contact.phone_e164)
    response = post_inbound(client, "START", phone=contact.phone_e164)
    assert "subscribed to messages from Acme Bakery" in twiml_message(response)
    assert not DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()
    record = ConsentRecord.objects.filter(contact=contact).order_by("-id").first()
    assert (record.kind, record.source, record.withdrawn) == ("express", "keyword START", False)
    assert fresh(contact).consent_status == ConsentStatus.EXPRESS

    manual = ContactFactory(tenant=tenant, consent="express", phone_e164=mobile(502))
    DoNotContact.objects.create(tenant=tenant, phone_e164=manual.phone_e164, reason=DncReason.MANUAL)
    complaint = mobile(503)
    DoNotContact.objects.create(tenant=tenant, phone_e164=complaint, reason=DncReason.COMPLAINT)
    for phone in (manual.phone_e164, complaint):
        reply = twiml_message(post_inbound(client, "yes", phone=phone))
        assert "contact Acme Bakery" in reply
        assert DoNotContact.objects.filter(tenant=tenant, phone_e164=phone).exists()


@pytest.mark.django_db
def test_help_names_the_business_how_to_reach_it_and_how_to_opt_out(client, tenant, number, contact):
    tenant.contact_details = "call 02 9999 0000"
    tenant.save()
    reply = twiml_message(post_inbound(client, "help", phone=contact.phone_e164))
    assert reply == "Acme Bakery: call 02 9999 0000. Reply STOP to opt out."
    assert Message.objects.get(kind=MessageKind.INBOUND).intent == Intent.HELP
    assert not DoNotContact.objects.exists()


@pytest.mark.django_db
def test_any_other_text_is_a_reply_on_the_contact_with_no_answer(client, tenant, number, message, contact):
    response = post_inbound(client, "What time do you open?", phone=contact.phone_e164)
    assert twiml_message(response) == ""
    inbound = Message.objects.get(kind=MessageKind.INBOUND)
    assert (inbound.intent, inbound.contact_id, inbound.read_at) == (Intent.REPLY, contact.id, None)
    assert inbound.campaign_id == message.campaign_id and inbound.status == MessageStatus.RECEIVED
    assert not Message.objects.filter(kind=MessageKind.REPLY).exists()
    assert not DoNotContact.objects.exists()


@pytest.mark.django_db
def test_the_single_url_tells_inbound_from_status(client, tenant, number, contact):
    response = post_inbound(client, "STOP", phone=contact.phone_e164, path="messaging:provider_webhook")
    assert "Acme Bakery" in twiml_message(response)
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()


@pytest.mark.django_db
def test_attribution_goes_to_the_latest_campaign_within_30_days(client, tenant, number, contact):
    old, recent = CampaignFactory(tenant=tenant), CampaignFactory(tenant=tenant)
    now = timezone.now()
    for campaign, age in ((old, 40), (recent, 10)):
        sent = Message.objects.create(
            tenant=tenant,
            contact=contact,
            campaign=campaign,
            sending_number=number,
            to_phone=contact.phone_e164,
            from_sender=number.sender,
            body="Hi",
            status=MessageStatus.DELIVERED,
            provider_id=sid(),
        )
        Message.objects.filter(pk=sent.pk).update(created_at=now - dt.timedelta(days=age))
    post_inbound(client, "STOP", phone=contact.phone_e164)
    assert Message.objects.get(kind=MessageKind.INBOUND).campaign == recent
    Message.objects.filter(campaign=recent).update(created_at=now - dt.timedelta(days=31))
    post_inbound(client, "thanks", phone=contact.phone_e164)
    assert Message.objects.filter(kind=MessageKind.INBOUND, body="thanks").get().campaign is None


@pytest.mark.django_db
def test_ten_replays_of_an_inbound_stop_change_nothing_and_answer_the_same(client, tenant, number, contact):
    params = inbound_params("STOP", phone=contact.phone_e164)
    first = signed(client, "messaging:inbound_webhook", params)
    audits = AuditEvent.objects.count()
    for _ in range(10):
        again = signed(client, "messaging:inbound_webhook", params)
        assert again.status_code == 200 and again.content == first.content
    assert ProviderEvent.objects.filter(kind=EventKind.INBOUND).count() == 1
    assert Message.objects.filter(kind=MessageKind.INBOUND).count() == 1
    assert Message.objects.filter(kind=MessageKind.REPLY).count() == 1
    assert DoNotContact.objects.count() == 1 and AuditEvent.objects.count() == audits
    assert ConsentRecord.objects.filter(contact=contact, withdrawn=True).count() == 1


@pytest.mark.django_db
def test_another_tenants_number_or_account_never_matches(client, tenant, number, other_tenant):
    theirs = ProviderAccount.objects.create(tenant=other_tenant, account_sid="AC" + "4" * 32, auth_token="u" * 32)
    SendingNumber.objects.create(tenant=other_tenant, account=theirs, sender="+61485000099")
    their_contact = ContactFactory(tenant=other_tenant, consent="express", phone_e164=mobile(601))
    # Our account, their number: ours is the only tenant it can reach.
    post_inbound(client, "STOP", phone=their_contact.phone_e164, to="+61485000099")
    assert not DoNotContact.objects.filter(tenant=other_tenant).exists()
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=their_contact.phone_e164).exists()
    assert Message.objects.get(kind=MessageKind.INBOUND).contact is None  # not their contact
    # Their account cannot reach our number's tenant either.
    params = inbound_params("STOP", phone=mobile(602), account_sid=theirs.account_sid)
    signed(client, "messaging:inbound_webhook", params, token="u" * 32)
    assert not DoNotContact.objects.filter(tenant=tenant, phone_e164=mobile(602)).exists()
    assert DoNotContact.objects.filter(tenant=other_tenant, phone_e164=mobile(602)).exists()


@pytest.mark.django_db
def test_simulate_inbound_posts_a_signed_text_through_the_webhook(tenant, number, contact):
    import io

    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("simulate_inbound", tenant=tenant.slug, phone="0412 000 501", body="STOP", stdout=out)
    assert "unsubscribed from Acme Bakery" in out.getvalue()
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=contact.phone_e164).exists()
    assert ProviderEvent.objects.filter(kind=EventKind.INBOUND).count() == 1
    with pytest.raises(CommandError, match="not a phone number"):
        call_command("simulate_inbound", tenant=tenant.slug, phone="hello", body="STOP")
