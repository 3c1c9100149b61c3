"""Journeys after a campaign went out: a STOP reply, and clicks on its short links.

The campaign is launched and handed to the provider by the services (the campaign journey goes
through the pages for that); what comes back is posted to the live server as Twilio would post it,
signed, and what the links see comes from real browsers and a link-preview fetcher.
"""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from contacts.models import DoNotContact
from links import clicks
from messaging.models import Message
from reporting import tasks as reporting_tasks
from smscrm.testing.browser import PHONE
from smscrm.tests.journeys.conftest import IMESSAGE_PREVIEW, IPHONE
from smscrm.tests.journeys.sending import (
    SHORT_TOKEN,
    deliver_all,
    ready_to_send,
    regulars,
    reply,
    sent_campaign,
    shop_site,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_stop_reply_shows_in_the_inbox_and_the_contacts_timeline(journey, clock, owner, tenant):
    ready_to_send(tenant)
    contacts = regulars(tenant)
    alice = contacts[0]
    campaign = sent_campaign(tenant, contacts)
    page = journey.page
    journey.sign_in(owner)
    deliver_all(page.context.request, journey.base_url, campaign)
    clock.shift(dt.timedelta(minutes=5))
    reply(page.context.request, journey.base_url, alice, "STOP")
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=alice.phone_e164).exists()

    journey.go("/inbox/texts/?state=all")  # every text one by one; /inbox/ lists conversations
    row = page.locator("main table tbody tr").filter(has_text="STOP")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Alice Nguyen")
    expect(row).to_contain_text("0412 345 601")  # the texter's number, as well as the name
    expect(row).to_contain_text("Spring bread")
    journey.check()

    row.get_by_role("link", name=re.compile(r"Alice Nguyen")).click()
    expect(page.get_by_role("heading", level=1, name="Alice Nguyen")).to_be_visible()
    journey.check()
    expect(page.locator("main")).to_contain_text(re.compile(r"do-not-contact list", re.I))
    timeline = page.locator("#timeline")
    opted_out = timeline.locator("tr").filter(has_text=re.compile(r"opted out", re.I)).filter(has_text="STOP")
    expect(opted_out).to_have_count(1)
    # People's words, never event codes.
    expect(timeline).not_to_contain_text(re.compile(r"\b[a-z]+[._][a-z_]+\b.*campaign: None|opted_out|inbound\."))
    journey.assert_clean()


@pytest.fixture
def shop():
    with shop_site() as base_url:
        yield base_url


def test_a_persons_click_and_a_link_preview_are_counted_apart(journey, clock, browser_context, shop, owner, tenant):
    ready_to_send(tenant)
    contacts = regulars(tenant)
    destination = shop + "/bread"
    campaign = sent_campaign(tenant, contacts, link_url=destination)
    page = journey.page
    journey.sign_in(owner)
    deliver_all(page.context.request, journey.base_url, campaign)
    clock.shift(dt.timedelta(minutes=10))  # not a security scanner's fetch seconds after delivery
    body = Message.objects.get(campaign=campaign, contact=contacts[1]).body
    short_url = journey.url("/s/" + SHORT_TOKEN.search(body).group(1))

    # The recipient's phone fetches a preview of the link first (iMessage)…
    preview = page.context.request.get(short_url, headers={"User-Agent": IMESSAGE_PREVIEW}, max_redirects=0)
    assert preview.status == 302 and preview.headers["location"] == destination
    clock.shift(dt.timedelta(seconds=20))
    # …then the person taps it, on their phone.
    phone = browser_context.browser.new_context(user_agent=IPHONE, viewport=PHONE, has_touch=True)
    try:
        tap = phone.new_page()
        tap.goto(short_url)
        expect(tap).to_have_url(destination)
        expect(tap.get_by_role("heading", name="Fresh bread")).to_be_visible()
    finally:
        phone.close()
    assert clicks.flush() == 2  # the periodic task that records queued clicks
    reporting_tasks.refresh_stats()  # beat's sweep (30 s): the campaign page only reads the figures

    journey.go(f"/campaigns/{campaign.pk}/")
    clicked = page.locator("main").get_by_text(re.compile(r"by people"))
    expect(clicked).to_contain_text(re.compile(r"\b1 by people\b"))
    expect(clicked).to_contain_text(re.compile(r"\b2 fetches in all\b"))
    journey.check()

    page.locator("main").get_by_role("link", name="Report", exact=True).click()
    expect(page.get_by_role("heading", level=1, name=re.compile(r"Report: Spring bread"))).to_be_visible()
    journey.check()
    report_clicks = page.locator("#clicks")
    expect(report_clicks).to_contain_text(re.compile(r"\b1 clicks? by 1 (people|person)\b"))
    expect(report_clicks).to_contain_text(re.compile(r"\b2 fetches in all\b"))
    # Why the preview was not counted, in words: not the code "link_preview".
    expect(report_clicks).to_contain_text(re.compile(r"link preview", re.I))
    expect(report_clicks).not_to_contain_text("link_preview")
    journey.assert_clean()
