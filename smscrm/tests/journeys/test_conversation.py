"""A customer answers a campaign; the owner answers them from the Inbox and sees it delivered.

The campaign goes out through the services; the customer's text and the provider's status
callbacks are posted to the live server as Twilio would post them, signed. The thread page is
never reloaded by the test after the reply: the delivery shows up by the page's own polling.
"""

import datetime as dt

import pytest
from playwright.sync_api import expect

from messaging.models import Message, MessageKind, MessageStatus
from messaging.tests.signing import status_params
from smscrm.tests.journeys.sending import (
    ACCOUNT_SID,
    deliver_all,
    ready_to_send,
    regulars,
    reply,
    sent_campaign,
    signed_post,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
POLL_MS = 20_000  # the thread page polls every few seconds; this bounds the wait, it is not a sleep


def test_answering_a_customer_from_the_inbox_and_seeing_it_delivered(journey, clock, owner, tenant):
    ready_to_send(tenant)
    contacts = regulars(tenant)
    alice = contacts[0]
    campaign = sent_campaign(tenant, contacts)
    page = journey.page
    journey.sign_in(owner)
    deliver_all(page.context.request, journey.base_url, campaign)
    clock.shift(dt.timedelta(minutes=5))
    reply(page.context.request, journey.base_url, alice, "Are you open on Boxing Day?")

    journey.go("/inbox/")
    row = page.locator("main").get_by_role("row").filter(has_text="Boxing Day")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("0412 345 601")  # the thread's number, always shown
    row.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Alice")
    journey.check()

    box = page.get_by_label("Your reply", exact=True)
    box.fill("Yes, 8am to noon. Merry Christmas!")
    expect(page.locator(".segment-count")).to_contain_text("1 segment")
    page.get_by_role("button", name="Send reply").click()
    page.wait_for_load_state("load")
    sent = Message.objects.get(tenant=tenant, kind=MessageKind.CONVERSATION)
    assert (sent.to_phone, sent.body.startswith("Yes, 8am to noon. Merry Christmas!")) == (alice.phone_e164, True)
    assert sent.status in {MessageStatus.QUEUED, MessageStatus.SENT} and sent.provider_id
    ours = page.locator(f"#message-{sent.pk}")
    expect(ours).to_contain_text("Yes, 8am to noon.")
    expect(ours.locator(".message-status")).not_to_contain_text("Delivered")
    journey.check()

    # The provider reports the delivery; the open page shows it without a reload.
    response = signed_post(
        page.context.request,
        journey.base_url,
        "/webhooks/twilio/status",
        status_params(sent, "delivered", account_sid=ACCOUNT_SID),
    )
    assert response.status == 200
    expect(ours.locator(".message-status")).to_have_text("Delivered", timeout=POLL_MS)
    assert Message.objects.filter(tenant=tenant, kind=MessageKind.CONVERSATION).count() == 1
    journey.assert_clean()
