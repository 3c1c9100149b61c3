"""The inbox, the contact's messages, a campaign's responses and the webhook URLs on the numbers page."""

from __future__ import annotations

import html
import itertools

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, SendingNumberFactory
from contacts.tests.factories import ContactFactory, mobile
from messaging.keywords import Intent
from messaging.models import Message, MessageKind, MessageStatus, ProviderEvent
from tenants.testing import assert_roles, client_for

pytestmark = pytest.mark.django_db
_sids = itertools.count(1)


def inbound(tenant, body, *, contact=None, phone=None, intent=Intent.REPLY, matched="", campaign=None, read=False):
    return Message.objects.create(
        tenant=tenant,
        contact=contact,
        campaign=campaign,
        kind=MessageKind.INBOUND,
        status=MessageStatus.RECEIVED,
        to_phone="+61485000001",
        from_sender=phone or contact.phone_e164,
        body=body,
        provider_id=f"SM{next(_sids):032x}",
        intent=intent,
        matched=matched,
        read_at=timezone.now() if read else None,
    )


def page(client, **params) -> str:
    response = client.get(reverse("messaging:inbox"), params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.fixture
def texts(tenant, other_tenant):
    pat = ContactFactory(tenant=tenant, first_name="Pat", last_name="Lee", phone_e164=mobile(11))
    spring = CampaignFactory(tenant=tenant, name="Spring sale")
    return {
        "question": inbound(tenant, "Open on Sunday?", contact=pat, campaign=spring),
        "phrase": inbound(tenant, "please remove me", contact=pat, intent=Intent.OPT_OUT_PHRASE, matched="remove me"),
        "stop": inbound(tenant, "STOP", phone=mobile(99), intent=Intent.OPT_OUT, matched="STOP", campaign=spring),
        "old": inbound(tenant, "thanks!", contact=pat, read=True),
        "theirs": inbound(other_tenant, "Rival secret", phone=mobile(12)),
        "spring": spring,
    }


def test_inbox_roles_viewers_read_staff_mark(members, texts):
    assert_roles(reverse("messaging:inbox"), members=members, allowed={"viewer", "staff", "admin", "owner"})
    assert_roles(
        reverse("messaging:inbox"),
        members=members,
        allowed={"staff", "admin", "owner"},
        method="post",
        data={"message": texts["question"].pk, "read": "1"},
    )


def test_unread_by_default_newest_first_and_never_another_tenants(owner, texts):
    shown = page(client_for(owner))
    assert "Open on Sunday?" in shown and "STOP" in shown and "please remove me" in shown
    assert "thanks!" not in shown  # read
    assert "Rival secret" not in shown
    assert shown.index("STOP") < shown.index("Open on Sunday?")  # newest first
    assert "thanks!" in page(client_for(owner), state="read")
    assert "Open on Sunday?" not in page(client_for(owner), state="read")


def test_filters_by_campaign_and_kind(owner, texts, other_tenant):
    client = client_for(owner)
    spring = page(client, state="all", campaign=texts["spring"].pk)
    assert "Open on Sunday?" in spring and "STOP" in spring and "please remove me" not in spring
    opt_outs = page(client, state="all", intent="opt_outs")
    assert "STOP" in opt_outs and "please remove me" in opt_outs and "Open on Sunday?" not in opt_outs
    flagged = page(client, state="all", intent="flagged")
    assert "please remove me" in flagged and "STOP" not in flagged
    assert "matched “remove me”" in flagged  # staff see what was matched
    replies = page(client, state="all", intent="replies")
    assert "Open on Sunday?" in replies and "please remove me" not in replies
    # Another tenant's campaign filters to nothing, never to their texts.
    theirs = CampaignFactory(tenant=other_tenant)
    assert "Nothing here" in page(client, state="all", campaign=theirs.pk)


def test_strangers_are_shown_by_number_contacts_by_name(owner, texts):
    shown = page(client_for(owner))
    assert "Pat Lee" in shown
    assert f'{mobile(99)} <small class="help">not a contact</small>' in shown


def test_marking_read_and_unread_and_all_shown(members, texts):
    client = client_for(members["staff"])
    url = reverse("messaging:inbox")
    client.post(url, {"message": texts["question"].pk, "read": "1"})
    texts["question"].refresh_from_db()
    assert texts["question"].read_at is not None
    client.post(url, {"message": texts["question"].pk, "read": "0"})
    texts["question"].refresh_from_db()
    assert texts["question"].read_at is None
    # "Mark all shown" respects the filters: only the flagged opt-out.
    response = client.post(url, {"all": "1", "read": "1", "state": "unread", "intent": "flagged"})
    assert response.status_code == 302 and "intent=flagged" in response["Location"]
    unread = set(Message.objects.filter(kind=MessageKind.INBOUND, read_at__isnull=True).values_list("body", flat=True))
    assert unread == {"Open on Sunday?", "STOP", "Rival secret"}


def test_another_tenants_message_cannot_be_marked(owner, texts):
    client_for(owner).post(reverse("messaging:inbox"), {"message": texts["theirs"].pk, "read": "1"})
    texts["theirs"].refresh_from_db()
    assert texts["theirs"].read_at is None


def test_nav_counts_unread_texts_of_this_tenant_only(owner, texts):
    response = client_for(owner).get(reverse("tenants:dashboard"))
    assert 'aria-label="3 unread">3</span>' in response.content.decode()


def test_contact_page_shows_both_directions_with_history_without_n_plus_1(
    owner, tenant, texts, django_assert_max_num_queries
):
    pat = texts["question"].contact
    number = SendingNumberFactory(tenant=tenant)
    for n in range(5):
        sent = Message.objects.create(
            tenant=tenant,
            contact=pat,
            campaign=texts["spring"],
            sending_number=number,
            to_phone=pat.phone_e164,
            from_sender=number.sender,
            body=f"Deal number {n}",
            status=MessageStatus.DELIVERED,
            provider_id=f"SM{next(_sids):032x}",
        )
        for status in ("sent", "delivered"):
            ProviderEvent.objects.create(
                tenant=tenant,
                kind="status",
                message_sid=sent.provider_id,
                status=status,
                message=sent,
                applied=True,
                received_at=timezone.now(),
            )
    client = client_for(owner)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("contacts:detail", args=[pat.pk]))
    shown = html.unescape(response.content.decode())
    assert "Deal number 4" in shown and "→ sent" in shown and "← received" in shown
    assert "Open on Sunday?" in shown and "matched “remove me”" in shown
    assert shown.count("delivered at") == 5  # each outbound message's history
    assert "Rival secret" not in shown


def test_campaign_page_shows_content_filtering_and_responses(owner, tenant, texts):
    spring = texts["spring"]
    spring.launched_at = timezone.now()
    spring.save()
    client = client_for(owner)
    shown = html.unescape(client.get(reverse("campaigns:detail", args=[spring.pk])).content.decode())
    assert "error 30007" not in shown
    assert 'id="responses"' in shown
    number = SendingNumberFactory(tenant=tenant)
    for n in range(2):
        Message.objects.create(
            tenant=tenant,
            campaign=spring,
            sending_number=number,
            to_phone=mobile(200 + n),
            from_sender=number.sender,
            body="x",
            status=MessageStatus.UNDELIVERED,
            error_code="30007",
            provider_id=f"SM{next(_sids):032x}",
        )
    shown = html.unescape(client.get(reverse("campaigns:detail", args=[spring.pk])).content.decode())
    assert "Carriers filtered 2 messages of this campaign as content (Twilio error 30007)" in shown
    responses = shown.split('id="responses"')[1].split("</section>")[0]
    assert "Opt-outs</dt><dd><a" in responses and f"campaign={spring.pk}" in responses
    assert ">1</a></dd>" in responses  # one opt-out (STOP) and one reply attributed to it


def test_numbers_page_gives_the_webhook_urls(members, settings):
    shown = client_for(members["admin"]).get(reverse("campaigns:numbers")).content.decode()
    assert settings.PUBLIC_BASE_URL + "/webhooks/twilio/inbound" in shown
    assert settings.PUBLIC_BASE_URL + "/webhooks/twilio/status" in shown


def test_settings_page_explains_the_built_in_opt_out_phrases(members):
    shown = html.unescape(client_for(members["admin"]).get(reverse("tenants:settings")).content.decode())
    assert "Opt-out phrases" in shown and "“remove me”" in shown and "Opt-out confirmation" in shown
