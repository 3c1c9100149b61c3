"""The conversation pages (issue 19): the list, a thread, its actions and saved replies, as the
people using them see them. Replies go through the real service and the locmem provider."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from contacts import services as contact_services
from contacts.models import DncReason
from contacts.tests.factories import ContactFactory, mobile
from messaging.conversation_views import thread_url
from messaging.inbound import inbound_receive
from messaging.models import Conversation, Message, MessageKind, MessageStatus, Price, SavedReply
from messaging.tests.signing import OUR_NUMBER, sid
from tenants.testing import assert_roles, client_for

pytestmark = pytest.mark.django_db
CUSTOMER = mobile(777)


def text(tenant, account, body, *, phone=CUSTOMER, at=None):
    params = {"MessageSid": sid(), "From": phone, "To": OUR_NUMBER, "Body": body}
    return inbound_receive(tenant=tenant, params=params, account_id=account.id, at=at or timezone.now())


@pytest.fixture
def shop(tenant, account, number):
    Price.objects.create(tenant=tenant, country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1))
    return number


@pytest.fixture
def kim(tenant, shop, account, clock):
    """Kim texted us a question a minute ago: one unread thread that needs an answer."""
    contact = ContactFactory(tenant=tenant, phone_e164=CUSTOMER, state="NSW", first_name="Kim", last_name="Ng")
    text(tenant, account, "Are you open on Sunday?")
    return contact


def shown(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def token(page: str) -> str:
    return re.search(r'name="token" value="([0-9a-f]+)"', page).group(1)


def conversation_replies() -> int:
    return Message.objects.filter(kind=MessageKind.CONVERSATION).count()


# --- the list -------------------------------------------------------------------------------------


def test_list_shows_each_thread_with_its_phone_number_name_and_unread(owner, tenant, kim, account, other_tenant):
    text(tenant, account, "hello?", phone=mobile(778))
    page = shown(client_for(owner), reverse("messaging:inbox"))
    assert "Kim Ng" in page and "0412 000 777" in page and "0412 000 778" in page
    assert "Are you open on Sunday?" in page and "1 unread" in page
    assert page.index("0412 000 778") < page.index("Kim Ng")  # newest activity first


def test_filters_and_search_in_any_format(owner, members, tenant, kim, account):
    client = client_for(owner)
    text(tenant, account, "STOP", phone=mobile(779))
    opted = shown(client, reverse("messaging:inbox"), show="opted_out")
    assert "0412 000 779" in opted and "Kim Ng" not in opted and "Opted out" in opted
    for query in ("+61412000777", "0412 000 777", "Kim", "ng"):
        found = shown(client, reverse("messaging:inbox"), q=query)
        assert "Kim Ng" in found and "0412 000 779" not in found, query
    conversation = Conversation.objects.get(phone_e164=CUSTOMER)
    assert "Kim Ng" not in shown(client, reverse("messaging:inbox"), show="mine")
    Conversation.objects.filter(pk=conversation.pk).update(assigned_to=owner)
    mine = shown(client, reverse("messaging:inbox"), show="mine")
    assert "Kim Ng" in mine and "0412 000 779" not in mine
    assert "Kim Ng" in shown(client, reverse("messaging:inbox"), show="needs_reply")


def test_keyset_pages_with_a_next_link(owner, tenant, shop, account, clock, monkeypatch):
    from messaging import conversation_views

    monkeypatch.setattr(conversation_views, "PAGE_SIZE", 2)
    for n in range(3):
        text(tenant, account, f"text {n}", phone=mobile(800 + n))
    client = client_for(owner)
    first = shown(client, reverse("messaging:inbox"))
    assert "text 2" in first and "text 1" in first and "text 0" not in first
    following = re.search(r'href="\?([^"]*)" rel="next"', first).group(1)
    second = shown(client, reverse("messaging:inbox") + "?" + html.unescape(following))
    assert "text 0" in second and "text 2" not in second and 'rel="next"' not in second


def test_nav_counts_unread_conversations(owner, tenant, kim, account):
    text(tenant, account, "and Monday?")  # the same thread: still one
    page = shown(client_for(owner), reverse("reporting:dashboard"))
    assert 'Inbox <span class="badge" aria-label="1 unread">1</span>' in page


# --- the thread -----------------------------------------------------------------------------------


def test_thread_roles_viewer_reads_staff_replies(members, kim):
    url = thread_url(CUSTOMER)
    viewer = shown(client_for(members["viewer"]), url)
    assert "Are you open on Sunday?" in viewer and "Send reply" not in viewer and "Mark as read" not in viewer
    assert client_for(members["viewer"]).post(url, {"body": "hi", "token": "a" * 32}).status_code == 403
    action = reverse("messaging:thread_action", args=[CUSTOMER])
    assert client_for(members["viewer"]).post(action, {"action": "close"}).status_code == 403
    assert_roles(url, members=members, allowed=["viewer", "staff", "admin", "owner"])
    staff = shown(client_for(members["staff"]), url)
    assert "Send reply" in staff and "0 segments" in staff


def test_another_tenants_thread_is_a_404_without_its_number(other_owner, kim):
    for url in (thread_url(CUSTOMER), thread_url("0412 000 777"), thread_url("+61412000999")):
        response = client_for(other_owner).get(url)
        assert response.status_code == 404
        assert "777" not in response.content.decode()
    action = reverse("messaging:thread_action", args=[CUSTOMER])
    assert client_for(other_owner).post(action, {"action": "close"}).status_code == 404


def test_thread_shows_both_ways_in_the_business_zone_and_consent(owner, tenant, kim):
    page = shown(client_for(owner), thread_url(CUSTOMER))
    local = timezone.localtime(Conversation.objects.get().last_message_at, tenant.zone)
    assert f"{local:%H:%M}" in page and "They wrote" in page
    assert reverse("contacts:detail", args=[kim.pk]) in page and "No consent on file" in page
    assert "Not on the list" in page


def test_reply_posted_twice_with_one_token_sends_one_message(members, kim):
    client = client_for(members["staff"])
    url = thread_url(CUSTOMER)
    form = {"body": "Yes, 10 to 4.", "token": token(shown(client, url))}
    first = client.post(url, form)
    second = client.post(url, form)
    assert first.status_code == second.status_code == 302 and first["Location"] == url
    assert conversation_replies() == 1
    page = shown(client, url)
    assert "Yes, 10 to 4." in page and "You replied" in page and "Reply sent." in page
    assert token(page) != form["token"]  # a fresh form, a fresh token


def test_a_refusal_shows_its_sentence_and_keeps_the_text(members, tenant, kim):
    contact_services.dnc_add(tenant=tenant, phone=CUSTOMER, reason=DncReason.MANUAL, actor=None)
    client = client_for(members["staff"])
    url = thread_url(CUSTOMER)
    response = client.post(url, {"body": "Still there?", "token": token(shown(client, url))})
    page = html.unescape(response.content.decode())
    assert response.status_code == 400 and "is on the do-not-contact list" in page
    assert ">Still there?</textarea>" in page and conversation_replies() == 0


def test_cancel_a_scheduled_reply(members, tenant, kim, clock):
    clock.shift(dt.timedelta(hours=10))  # 00:00 in Sydney, hours after their text: quiet hours
    client = client_for(members["staff"])
    url = thread_url(CUSTOMER)
    contact_services_consent(kim)
    client.post(url, {"body": "Sorry we missed you.", "token": token(shown(client, url))})
    reply = Message.objects.get(kind=MessageKind.CONVERSATION)
    assert reply.status == MessageStatus.SCHEDULED
    page = shown(client, url)
    assert "Scheduled for" in page and ">Cancel</button>" in page
    action = reverse("messaging:thread_action", args=[CUSTOMER])
    assert client.post(action, {"action": "cancel", "message": reply.pk}).status_code == 302
    reply.refresh_from_db()
    assert reply.status == MessageStatus.CANCELLED
    assert "Scheduled reply cancelled" in shown(client, url)


def contact_services_consent(contact):
    """Kim gave express consent (a reply hours after their text needs it)."""
    type(contact).objects.filter(pk=contact.pk).update(consent_status="express")


def test_mark_read_unread_changes_counts_and_nav(members, kim):
    client = client_for(members["staff"])
    action = reverse("messaging:thread_action", args=[CUSTOMER])
    assert "1 unread" in shown(client, reverse("messaging:inbox"), show="unread")
    assert client.post(action, {"action": "read"}).status_code == 302
    page = shown(client, reverse("messaging:inbox"), show="unread")
    assert "Kim Ng" not in page and 'aria-label="1 unread"' not in page
    client.post(action, {"action": "unread"})
    assert 'Inbox <span class="badge" aria-label="1 unread">1</span>' in shown(client, reverse("messaging:inbox"))


def test_assign_close_and_reopen(members, kim, other_owner):
    client = client_for(members["staff"])
    action = reverse("messaging:thread_action", args=[CUSTOMER])
    client.post(action, {"action": "assign", "assignee": members["admin"].pk})
    assert Conversation.objects.get().assigned_to == members["admin"]
    client.post(action, {"action": "assign", "assignee": other_owner.pk})  # not a member here
    assert Conversation.objects.get().assigned_to == members["admin"]
    client.post(action, {"action": "close"})
    assert Conversation.objects.get().closed_at is not None
    assert "Reopen" in shown(client, thread_url(CUSTOMER))
    client.post(action, {"action": "reopen"})
    assert Conversation.objects.get().closed_at is None


def test_thread_query_count_does_not_grow_with_its_length(owner, tenant, kim, account, django_assert_max_num_queries):
    client = client_for(owner)
    for n in range(2):
        text(tenant, account, f"more {n}")
    with django_assert_max_num_queries(30) as short:
        shown(client, thread_url(CUSTOMER))
    for n in range(27):
        text(tenant, account, f"even more {n}")
    assert Message.objects.filter(conversation__isnull=False).count() == 30
    with django_assert_max_num_queries(len(short.captured_queries)):
        shown(client, thread_url(CUSTOMER))


# --- saved replies --------------------------------------------------------------------------------


def test_saved_replies_admins_manage_everyone_uses(members, tenant, kim):
    url = reverse("messaging:saved_replies")
    assert_roles(url, members=members, allowed=["viewer", "staff", "admin", "owner"])
    data = {"name": "Hours", "body": "Hi {{ first_name|there }}, we open 9 to 5."}
    assert client_for(members["staff"]).post(url, data).status_code == 403
    assert client_for(members["admin"]).post(url, data).status_code == 302
    saved = SavedReply.objects.get()
    edit = reverse("messaging:saved_reply", args=[saved.pk])
    assert client_for(members["staff"]).get(edit).status_code == 403
    assert "Hours" in shown(client_for(members["viewer"]), url)
    thread = shown(client_for(members["staff"]), thread_url(CUSTOMER))
    assert 'data-body="Hi Kim, we open 9 to 5."' in thread
    inserted = shown(client_for(members["staff"]), thread_url(CUSTOMER), saved=saved.pk)
    assert ">Hi Kim, we open 9 to 5.</textarea>" in inserted
    assert client_for(members["admin"]).post(edit, {"name": "Hours", "body": "9 to 5"}).status_code == 302
    assert client_for(members["admin"]).post(edit, {"delete": "1"}).status_code == 302
    assert not SavedReply.objects.exists()


def test_a_saved_reply_name_in_use_is_a_form_error(members, tenant):
    url = reverse("messaging:saved_replies")
    client_for(members["admin"]).post(url, {"name": "Hours", "body": "9 to 5"})
    response = client_for(members["admin"]).post(url, {"name": "Hours", "body": "again"})
    assert response.status_code == 400 and SavedReply.objects.count() == 1


def test_dashboard_conversations_line(owner, members, kim, tenant, account, clock):
    client = client_for(members["staff"])
    url = thread_url(CUSTOMER)
    clock.shift(dt.timedelta(minutes=12))
    client.post(url, {"body": "Yes, 10 to 4.", "token": token(shown(client, url))})
    text(tenant, account, "hello?", phone=mobile(778))
    line = shown(client_for(owner), reverse("reporting:dashboard")).split('id="conversations-week">')[1]
    assert line.startswith("2 replies received in 2 conversations, 1 answered; median time to first answer 12 min")
