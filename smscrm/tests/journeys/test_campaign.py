"""Journey: create a campaign, launch it, pause and resume it, then read its report.

Tasks wait in the queue until the worker (``worker.run``) takes them; the dispatcher, a periodic
task, runs when the test says so; the provider's "delivered" callbacks are posted, signed, to the
live server. 14:00 in Sydney (``clock``), inside every recipient's sending hours.
"""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from campaigns import dispatch
from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob
from contacts.models import DncReason, DoNotContact
from contacts.tests.factories import ContactFactory
from messaging.backends import locmem
from messaging.models import Message, MessageStatus
from smscrm.tests.journeys.sending import SYDNEY, bread_template, deliver_all, ready_to_send, regulars

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LINK = "https://acme.example/bread"
DOLLARS = re.compile(r"\$\d+\.\d\d")


def test_create_launch_pause_resume_and_report_a_campaign(journey, worker, clock, owner, tenant):
    ready_to_send(tenant)
    contacts = regulars(tenant)
    # Two more who consented but will not be texted: one asked not to be, one is in New Zealand
    # (no price per segment for NZ, so no message there can ever go).
    ContactFactory(tenant=tenant, first_name="Dan", phone_e164="+61412345604", consent="express", timezone=SYDNEY)
    DoNotContact.objects.create(tenant=tenant, phone_e164="+61412345604", reason=DncReason.MANUAL)
    ContactFactory(tenant=tenant, first_name="Kiri", phone_e164="+64211234567", consent="express")
    template = bread_template(tenant)
    page = journey.page
    journey.sign_in(owner)
    journey.go("/campaigns/")
    page.locator("main").get_by_role("link", name=re.compile(r"new campaign", re.I)).click()
    expect(page.get_by_role("heading", level=1, name="New campaign")).to_be_visible()
    journey.check()

    # The template uses {{ link }}: without a Link URL the draft is refused, on that field.
    page.get_by_label("Name", exact=True).fill("Spring bread")
    page.get_by_label("Template").select_option(label=template.name)
    page.locator("main form").get_by_role("button", name="Create draft").click()
    link_field = page.locator(".field", has=page.get_by_label("Link URL"))
    expect(link_field).to_contain_text(re.compile(r"link", re.I))
    expect(link_field.locator(".error")).to_be_visible()
    journey.check()
    assert not Campaign.objects.exists()
    page.get_by_label("Link URL").fill(LINK)
    page.locator("main form").get_by_role("button", name="Create draft").click()

    # The draft: its estimate in dollars, and a way to edit it.
    expect(page.get_by_role("heading", level=1, name=re.compile(r"Spring bread"))).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("Draft")
    journey.check()
    estimate = page.locator("#estimate")
    expect(estimate).to_contain_text(DOLLARS)
    # Do-not-contact and the unpriced country left out, as on the launch page.
    journey.soft("draft's estimate: Audience 3 contacts", shows(page, "Audience", r"^3 contacts\b"))
    expect(estimate).not_to_contain_text("¢")
    expect(page.locator("main").get_by_role("link", name=re.compile(r"^Edit"))).to_be_visible()

    # Launch, after reading what it will do.
    page.get_by_role("link", name=re.compile(r"^Launch")).click()
    expect(page.get_by_role("heading", level=1, name=re.compile(r"Launch .Spring bread.\?"))).to_be_visible()
    journey.check()
    summary = page.locator("#summary")
    expect(summary).to_contain_text("3 contacts")
    expect(summary).to_contain_text(DOLLARS)
    # Who is left out, and why, before anything is sent.
    launch_page = page.locator("main")
    expect(launch_page.get_by_text(re.compile(r"^1 .*do-not-contact", re.I))).to_be_visible()
    unpriced = launch_page.get_by_text(re.compile(r"\b(NZ|New Zealand)\b")).first  # which country, how many
    expect(unpriced).to_contain_text(re.compile(r"\b1 contact\b"))
    page.get_by_role("button", name="Yes, launch").click()

    # Queued until a worker prepares the audience; then running.
    expect(page.locator("main")).to_contain_text(re.compile(r"preparing the audience", re.I))
    journey.check()
    assert worker.run() == ["campaigns.create_jobs"]
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("Running")
    journey.check()

    # Pause, then resume.
    page.locator("main").get_by_role("button", name="Pause").click()
    expect(page.locator("h1 .badge")).to_have_text("Paused")
    journey.check()
    campaign = Campaign.objects.get(tenant=tenant)
    assert campaign.status == CampaignStatus.PAUSED
    assert dispatch.dispatch().sent == 0  # paused: nothing goes
    page.locator("main").get_by_role("button", name="Resume").click()
    expect(page.locator("h1 .badge")).to_have_text("Running")
    journey.check()

    # The dispatcher sends; the job that can never go (NZ, no price) ends at once, skipped with
    # its reason, instead of holding the campaign open; the provider reports every message delivered.
    assert dispatch.dispatch().sent == 3
    assert not SendJob.objects.filter(campaign=campaign, status=JobStatus.PENDING).exists()
    nz_job = SendJob.objects.get(campaign=campaign, contact__phone_e164="+64211234567")
    assert nz_job.status == JobStatus.SKIPPED
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in contacts)
    dispatch.campaigns_advance()  # the beat task: nothing is left to send, so the campaign is done
    deliver_all(page.context.request, journey.base_url, campaign)
    assert Message.objects.filter(campaign=campaign, status=MessageStatus.DELIVERED).count() == 3
    worker.run()  # whatever the callbacks queued
    # A minute later (beat having refreshed the figures, every 30 seconds) the person looks
    # again: the figures have followed their inputs, on the campaign's page and in its report alike.
    clock.shift(dt.timedelta(minutes=1))
    worker.beat("reporting.refresh_stats")
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("Completed")
    journey.soft("estimate after launch: Audience 3 contacts", shows(page, "Audience", r"^3 contacts\b"))
    journey.soft("Handed to the provider: 3", shows(page, "Handed to the provider", r"^3\b"))
    journey.soft("Delivered: 3", shows(page, "Delivered", r"^3\b"))
    journey.soft("Failed: 0", shows(page, "Failed", r"^0\b"))
    main = page.locator("main")
    journey.soft("no 'nothing delivered yet'", lambda: expect(main).not_to_contain_text("nothing delivered yet"))
    journey.check()

    # The report agrees.
    page.locator("main").get_by_role("link", name="Report", exact=True).click()
    expect(page.get_by_role("heading", level=1, name=re.compile(r"Report: Spring bread"))).to_be_visible()
    journey.check()
    journey.soft("Delivered: 3", shows(page, "Delivered", r"^3\b"))
    journey.soft("Failed: 0", shows(page, "Failed", r"^0\b"))
    money = page.locator("#money")
    journey.soft("money in dollars", lambda: expect(money).to_contain_text(DOLLARS))
    journey.soft("no cents", lambda: expect(money).not_to_contain_text("¢"))
    expect(page.get_by_role("progressbar")).to_have_accessible_name(re.compile(r"\w"))
    journey.assert_clean()


def figure(page, label: str):
    """The figure shown beside ``label`` on the page: a definition list's <dd> or a table row's cell."""
    return page.locator(
        f"xpath=//main//dt[normalize-space()='{label}']/following-sibling::dd[1]"
        f" | //main//th[normalize-space()='{label}']/following-sibling::td[1]"
    ).first


def shows(page, label: str, pattern: str):
    """An assertion, for ``journey.soft``: the figure beside ``label`` matches ``pattern``."""
    return lambda: expect(figure(page, label)).to_have_text(re.compile(pattern))
