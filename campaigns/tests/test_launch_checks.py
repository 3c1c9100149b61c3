"""What a campaign is checked for before it is saved, estimated and launched (issue 16, items 1-3):
a ``{{ link }}`` needs a Link URL, drafts can be edited, a job that can never pass is skipped
at once, and the estimate counts only what the final gates would let through."""

import datetime as dt
import html
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch, selectors, services
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory, PriceFactory, SendingNumberFactory, TemplateFactory
from campaigns.tests.test_dispatch import SYDNEY, launched, sending_setup
from contacts.tests.factories import ContactFactory, DoNotContactFactory
from links import services as links_services
from messaging.backends import locmem
from messaging.models import Price
from tenants.models import AuditEvent
from tenants.testing import assert_hidden_from, assert_roles, client_for

pytestmark = pytest.mark.django_db

STAFF_UP = {"staff", "admin", "owner"}
LINK_BODY = "Autumn sale. Shop now: {{ link }}"
NZ_MOBILE = "+64211234567"


def text(response) -> str:
    return html.unescape(response.content.decode())


def words(response) -> str:
    """The page's text with the markup taken out and the spacing collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text(response)))


def field_block(response, name: str) -> str:
    page = text(response)
    start = page.index(f'id="id_{name}"')
    end = page.find('<div class="field', start)
    return page[start : end if end != -1 else len(page)]


@pytest.fixture
def link_template(tenant):
    return TemplateFactory(tenant=tenant, name="Autumn", bodies=[LINK_BODY])


# --- 1. {{ link }} needs a Link URL -------------------------------------------------------------


def test_the_form_refuses_a_link_template_without_a_link_url(tenant, owner, link_template):
    response = client_for(owner).post(reverse("campaigns:create"), {"name": "Autumn", "template": link_template.pk})
    assert response.status_code == 400
    assert "The template uses {{ link }}: give the Link URL" in field_block(response, "link_url")
    assert not Campaign.objects.exists()


def test_the_service_refuses_it_too_and_accepts_a_url_or_a_fallback(tenant, link_template):
    with pytest.raises(ValidationError) as refused:
        services.campaign_create(tenant=tenant, actor=None, name="Autumn", template=link_template)
    assert list(refused.value.message_dict) == ["link_url"]
    services.campaign_create(
        tenant=tenant, actor=None, name="With URL", template=link_template, link_url="https://acme.example/sale"
    )
    with_fallback = TemplateFactory(tenant=tenant, bodies=["Shop now: {{ link|in store }}"])
    services.campaign_create(tenant=tenant, actor=None, name="Fallback", template=with_fallback)
    assert Campaign.objects.count() == 2


def test_launch_is_refused_for_a_draft_saved_without_one(tenant, link_template):
    # A draft written before the rule (or whose template gained {{ link }} since).
    campaign = CampaignFactory(tenant=tenant, template=link_template)
    ContactFactory(tenant=tenant, consent="express")
    SendingNumberFactory(tenant=tenant)
    PriceFactory(tenant=tenant)
    assert services.LINK_URL_REQUIRED in services.launch_problems(campaign)
    with pytest.raises(ValidationError, match="give the Link URL"):
        services.campaign_launch(campaign=campaign, actor=None)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_previews_show_no_short_link_that_will_not_exist(tenant, owner, link_template):
    campaign = CampaignFactory(tenant=tenant, template=link_template)
    short = links_services.placeholder_url(tenant)
    client = client_for(owner)
    for url in (reverse("campaigns:detail", args=[campaign.pk]), reverse("campaigns:launch", args=[campaign.pk])):
        page = text(client.get(url))
        assert short not in page, url
        assert services.LINK_URL_REQUIRED in page, url
    assert all(short not in variant.preview for variant in selectors.estimate(campaign=campaign).variants)

    campaign.link_url = "https://acme.example/sale"
    campaign.save()
    (variant,) = selectors.estimate(campaign=campaign).variants
    assert f"Shop now: {short}" in variant.preview


# --- 1. drafts can be edited ----------------------------------------------------------------------


def test_a_draft_has_an_edit_button_and_its_form_saves(tenant, owner, link_template):
    campaign = CampaignFactory(tenant=tenant, template=link_template, name="Autumn")
    client = client_for(owner)
    detail = reverse("campaigns:detail", args=[campaign.pk])
    edit = reverse("campaigns:edit", args=[campaign.pk])
    assert f'href="{edit}"' in text(client.get(detail))
    form = client.get(edit)
    assert form.status_code == 200 and 'value="Autumn"' in text(form)

    refused = client.post(edit, {"name": "Autumn", "template": link_template.pk})
    assert refused.status_code == 400
    assert "give the Link URL" in field_block(refused, "link_url")

    saved = client.post(
        edit, {"name": "Autumn sale", "template": link_template.pk, "link_url": "https://acme.example/sale"}
    )
    assert saved.status_code == 302 and saved["Location"] == detail
    campaign.refresh_from_db()
    assert (campaign.name, campaign.link_url) == ("Autumn sale", "https://acme.example/sale")
    assert AuditEvent.objects.filter(action=services.CampaignAction.CAMPAIGN_UPDATED, target="Autumn sale").exists()


def test_edit_roles_and_tenancy(tenant, members, link_template, other_owner):
    campaign = CampaignFactory(tenant=tenant, template=link_template)
    url = reverse("campaigns:edit", args=[campaign.pk])
    assert_roles(url, members=members, allowed=STAFF_UP)
    assert_roles(
        url,
        members=members,
        allowed=STAFF_UP,
        method="post",
        data={"name": "Autumn", "template": link_template.pk, "link_url": "https://acme.example/sale"},
    )
    assert_hidden_from(url, user=other_owner)
    assert_hidden_from(url, user=other_owner, method="post", data={"name": "Mine now", "template": link_template.pk})
    campaign.refresh_from_db()
    assert campaign.name == "Autumn"


def test_a_launched_campaign_cannot_be_edited(tenant, owner, link_template):
    campaign = CampaignFactory(
        tenant=tenant, template=link_template, status=CampaignStatus.RUNNING, link_url="https://acme.example/a"
    )
    with pytest.raises(ValidationError, match="only a draft can be edited"):
        services.campaign_update(
            campaign=campaign, actor=None, name="Changed", template=link_template, link_url="https://acme.example/b"
        )
    url = reverse("campaigns:edit", args=[campaign.pk])
    response = client_for(owner).post(url, {"name": "Changed", "template": link_template.pk})
    assert response.status_code == 302
    assert f'href="{url}"' not in text(client_for(owner).get(reverse("campaigns:detail", args=[campaign.pk])))
    name = campaign.name
    campaign.refresh_from_db()
    assert (campaign.name, campaign.link_url) == (name, "https://acme.example/a")


# --- 2. a job that can never pass ends at once ----------------------------------------------------


def test_a_number_with_no_price_is_skipped_and_the_campaign_completes(tenant, clock):
    sending_setup(tenant)  # an AU price only
    au = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    nz = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    campaign = launched(tenant, contacts=[au, nz])
    stats = dispatch.dispatch()
    assert stats.sent == 1
    job = SendJob.objects.get(campaign=campaign, contact=nz)
    assert (job.status, job.gate, job.outcome) == (JobStatus.SKIPPED, Gate.BUDGET, GateOutcome.SKIP)
    assert job.reason.startswith("No price per segment set for NZ")
    dispatch.campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED
    assert [sms.to for sms in locmem.outbox] == [au.phone_e164]


def test_with_no_usable_sender_at_all_jobs_wait_rather_than_being_skipped(tenant, clock):
    numbers = sending_setup(tenant)
    contact = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    campaign = launched(tenant, contacts=[contact])
    for number in numbers:
        number.is_active = False
        number.save(update_fields=["is_active"])
    dispatch.dispatch()
    job = SendJob.objects.get(campaign=campaign)
    assert (job.status, job.outcome, job.reason) == (
        JobStatus.PENDING,
        GateOutcome.DEFER,
        "No active, registered sender.",
    )


def test_pausing_the_priced_sender_makes_jobs_wait_not_skip(tenant, clock):
    """The country has a price under another sender's provider: pausing that sender is fixable,
    so the jobs wait for it instead of ending the campaign unsent."""
    numbers = sending_setup(tenant)  # a twilio sender and the AU price for twilio
    SendingNumberFactory(tenant=tenant)  # a simulator-account sender, no price for its provider
    contacts = [ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY) for _ in range(2)]
    campaign = launched(tenant, contacts=contacts)
    for number in numbers:
        number.is_active = False
        number.save(update_fields=["is_active"])
    dispatch.dispatch()
    rows = set(SendJob.objects.filter(campaign=campaign).values_list("status", "outcome", "gate"))
    assert rows == {(JobStatus.PENDING, GateOutcome.DEFER, Gate.BUDGET)}
    job = SendJob.objects.filter(campaign=campaign).first()
    assert job.reason.startswith("No price per segment set for AU for simulator")
    assert not locmem.outbox


def test_the_estimate_counts_contacts_priced_only_for_a_paused_sender_as_waiting(tenant, owner, clock):
    numbers = sending_setup(tenant)  # a twilio sender and the AU price for twilio
    SendingNumberFactory(tenant=tenant)  # a simulator-account sender
    PriceFactory(tenant=tenant, provider="simulator", country="NZ", cents_per_segment=9)
    for number in numbers:
        number.is_active = False
        number.save(update_fields=["is_active"])
    ContactFactory.create_batch(2, tenant=tenant, consent="express", timezone=SYDNEY)
    ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    template = services.template_save(tenant=tenant, actor=None, name="T", bodies=["20% off today"])
    campaign = services.campaign_create(tenant=tenant, actor=None, name="C", template=template)
    estimate = selectors.estimate(campaign=campaign)
    assert (estimate.audience, estimate.waiting, estimate.unpriced) == (1, (("AU", 2),), ())
    page = words(client_for(owner).get(reverse("campaigns:detail", args=[campaign.pk])))
    assert "2 contacts in AU: priced only for the provider of a paused sender, so they wait" in page


def test_launch_is_refused_when_no_usable_senders_provider_has_a_price(tenant, clock):
    SendingNumberFactory(tenant=tenant)  # on a simulator account
    PriceFactory(tenant=tenant, provider="twilio", country="AU", cents_per_segment=5)
    ContactFactory.create_batch(2, tenant=tenant, consent="express", timezone=SYDNEY)
    template = services.template_save(tenant=tenant, actor=None, name="T", bodies=["20% off today"])
    campaign = services.campaign_create(tenant=tenant, actor=None, name="C", template=template)
    assert services.launch_problems(campaign) == [
        "No price per segment is set for simulator, the provider of your active senders, so the budget "
        "cannot be enforced."
    ]


def test_estimate_and_dispatcher_name_the_same_gate_for_a_listed_foreign_number(tenant, clock):
    sending_setup(tenant)  # an AU price only
    ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    nz = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    DoNotContactFactory(tenant=tenant, phone_e164=nz.phone_e164)
    template = services.template_save(tenant=tenant, actor=None, name="T", bodies=["20% off today"])
    campaign = services.campaign_create(tenant=tenant, actor=None, name="C", template=template)
    estimate = selectors.estimate(campaign=campaign)
    assert ({key: n for key, _label, n in estimate.removed}, estimate.unpriced) == ({"dnc": 1}, ())
    services.campaign_launch(campaign=campaign, actor=None)
    services.campaign_create_jobs(campaign_id=campaign.pk)
    dispatch.dispatch()
    job = SendJob.objects.get(campaign=campaign, contact=nz)
    assert (job.status, job.gate, job.reason) == (JobStatus.SKIPPED, Gate.DNC, "On the do-not-contact list.")


def test_the_launch_page_says_beforehand_who_has_no_price(tenant, owner, link_template):
    ContactFactory.create_batch(2, tenant=tenant, consent="express")
    ContactFactory(tenant=tenant, consent="express", phone_e164=NZ_MOBILE)
    ContactFactory(tenant=tenant, consent="express", phone_e164="+447400123456")
    SendingNumberFactory(tenant=tenant)
    PriceFactory(tenant=tenant)
    campaign = CampaignFactory(tenant=tenant, template=link_template, link_url="https://acme.example/sale")
    page = words(client_for(owner).get(reverse("campaigns:launch", args=[campaign.pk])))
    assert "It goes to 2 contacts" in page
    assert "No price per segment is set for GB (1 contact), NZ (1 contact): those contacts will be skipped." in page


# --- 3. the estimate applies the final gates ------------------------------------------------------


def test_estimate_and_launch_page_leave_out_what_the_final_gates_remove(tenant, owner, clock):
    sending_setup(tenant, price=5)
    fine = [ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY) for _ in range(3)]
    listed = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    DoNotContactFactory(tenant=tenant, phone_e164=listed.phone_e164)
    recent = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    recent.last_sent_at = timezone.now() - dt.timedelta(days=2)
    recent.save(update_fields=["last_sent_at"])
    withdrawn = ContactFactory(tenant=tenant, consent="withdrawn", timezone=SYDNEY)
    nz = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    template = services.template_save(tenant=tenant, actor=None, name="Plain", bodies=["20% off bread today"])
    campaign = services.campaign_create(tenant=tenant, actor=None, name="Bread", template=template)

    estimate = selectors.estimate(campaign=campaign)
    assert (estimate.targeted, estimate.audience, estimate.cost_cents) == (7, 3, 15)  # 3 × 1 segment × 5¢
    assert {key: n for key, _label, n in estimate.removed} == {"consent": 1, "dnc": 1, "suppression": 1, "no_price": 1}
    assert estimate.unpriced == (("NZ", 1),)
    response = client_for(owner).get(reverse("campaigns:launch", args=[campaign.pk]))
    assert "It goes to 3 contacts and costs at most $0.15" in words(response)
    page = text(response)
    for line in (
        "1 no current consent",
        "1 on the do-not-contact list",
        "1 had a campaign message within the suppression period",
        "1 no price per segment for their country",
    ):
        assert f"<li>{line}</li>" in page

    # The dispatcher, by the same rules, sends exactly the estimated ones.
    services.campaign_launch(campaign=campaign, actor=None)
    services.campaign_create_jobs(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.estimated_cost_cents == 15
    dispatch.dispatch()
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in fine)
    assert {withdrawn.phone_e164, nz.phone_e164}.isdisjoint(sms.to for sms in locmem.outbox)


def test_after_launch_the_estimate_leaves_out_the_jobs_the_gates_ruled_out(tenant, clock):
    sending_setup(tenant)  # an AU price only
    au = [ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY) for _ in range(3)]
    nz = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    listed = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY)
    DoNotContactFactory(tenant=tenant, phone_e164=listed.phone_e164)
    campaign = launched(tenant, contacts=[*au, nz, listed])
    dispatch.dispatch()
    campaign.refresh_from_db()
    assert (campaign.jobs_total, selectors.estimate(campaign=campaign).audience) == (5, 3)


def test_after_launch_the_estimate_prices_each_contact_at_its_own_countrys_price(tenant, clock):
    sending_setup(tenant, price=5)  # AU at 5¢ a segment
    Price.objects.create(
        tenant=tenant, provider="twilio", country="NZ", cents_per_segment=12, effective_from=dt.date(2020, 1, 1)
    )
    au = [ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY) for _ in range(3)]
    nz = ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, phone_e164=NZ_MOBILE)
    campaign = launched(tenant, contacts=[*au, nz], bodies=["20% off bread today"])
    draft_cost = campaign.estimated_cost_cents  # the draft's estimate, kept at launch
    assert draft_cost == 3 * 5 + 12
    assert selectors.estimate(campaign=campaign).cost_cents == draft_cost
