"""Short links end to end: created with the dispatcher's batch, served by host, clicks recorded and counted."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
from django.test import override_settings
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.test_dispatch import job_of, launched, sending_setup, sydney_contacts
from links import clicks, selectors
from links.models import Click, ShortLink
from links.services import TOKEN_LENGTH, PendingLink, links_record
from messaging.backends import locmem
from messaging.models import Message, MessageStatus
from messaging.segments import segment_info

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.6 Mobile/15E148 Safari/604.1"
)
IMESSAGE_PREVIEW = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)
SHORT = re.compile(r"http://127\.0\.0\.1:8000/s/([A-Za-z0-9]{10})")


def sent_campaign(tenant, n=3, body="Hi {{ first_name|there }}, sale: {{ link }} or see https://acme.example/menu."):
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, n)
    campaign = launched(tenant, contacts=contacts, bodies=(body,), link_url="https://acme.example/sale?utm=sms")
    assert dispatch.dispatch().sent == n
    return campaign, contacts


def deliver(message, at):
    Message.objects.filter(pk=message.pk).update(status=MessageStatus.DELIVERED, delivered_at=at)


# --- creation ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_url_becomes_a_per_recipient_short_link_counted_in_segments(tenant, clock):
    campaign, contacts = sent_campaign(tenant)
    for sms in locmem.outbox:
        tokens = SHORT.findall(sms.body)
        assert len(tokens) == 2 and "acme.example" not in sms.body
        assert sms.body.rstrip().endswith("Reply STOP to opt out")
        assert re.search(r"/s/[A-Za-z0-9]{10}\.", sms.body)  # the sentence's full stop stays outside the URL
    links = ShortLink.objects.filter(campaign_id=campaign.pk)
    assert links.count() == 6 and len({link.token for link in links}) == 6
    assert all(len(link.token) == TOKEN_LENGTH for link in links)
    assert {link.destination for link in links} == {"https://acme.example/sale?utm=sms", "https://acme.example/menu"}
    for message in Message.objects.filter(campaign=campaign):
        assert message.segments == segment_info(message.body).segments
        mine = ShortLink.objects.filter(message=message)
        assert {link.token for link in mine} == set(SHORT.findall(message.body))
        assert all(link.contact_id == message.contact_id for link in mine)
        assert all(link.expires_at - link.created_at == dt.timedelta(days=60) for link in mine)


@pytest.mark.django_db
def test_a_job_handed_over_again_keeps_its_links(tenant, clock):
    sending_setup(tenant)
    contact = sydney_contacts(tenant, 1)[0]
    locmem.script[contact.phone_e164] = locmem.retry(retry_after=1)
    campaign = launched(tenant, contacts=[contact], bodies=("Sale: {{ link }}",), link_url="https://acme.example/sale")
    dispatch.dispatch()
    first = ShortLink.objects.get(campaign_id=campaign.pk)
    job = job_of(campaign, contact)
    assert job.status == "pending"
    locmem.script.clear()
    clock.shift(dt.timedelta(seconds=120))
    dispatch.dispatch()
    assert locmem.outbox and first.token in locmem.outbox[-1].body
    again = ShortLink.objects.get(campaign_id=campaign.pk)
    assert again.token == first.token and again.message_id == job_of(campaign, contact).message_id


@pytest.mark.django_db
def test_links_record_is_idempotent_per_job_and_destination(tenant):
    now = timezone.now()
    pending = PendingLink(send_job_id=7, destination="https://acme.example/a", token="AAAAAAAAAA")
    links_record(tenant=tenant, rows=[(pending, None, 1, None)], now=now)
    links_record(tenant=tenant, rows=[(pending, None, 1, None)], now=now)
    assert ShortLink.objects.filter(send_job_id=7).count() == 1


# --- the redirect --------------------------------------------------------------------------------


def a_link(tenant, *, days=60, destination="https://acme.example/sale", token="Tok3nAbcDe", message=None):  # noqa: S107
    now = timezone.now()
    return ShortLink.objects.create(
        tenant=tenant,
        token=token,
        destination=destination,
        send_job_id=None,
        campaign_id=None,
        message=message,
        created_at=now - dt.timedelta(days=1),
        expires_at=now + dt.timedelta(days=days),
    )


@pytest.mark.django_db
def test_a_live_link_redirects_to_its_destination_only(client, tenant):
    a_link(tenant)
    response = client.get("/s/Tok3nAbcDe?next=https://evil.example/", HTTP_USER_AGENT=IPHONE)
    assert response.status_code == 302 and response["Location"] == "https://acme.example/sale"
    assert response["Referrer-Policy"] == "no-referrer" and response["Cache-Control"] == "private, no-store"
    assert client.get("/s/Tok3nAbcDe/evil.example").status_code == 404
    assert client.get("/s/nope").status_code == 404  # not a token


@pytest.mark.django_db
def test_unknown_is_404_and_expired_is_410_naming_the_business(client, tenant):
    assert client.get("/s/Unknown123").status_code == 404
    a_link(tenant, days=-1)
    response = client.get("/s/Tok3nAbcDe")
    assert response.status_code == 410 and "This link from Acme Bakery has expired." in response.content.decode()
    clicks.flush()
    assert not Click.objects.exists()  # an expired link records nothing


@pytest.mark.django_db
@override_settings(SHORT_DOMAIN="sms.example")
def test_short_domains_serve_links_at_their_root_and_nothing_else(client, tenant, other_tenant):
    from links.middleware import hosts_forget

    tenant.short_domain = "go.acme.example"
    tenant.save()
    hosts_forget()
    a_link(tenant, token="AcmeToken1")
    a_link(other_tenant, token="RivalToken", destination="https://rival.example/")
    assert client.get("/AcmeToken1", HTTP_HOST="go.acme.example")["Location"] == "https://acme.example/sale"
    assert client.get("/AcmeToken1", HTTP_HOST="sms.example").status_code == 302  # the shared default
    assert client.get("/RivalToken", HTTP_HOST="go.acme.example").status_code == 404  # not this business's
    assert client.get("/admin/", HTTP_HOST="go.acme.example").status_code == 404  # only links here
    assert client.get("/", HTTP_HOST="go.acme.example").status_code == 404
    assert client.get("/s/AcmeToken1").status_code == 302  # the main host's /s/ path


# --- clicks ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_clicks_are_queued_then_recorded_with_their_verdicts(client, tenant):
    link = a_link(tenant)
    client.get("/s/Tok3nAbcDe", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.9")
    client.head("/s/Tok3nAbcDe", HTTP_USER_AGENT=IPHONE)
    client.get("/s/Tok3nAbcDe", HTTP_USER_AGENT=IMESSAGE_PREVIEW)
    client.get("/s/Tok3nAbcDe")  # no agent
    assert not Click.objects.exists() and clicks.pending() == 4  # the redirect never wrote
    assert clicks.flush() == 4
    recorded = {(c.method, c.is_human, c.reason) for c in Click.objects.filter(link=link)}
    assert recorded == {
        ("GET", True, ""),
        ("HEAD", False, "head_request"),
        ("GET", False, "link_preview"),
        ("GET", False, "empty_user_agent"),
    }
    human = Click.objects.get(is_human=True)
    assert human.ip_hash == clicks.ip_hash("203.0.113.9") and "203.0.113.9" not in human.ip_hash


@pytest.mark.django_db
def test_a_fetch_seconds_after_delivery_is_a_scanner(client, tenant, clock):
    campaign, contacts = sent_campaign(tenant, n=1)
    message = Message.objects.get(campaign=campaign)
    deliver(message, timezone.now())
    token = SHORT.findall(message.body)[0]
    client.get(f"/s/{token}", HTTP_USER_AGENT=IPHONE)
    clicks.flush()
    clock.shift(dt.timedelta(seconds=60))
    client.get(f"/s/{token}", HTTP_USER_AGENT=IPHONE)
    clicks.flush()
    assert list(Click.objects.order_by("at").values_list("is_human", "reason")) == [
        (False, "scanner_timing"),
        (True, ""),
    ]


@pytest.mark.django_db
def test_different_agents_within_a_second_are_a_burst_even_across_flushes(tenant):
    link = a_link(tenant)
    data = {"id": link.id, "tenant": tenant.id, "campaign": None, "contact": None}
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
        "Mobile Safari/537.36"
    )
    clicks.enqueue(link=data, method="GET", user_agent=IPHONE, ip="1.1.1.1")
    clicks.flush()
    clicks.enqueue(link=data, method="GET", user_agent=android, ip="1.1.1.2")
    clicks.flush()
    assert set(Click.objects.values_list("is_human", "reason")) == {(False, "burst")}


@pytest.mark.django_db
def test_recording_the_same_queued_click_twice_stores_it_once(tenant):
    link = a_link(tenant)
    item = {"id": "a" * 32, "link": link.id, "tenant": tenant.id, "campaign": None, "contact": None,
            "at": time.time(), "method": "GET", "ua": IPHONE, "ip": "x"}  # fmt: skip
    clicks.record([item])
    clicks.record([item])  # a flush retried after dying between insert and trim
    assert Click.objects.count() == 1


# --- click-through ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_human_ctr_counts_people_once_and_never_bots(client, tenant, other_tenant, clock):
    campaign, contacts = sent_campaign(tenant, n=4)
    messages = {m.contact_id: m for m in Message.objects.filter(campaign=campaign)}
    for message in messages.values():
        deliver(message, timezone.now() - dt.timedelta(minutes=10))
    keen, previewed = contacts[0], contacts[1]
    token = SHORT.findall(messages[keen.pk].body)[0]
    for _ in range(5):  # one person, five clicks
        client.get(f"/s/{token}", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="10.0.0.1")
        clock.shift(dt.timedelta(seconds=3))
    # iMessage's preview comes from the recipient's own phone, then the person taps: same IP.
    token = SHORT.findall(messages[previewed.pk].body)[0]
    client.get(f"/s/{token}", HTTP_USER_AGENT=IMESSAGE_PREVIEW, REMOTE_ADDR="10.0.0.2")
    clock.shift(dt.timedelta(seconds=20))
    client.get(f"/s/{token}", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="10.0.0.2")
    # Another tenant's link with this campaign's id never counts here.
    rival = a_link(other_tenant, token="RivalToken")
    ShortLink.objects.filter(pk=rival.pk).update(campaign_id=campaign.pk)
    client.get("/s/RivalToken", HTTP_USER_AGENT=IPHONE)
    clicks.flush()
    through = selectors.click_through(tenant=tenant, campaign_id=campaign.pk)
    assert (through.raw_clicks, through.human_clicks, through.human_contacts, through.delivered) == (7, 6, 2, 4)
    assert through.human_ctr == 0.5 and through.human_ctr_percent == "50.0%"


@pytest.mark.django_db
def test_ctr_is_never_above_100_percent(tenant):
    from links.selectors import ClickThrough

    assert ClickThrough(3, 3, 3, 2).human_ctr == 1.0
    assert ClickThrough(0, 0, 0, 0).human_ctr is None


@pytest.mark.django_db
def test_a_stopping_worker_hands_over_its_buffered_clicks(tenant, settings):
    """gunicorn's worker_exit hook (and atexit) call drain_local: nothing buffered is lost."""
    link = a_link(tenant)
    data = {"id": link.id, "tenant": tenant.id, "campaign": None, "contact": None}
    settings.TESTING = False  # buffer as a web process does (the thread is not needed here)
    clicks._ensure_thread = lambda: None
    try:
        clicks.enqueue(link=data, method="GET", user_agent=IPHONE, ip="1.1.1.1")
        clicks.enqueue(link=data, method="GET", user_agent=IPHONE, ip="1.1.1.1")
        assert len(clicks._local) == 2
        clicks.drain_local()
    finally:
        del clicks._ensure_thread
    assert not clicks._local
    clicks.flush()
    assert Click.objects.filter(link=link).count() == 2


@pytest.mark.django_db
def test_links_are_read_only_and_scoped_in_the_admin(staff_owner, tenant, other_tenant):
    from django.urls import reverse

    from tenants.testing import client_for

    a_link(tenant, token="OursToken1")
    a_link(other_tenant, token="TheirToken")
    client = client_for(staff_owner)
    listing = client.get(reverse("admin:links_shortlink_changelist")).content.decode()
    assert "OursToken1" in listing and "TheirToken" not in listing
    assert client.get(reverse("admin:links_shortlink_add")).status_code == 403
    assert client.get(reverse("admin:links_click_changelist")).status_code == 200
