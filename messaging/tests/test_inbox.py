"""The inbox, the contact's messages, a campaign's responses, the webhook URLs and the reply settings.

Inbound texts are created directly (as the webhook would leave them), so these tests depend on
the pages only, never on the webhook code.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.tests.factories import CampaignFactory, SendingNumberFactory
from contacts.phones import format_phone_national
from contacts.tests.factories import ContactFactory, mobile
from messaging.keywords import Intent
from messaging.models import Conversation, Message, MessageKind, MessageStatus, ProviderEvent
from tenants.forms import TenantSettingsForm
from tenants.models import DEFAULT_OPT_OUT_PHRASES
from tenants.testing import assert_login_required, assert_roles, client_for

pytestmark = pytest.mark.django_db
_sids = itertools.count(1)
INBOX = "/inbox/texts/"


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


def outbound(tenant, contact, body, *, campaign, number, status=MessageStatus.DELIVERED, error_code="", history=()):
    sent = Message.objects.create(
        tenant=tenant,
        contact=contact,
        campaign=campaign,
        sending_number=number,
        to_phone=contact.phone_e164 if contact else mobile(900),
        from_sender=number.sender,
        body=body,
        status=status,
        error_code=error_code,
        provider_id=f"SM{next(_sids):032x}",
    )
    for n, report in enumerate(history):
        ProviderEvent.objects.create(
            tenant=tenant,
            kind="status",
            message_sid=sent.provider_id,
            status=report,
            message=sent,
            applied=True,
            received_at=timezone.now() + dt.timedelta(seconds=n),
        )
    return sent


def page(client, **params) -> str:
    response = client.get(reverse("messaging:texts"), params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def rows(shown: str) -> list[str]:
    """The texts listed on an inbox page, in order (their ids)."""
    return re.findall(r'<tr id="text-(\d+)"', shown)


def row(shown: str, text: Message) -> str:
    """The HTML of one text's row on an inbox page."""
    return shown.split(f'<tr id="text-{text.pk}"')[1].split("</tr>")[0]


def mark_all_form(client, **params) -> dict:
    """What the browser posts from the page's "Mark all shown as read" button."""
    shown = client.get(reverse("messaging:texts"), params).content.decode()
    form = re.search(r'<form method="post" class="inline" id="mark-all-read">(.*?)</form>', shown, re.S)
    assert form, "no mark-all button on the page"
    data: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(1)):
        data.setdefault(name, []).append(value)
    return data


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
        "pat": pat,
    }


def unread_bodies() -> set[str]:
    return set(Message.objects.filter(kind=MessageKind.INBOUND, read_at__isnull=True).values_list("body", flat=True))


# --- who may do what --------------------------------------------------------------------------


def test_inbox_roles_viewers_read_staff_mark(members, texts):
    assert reverse("messaging:texts") == INBOX
    assert_login_required(INBOX)
    assert_roles(INBOX, members=members, allowed={"viewer", "staff", "admin", "owner"})
    assert_roles(
        INBOX,
        members=members,
        allowed={"staff", "admin", "owner"},
        method="post",
        data={"message": texts["question"].pk, "read": "1"},
    )


def test_viewer_sees_the_texts_but_no_buttons_and_changes_nothing(members, texts):
    viewer = client_for(members["viewer"])
    shown = page(viewer)
    assert "Open on Sunday?" in shown
    assert "Mark read" not in shown and "Mark all shown" not in shown and 'method="post" class="inline"' not in shown
    response = viewer.post(INBOX, {"all": "1", "read": "1", "message": [texts["question"].pk, texts["stop"].pk]})
    assert response.status_code == 403
    assert unread_bodies() == {"Open on Sunday?", "please remove me", "STOP", "Rival secret"}
    staff_page = page(client_for(members["staff"]))
    assert "Mark read" in staff_page and "Mark all shown as read (3)" in staff_page


# --- what is listed ---------------------------------------------------------------------------


def test_unread_by_default_newest_first_and_never_another_tenants(owner, texts):
    shown = page(client_for(owner))
    ids = [str(texts[k].pk) for k in ("stop", "phrase", "question")]
    assert rows(shown) == ids  # unread only, newest first
    assert "thanks!" not in shown and "Rival secret" not in shown
    assert rows(page(client_for(owner), state="read")) == [str(texts["old"].pk)]
    assert "Rival secret" not in page(client_for(owner), state="all")
    assert len(rows(page(client_for(owner), state="all"))) == 4


def test_filters_by_campaign_and_kind(owner, texts, other_tenant):
    client = client_for(owner)

    def listed(**params):
        return {Message.objects.get(pk=pk).body for pk in rows(page(client, **params))}

    assert listed(state="all", campaign=texts["spring"].pk) == {"Open on Sunday?", "STOP"}
    assert listed(state="all", intent="opt_outs") == {"STOP", "please remove me"}
    assert listed(state="all", intent="flagged") == {"please remove me"}
    assert listed(state="all", intent="replies") == {"Open on Sunday?", "thanks!"}
    assert listed(state="read", intent="replies") == {"thanks!"}
    assert listed(state="unread", intent="opt_outs", campaign=texts["spring"].pk) == {"STOP"}
    # Another tenant's campaign filters to nothing, never to their texts; so does a missing one.
    theirs = CampaignFactory(tenant=other_tenant)
    inbound(other_tenant, "Rival reply", phone=mobile(13), campaign=theirs)
    shown = page(client, state="all", campaign=theirs.pk)
    assert rows(shown) == [] and "Nothing here" in shown and "Rival reply" not in shown and theirs.name not in shown
    assert rows(page(client, state="all", campaign=999_999_999)) == []
    # Nonsense filter values fall back to the defaults rather than failing.
    assert set(rows(page(client, state="bogus", intent="??", campaign="²"))) == {
        str(texts[k].pk) for k in ("stop", "phrase", "question")
    }


def test_each_row_says_who_what_and_which_campaign(owner, texts):
    shown = page(client_for(owner), state="all")
    pat, spring = texts["pat"], texts["spring"]
    assert f'<a href="{reverse("contacts:detail", args=[pat.pk])}">Pat Lee</a>' in shown
    # A stranger, by number as people write it.
    stranger = format_phone_national(mobile(99))
    assert f'<span class="texter-phone">{stranger}</span> <small class="help">not a contact</small>' in shown
    assert f'<a href="{reverse("campaigns:detail", args=[spring.pk])}">Spring sale</a>' in shown
    # Staff see what a free-text opt-out matched; a keyword opt-out says so plainly.
    assert "Opted out — request in other words, matched “remove me”" in shown
    assert "Opted out (STOP)" in shown
    assert '<strong class="state">Unread</strong>' in row(shown, texts["question"])
    assert '<span class="state">Read</span>' in row(shown, texts["old"]) and "Mark unread" in row(shown, texts["old"])


def test_each_texter_shows_the_number_and_the_name_when_known(owner, tenant, texts):
    unnamed = ContactFactory(tenant=tenant, first_name="", last_name="", phone_e164=mobile(40))
    nameless = inbound(tenant, "Who is this?", contact=unnamed)
    shown = page(client_for(owner), state="all")
    pat = texts["pat"]
    assert "Pat Lee</a>" in row(shown, texts["question"])
    assert f'<span class="texter-phone">{format_phone_national(pat.phone_e164)}</span>' in row(shown, texts["question"])
    # A contact without a name is its number, linked once, not twice.
    assert f"{format_phone_national(mobile(40))}</a>" in row(shown, nameless)
    assert row(shown, nameless).count(format_phone_national(mobile(40))) == 1


def test_opt_ins_and_help_requests_are_labelled(owner, tenant):
    inbound(tenant, "START", phone=mobile(20), intent=Intent.OPT_IN, matched="START")
    inbound(tenant, "help", phone=mobile(21), intent=Intent.HELP, matched="HELP")
    shown = page(client_for(owner))
    assert "Opted back in" in shown and "Asked for help" in shown


def test_bodies_are_escaped(owner, tenant):
    inbound(tenant, '<script>alert("x")</script><b>hi</b>', phone=mobile(30))
    raw = client_for(owner).get(INBOX).content.decode()
    assert "<script>alert" not in raw and "<b>hi</b>" not in raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b&gt;hi&lt;/b&gt;" in raw


def test_received_time_is_in_the_tenants_zone(owner, tenant):
    tenant.timezone = "Australia/Perth"  # UTC+8, no daylight saving
    tenant.save()
    text = inbound(tenant, "Late question", phone=mobile(31))
    Message.objects.filter(pk=text.pk).update(created_at=dt.datetime(2026, 1, 15, 17, 4, tzinfo=dt.UTC))
    shown = page(client_for(owner))
    assert '<time datetime="2026-01-15T17:04:00+00:00">16 Jan 2026 01:04</time>' in shown


def test_pages_of_fifty_without_a_query_per_row(owner, tenant, texts):
    client = client_for(owner)
    client.get(INBOX)  # the first request of a session may do one-off work
    with CaptureQueriesContext(connection) as few:
        page(client)
    spring = texts["spring"]
    for n in range(60):
        contact = ContactFactory(tenant=tenant, phone_e164=mobile(1000 + n)) if n % 2 else None
        inbound(tenant, f"reply {n}", contact=contact, phone=mobile(2000 + n), campaign=spring if n % 3 else None)
    with CaptureQueriesContext(connection) as many:
        first = page(client)
    assert len(many) == len(few)
    assert len(rows(first)) == 50 and "reply 59" in first and "Page 1 of 2" in first
    second = page(client, page=2)
    assert len(rows(second)) == 13 and "Open on Sunday?" in second
    assert 'href="?state=unread&amp;intent=all&amp;page=1"' in client.get(INBOX, {"page": 2}).content.decode()


# --- marking read and unread ------------------------------------------------------------------


def test_marking_one_read_and_unread_again(members, texts):
    client = client_for(members["staff"])
    response = client.post(INBOX, {"message": texts["question"].pk, "read": "1", "state": "unread", "intent": "all"})
    assert response.status_code == 302 and response["Location"] == f"{INBOX}?state=unread&intent=all"
    texts["question"].refresh_from_db()
    assert texts["question"].read_at is not None
    assert "Open on Sunday?" not in page(client) and "Open on Sunday?" in page(client, state="read")
    client.post(INBOX, {"message": texts["question"].pk, "read": "0"})
    texts["question"].refresh_from_db()
    assert texts["question"].read_at is None
    assert "Marked 1 message unread." in page(client)


def test_mark_all_shown_marks_the_rows_of_the_page_within_the_filters(members, texts):
    client = client_for(members["staff"])
    data = mark_all_form(client, state="unread", intent="flagged")
    assert data["message"] == [str(texts["phrase"].pk)] and data["intent"] == ["flagged"]
    response = client.post(INBOX, data)
    assert response.status_code == 302 and "intent=flagged" in response["Location"]
    assert unread_bodies() == {"Open on Sunday?", "STOP", "Rival secret"}
    # Ids outside the filters are left alone even when posted (a reply is not a flagged opt-out).
    client.post(INBOX, {"all": "1", "read": "1", "intent": "flagged", "message": [texts["question"].pk]})
    assert unread_bodies() == {"Open on Sunday?", "STOP", "Rival secret"}
    # By campaign: the campaign's two unread texts.
    client.post(INBOX, mark_all_form(client, campaign=texts["spring"].pk))
    assert unread_bodies() == {"Rival secret"}


def test_mark_all_shown_never_marks_what_was_not_shown(members, tenant, texts):
    client = client_for(members["staff"])
    for n in range(52):
        inbound(tenant, f"reply {n}", phone=mobile(3000 + n))
    data = mark_all_form(client)  # page 1: the 50 newest of 55 unread
    assert len(data["message"]) == 50
    late = inbound(tenant, "arrived after the page was drawn", phone=mobile(4000))
    client.post(INBOX, data)
    # The two oldest replies and the fixture's three texts were on page 2; the late one on no page.
    assert unread_bodies() == {
        "arrived after the page was drawn", "reply 0", "reply 1", "STOP", "please remove me", "Open on Sunday?",
        "Rival secret",
    }  # fmt: skip
    late.refresh_from_db()
    assert late.read_at is None


def test_another_tenants_message_cannot_be_marked(owner, other_owner, texts):
    theirs, client = texts["theirs"], client_for(owner)
    for data in ({"message": theirs.pk, "read": "1"}, {"all": "1", "read": "1", "message": theirs.pk}):
        response = client.post(INBOX, data)
        assert response.status_code == 302
        theirs.refresh_from_db()
        assert theirs.read_at is None
        assert "Marked 0 messages read." in page(client)
    # Nor marked unread by another tenant's owner, nor listed for them.
    texts["old"].refresh_from_db()
    client_for(other_owner).post(INBOX, {"message": texts["old"].pk, "read": "0"})
    texts["old"].refresh_from_db()
    assert texts["old"].read_at is not None
    assert rows(page(client_for(other_owner), state="all")) == [str(theirs.pk)]


def test_outbound_messages_cannot_be_marked(owner, tenant, texts):
    sent = outbound(tenant, texts["pat"], "Deal", campaign=texts["spring"], number=SendingNumberFactory(tenant=tenant))
    client_for(owner).post(INBOX, {"message": sent.pk, "read": "1"})
    sent.refresh_from_db()
    assert sent.read_at is None


# --- the nav ----------------------------------------------------------------------------------


def test_nav_counts_unread_conversations_of_this_tenant_only(owner, other_owner, tenant, other_tenant):
    """The menu counts threads with something unread (issue 19), not texts."""
    Conversation.objects.create(tenant=tenant, phone_e164=mobile(11), last_message_at=timezone.now(), unread_count=3)
    Conversation.objects.create(tenant=tenant, phone_e164=mobile(12), last_message_at=timezone.now(), unread_count=1)
    Conversation.objects.create(
        tenant=other_tenant, phone_e164=mobile(11), last_message_at=timezone.now(), unread_count=1
    )
    response = client_for(owner).get(reverse("reporting:dashboard"))
    assert 'Inbox <span class="badge" aria-label="2 unread">2</span>' in response.content.decode()
    rival = client_for(other_owner).get(reverse("reporting:dashboard")).content.decode()
    assert 'aria-label="1 unread">1</span>' in rival
    Conversation.objects.filter(tenant=tenant).update(unread_count=0)
    read = client_for(owner).get(reverse("reporting:dashboard")).content.decode()
    assert ">Inbox</a>" in read and "unread" not in read


def test_nav_count_costs_anonymous_visitors_no_query(client):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("tenants:login")).status_code == 200
    assert not [q for q in captured if "messaging_message" in q["sql"] or "messaging_conversation" in q["sql"]]


# --- the contact's page -----------------------------------------------------------------------


def test_contact_page_shows_both_directions_with_history_without_n_plus_1(owner, tenant, texts):
    pat, spring = texts["pat"], texts["spring"]
    number = SendingNumberFactory(tenant=tenant)
    client = client_for(owner)
    url = reverse("contacts:detail", args=[pat.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for n in range(5):
        outbound(tenant, pat, f"Deal number {n}", campaign=spring, number=number, history=("sent", "delivered"))
    outbound(
        tenant, pat, "Blocked deal", campaign=spring, number=number, status="undelivered", error_code="30007",
        history=("sent", "undelivered"),
    )  # fmt: skip
    Message.objects.create(
        tenant=tenant, contact=pat, kind=MessageKind.REPLY, to_phone=pat.phone_e164, from_sender=number.sender,
        body="You've been unsubscribed from Acme Bakery.", status=MessageStatus.SENT,
    )  # fmt: skip
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(many) == len(few)  # events prefetched, campaign names in one query: none per message
    shown = html.unescape(response.content.decode())
    section = shown.split('id="timeline"')[1].split("</section>")[0]
    assert "Deal number 4" in section and "Campaign message sent" in section and "Text received" in section
    assert "Automatic reply sent" in section and "You've been unsubscribed" in section
    assert "Open on Sunday?" in section and "matched “remove me”" in section
    # Each outbound's history: every status callback is an event of its own.
    assert section.count("Provider reported delivered") == 5 and "Provider reported undelivered" in section
    assert "error 30007" in section and f'href="{reverse("campaigns:detail", args=[spring.pk])}"' in section
    assert section.index("Deal number 0") < section.index("Deal number 4") < section.index("You've been unsubscribed")
    assert "Rival secret" not in shown and "STOP" not in section  # a stranger's text is not Pat's


def test_contact_page_shows_the_latest_fifty(owner, tenant, texts):
    for n in range(55):
        inbound(tenant, f"note {n:02d}", contact=texts["pat"])
    shown = client_for(owner).get(reverse("contacts:detail", args=[texts["pat"].pk])).content.decode()
    assert "note 54" in shown and "note 05" in shown and "note 04" not in shown and "thanks!" not in shown


# --- the campaign's page ----------------------------------------------------------------------


def test_campaign_page_shows_content_filtering_and_responses(owner, tenant, texts):
    spring = texts["spring"]
    spring.launched_at = timezone.now()
    spring.save()
    other = CampaignFactory(tenant=tenant, launched_at=timezone.now())
    number = SendingNumberFactory(tenant=tenant)
    client = client_for(owner)
    url = reverse("campaigns:detail", args=[spring.pk])
    # No banner for other failures, nor for another campaign's 30007.
    outbound(tenant, None, "x", campaign=spring, number=number, status="undelivered", error_code="30003")
    outbound(tenant, None, "x", campaign=other, number=number, status="undelivered", error_code="30007")
    shown = html.unescape(client.get(url).content.decode())
    assert "30007" not in shown and 'id="responses"' in shown
    for n in range(2):
        contact = ContactFactory(tenant=tenant, phone_e164=mobile(200 + n))
        outbound(tenant, contact, "x", campaign=spring, number=number, status="undelivered", error_code="30007")
    inbound(tenant, "stop texting me", phone=mobile(201), intent=Intent.OPT_OUT_PHRASE, matched="stop texting")
    Message.objects.filter(body="stop texting me").update(campaign=spring)
    inbound(tenant, "STOP", phone=mobile(202), intent=Intent.OPT_OUT, campaign=other)  # not this campaign's
    from reporting import stats as reporting_stats

    reporting_stats.campaign_stats_refresh(spring)  # the page shows the report's figures: refreshed as beat does
    shown = html.unescape(client.get(url).content.decode())
    assert (
        "Carriers filtered 2 messages of this campaign as content (Twilio error 30007). "
        "Review the wording before sending more." in shown
    )
    responses = shown.split('id="responses"')[1].split("</section>")[0]
    inbox = reverse("messaging:texts")
    opt_outs = f'<dt>Opt-outs</dt><dd><a href="{inbox}?state=all&intent=opt_outs&campaign={spring.pk}">2</a></dd>'
    replies = f'<dt>Replies</dt><dd><a href="{inbox}?state=all&intent=replies&campaign={spring.pk}">1</a></dd>'
    assert opt_outs in responses and replies in responses
    # The link lists exactly the opt-outs counted.
    listed = page(client, state="all", intent="opt_outs", campaign=spring.pk)
    assert len(rows(listed)) == 2 and "stop texting me" in listed


def test_campaign_responses_cost_two_queries(tenant, texts, django_assert_num_queries):
    from campaigns.selectors import responses

    with django_assert_num_queries(2):
        counted = responses(campaign=texts["spring"])
    assert counted == {"content_filtered": 0, "opt_outs": 1, "replies": 1}


def test_a_draft_campaign_shows_no_responses(owner, tenant):
    draft = CampaignFactory(tenant=tenant)
    shown = client_for(owner).get(reverse("campaigns:detail", args=[draft.pk])).content.decode()
    assert 'id="responses"' not in shown and "30007" not in shown


# --- the numbers page -------------------------------------------------------------------------


def test_numbers_page_gives_the_webhook_urls(members, settings):
    settings.PUBLIC_BASE_URL = "https://crm.example.com.au"
    shown = client_for(members["admin"]).get(reverse("campaigns:numbers")).content.decode()
    assert "<code>https://crm.example.com.au/webhooks/twilio/inbound</code>" in shown
    assert "<code>https://crm.example.com.au/webhooks/twilio/status</code>" in shown
    assert "<code>https://crm.example.com.au/webhooks/provider</code>" in shown
    assert "A message comes in" in shown and "automatically" in shown


# --- the settings page ------------------------------------------------------------------------


def test_settings_page_explains_the_reply_settings_and_built_in_phrases(members):
    shown = html.unescape(client_for(members["admin"]).get(reverse("tenants:settings")).content.decode())
    for label in (
        "Contact details for HELP replies",
        "Opt-out confirmation",
        "Opt-in confirmation",
        "HELP reply",
        "Opt-out phrases",
    ):
        assert f">{label}</label>" in shown
    assert re.search(r'<textarea name="opt_out_phrases"[^>]*rows="6"', shown)
    assert all(f"“{phrase}”" in shown for phrase in DEFAULT_OPT_OUT_PHRASES)
    assert "Must include {business}" in shown


def test_settings_page_saves_the_reply_settings_and_refuses_a_reply_without_the_business(tenant, members):
    client = client_for(members["admin"])
    form = TenantSettingsForm(instance=tenant)
    data = {name: form[name].value() if form[name].value() is not None else "" for name in form.fields}
    data.update(
        contact_details="02 9000 0000",
        opt_out_reply="{business}: you're off our list.",
        opt_in_reply="Welcome back to {business}.",
        help_reply="{business} on {contact}. Reply STOP to opt out.",
        opt_out_phrases="take me off\nno thanks",
    )
    assert client.post(reverse("tenants:settings"), data).status_code == 302
    tenant.refresh_from_db()
    assert tenant.contact_details == "02 9000 0000"
    assert tenant.opt_out_phrases.splitlines() == ["take me off", "no thanks"]
    assert tenant.keyword_reply("help_reply") == "Acme Bakery on 02 9000 0000. Reply STOP to opt out."
    assert tenant.keyword_reply("opt_out_reply") == "Acme Bakery: you're off our list."

    response = client.post(reverse("tenants:settings"), {**data, "opt_in_reply": "Welcome back!"})
    assert response.status_code == 400
    assert "Include {business} so the reply identifies the business" in html.unescape(response.content.decode())
    tenant.refresh_from_db()
    assert tenant.opt_in_reply == "Welcome back to {business}."
