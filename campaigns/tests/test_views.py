"""Every campaigns page: who may use it, that other tenants get 404, and what a user sees there."""

import datetime as dt
import html
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob, Template
from campaigns.tests.factories import (
    CampaignFactory,
    PriceFactory,
    ProviderAccountFactory,
    SendingNumberFactory,
    TemplateFactory,
)
from contacts.tests.factories import ContactFactory
from messaging.models import SenderIdStatus, SenderKind, SendingNumber
from messaging.segments import segment_info
from tenants.models import AuditEvent
from tenants.testing import assert_hidden_from, assert_login_required, assert_roles, client_for

pytestmark = pytest.mark.django_db

ALL = {"viewer", "staff", "admin", "owner"}
STAFF_UP = {"staff", "admin", "owner"}
ADMIN_UP = {"admin", "owner"}
_n = count(1)


# --- helpers --------------------------------------------------------------------------------


def text(response) -> str:
    """The page as a person reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def field_block(response, name: str) -> str:
    """The markup of one form field's block: from its input to the next field."""
    page = text(response)
    start = page.index(f'id="id_{name}"')
    end = page.find('<div class="field', start)
    return page[start : end if end != -1 else len(page)]


def ready_to_send(tenant, *, sender_kwargs=None):
    """What a launch needs besides a template: a usable sender and a price."""
    SendingNumberFactory(tenant=tenant, **(sender_kwargs or {}))
    PriceFactory(tenant=tenant)


def unknown_job(campaign) -> SendJob:
    contact = ContactFactory(tenant=campaign.tenant, consent="express")
    return SendJob.objects.create(
        tenant=campaign.tenant,
        campaign=campaign,
        contact=contact,
        status=JobStatus.UNKNOWN,
        next_attempt_at=timezone.now(),
    )


@pytest.fixture
def template(tenant):
    return TemplateFactory(tenant=tenant, name="Bread day")


@pytest.fixture
def campaign(tenant, template):
    return CampaignFactory(tenant=tenant, template=template, name="Spring")


@pytest.fixture
def running(tenant, template):
    return CampaignFactory(
        tenant=tenant, template=template, status=CampaignStatus.RUNNING, jobs_created_at=timezone.now()
    )


# --- access ---------------------------------------------------------------------------------


def _object_urls(template, campaign, job, *, method: str = "get") -> list[str]:
    """Every URL that names a template, campaign or job and answers ``method``."""
    pages = [
        reverse("campaigns:detail", args=[campaign.pk]),
        reverse("campaigns:launch", args=[campaign.pk]),
        reverse("campaigns:cancel", args=[campaign.pk]),
        reverse("campaigns:template", args=[template.pk]),
    ]
    actions = [
        reverse("campaigns:launch", args=[campaign.pk]),
        reverse("campaigns:pause", args=[campaign.pk]),
        reverse("campaigns:resume", args=[campaign.pk]),
        reverse("campaigns:cancel", args=[campaign.pk]),
        reverse("campaigns:job_decide", args=[campaign.pk, job.pk]),
        reverse("campaigns:template", args=[template.pk]),
        reverse("campaigns:template_gsm", args=[template.pk]),
    ]
    return pages if method == "get" else actions


def _urls(template, campaign, job) -> list[str]:
    return [
        reverse("campaigns:list"),
        reverse("campaigns:create"),
        reverse("campaigns:templates"),
        reverse("campaigns:template_create"),
        reverse("campaigns:numbers"),
        *_object_urls(template, campaign, job),
        *_object_urls(template, campaign, job, method="post"),
    ]


def test_every_page_needs_a_login(template, running):
    for url in _urls(template, running, unknown_job(running)):
        assert_login_required(url)
        assert_login_required(url, method="post")


def test_another_tenants_objects_are_404(template, running, other_owner):
    job = unknown_job(running)
    for url in _object_urls(template, running, job):
        assert_hidden_from(url, user=other_owner)
    for url in _object_urls(template, running, job, method="post"):
        assert_hidden_from(url, user=other_owner, method="post", data={"decision": "sent", "name": "x", "body_1": "x"})
    running.refresh_from_db()
    job.refresh_from_db()
    assert running.status == CampaignStatus.RUNNING and job.status == JobStatus.UNKNOWN


def test_a_job_is_found_only_under_its_own_campaign(tenant, template, running, owner):
    job = unknown_job(running)
    elsewhere = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    url = reverse("campaigns:job_decide", args=[elsewhere.pk, job.pk])
    assert client_for(owner).post(url, {"decision": "sent"}).status_code == 404


def test_template_pages_roles(members, template):
    assert_roles(reverse("campaigns:templates"), members=members, allowed=ALL)
    assert_roles(reverse("campaigns:template_create"), members=members, allowed=STAFF_UP)
    assert_roles(
        reverse("campaigns:template_create"),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=lambda: {"name": f"New {next(_n)}", "body_1": "Fresh rolls today"},
    )
    url = reverse("campaigns:template", args=[template.pk])
    assert_roles(url, members=members, allowed=ALL)
    assert_roles(url, members=members, allowed=STAFF_UP, method="post", data={"name": "Bread day", "body_1": "Hi"})
    assert_roles(
        reverse("campaigns:template_gsm", args=[template.pk]), members=members, allowed=STAFF_UP, method="post"
    )


def test_campaign_pages_roles(tenant, members, template, campaign):
    assert_roles(reverse("campaigns:list"), members=members, allowed=ALL)
    assert_roles(reverse("campaigns:create"), members=members, allowed=STAFF_UP)
    assert_roles(
        reverse("campaigns:create"),
        members=members,
        allowed=STAFF_UP,
        method="post",
        data=lambda: {"name": f"Autumn {next(_n)}", "template": template.pk},
    )
    assert_roles(reverse("campaigns:detail", args=[campaign.pk]), members=members, allowed=ALL)
    assert_roles(reverse("campaigns:launch", args=[campaign.pk]), members=members, allowed=ADMIN_UP)
    assert_roles(reverse("campaigns:launch", args=[campaign.pk]), members=members, allowed=ADMIN_UP, method="post")
    for action in ("pause", "resume"):
        fresh = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
        assert_roles(reverse(f"campaigns:{action}", args=[fresh.pk]), members=members, allowed=ADMIN_UP, method="post")
    assert_roles(reverse("campaigns:cancel", args=[campaign.pk]), members=members, allowed=ADMIN_UP)
    assert_roles(reverse("campaigns:cancel", args=[campaign.pk]), members=members, allowed=ADMIN_UP, method="post")


def test_job_decide_roles(members, running):
    assert_roles(
        lambda: reverse("campaigns:job_decide", args=[running.pk, unknown_job(running).pk]),
        members=members,
        allowed=ADMIN_UP,
        method="post",
        data={"decision": "sent"},
    )


def test_sending_numbers_roles(tenant, members):
    account = ProviderAccountFactory(tenant=tenant)
    url = reverse("campaigns:numbers")
    assert_roles(url, members=members, allowed=ADMIN_UP)
    assert_roles(
        url,
        members=members,
        allowed=ADMIN_UP,
        method="post",
        data=lambda: {
            "account": account.pk,
            "sender": f"0400 000 {next(_n):03d}",
            "kind": "number",
            "sender_id_status": "n/a",
            "messages_per_second": 10,
            "warmup_started_on": "2026-01-01",
            "warmup_curve": "50, 100",
        },
        success=(302,),
    )
    assert SendingNumber.objects.filter(tenant=tenant).count() == 2


def test_posts_need_a_csrf_token(members, template):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(members["owner"])
    response = client.post(reverse("campaigns:template_gsm", args=[template.pk]))
    assert response.status_code == 403


# --- templates ------------------------------------------------------------------------------


def test_template_save_shows_an_unknown_placeholder_next_to_its_variant(tenant, owner):
    response = client_for(owner).post(
        reverse("campaigns:template_create"),
        {"name": "Promo", "body_1": "Hi {{ first_name }}", "body_2": "", "body_3": "Hello {{ frist_name }}"},
    )
    assert response.status_code == 400
    assert "Unknown placeholder {{ frist_name }}" in field_block(response, "body_3")
    assert "frist_name" not in field_block(response, "body_1")
    assert not Template.objects.filter(tenant=tenant, name="Promo").exists()


def test_template_edit_shows_the_error_and_keeps_the_saved_variants(template, owner):
    url = reverse("campaigns:template", args=[template.pk])
    response = client_for(owner).post(url, {"name": template.name, "body_1": "Hi {{ postcode }}"})
    assert response.status_code == 400
    assert "Unknown placeholder {{ postcode }}" in field_block(response, "body_1")
    assert [v.body for v in template.variants.all()] == ["Hi {{ first_name|there }}, 20% off all bread today"]


def test_template_rename_onto_another_name_is_refused(tenant, template, owner):
    TemplateFactory(tenant=tenant, name="Taken")
    url = reverse("campaigns:template", args=[template.pk])
    response = client_for(owner).post(url, {"name": "Taken", "body_1": "Hi"})
    assert response.status_code == 400
    assert "A template called 'Taken' exists already." in field_block(response, "name")


def test_template_page_previews_what_recipients_see(tenant, owner):
    template = TemplateFactory(tenant=tenant, bodies=["Hi {{ first_name|there }}, we’re open", "Plain one"])
    page = text(client_for(owner).get(reverse("campaigns:template", args=[template.pk])))
    # Business name and opt-out line added, sample values filled in.
    assert "Acme Bakery: Hi Sam, we’re open" in page
    assert tenant.opt_out_line in page
    assert "UCS-2" in page and "Right Single Quotation Mark" in page
    assert "GSM-7" in page
    assert "Replace with GSM characters" in page


def test_viewer_sees_previews_but_no_form(template, members):
    page = text(client_for(members["viewer"]).get(reverse("campaigns:template", args=[template.pk])))
    assert "Acme Bakery: Hi Sam, 20% off all bread today" in page
    assert 'name="body_1"' not in page and "Replace with GSM characters" not in page


def test_gsm_replace_turns_a_smart_quote_body_into_gsm7(tenant, owner):
    template = TemplateFactory(tenant=tenant, bodies=["We’re open “late” — come in…"])
    assert segment_info(template.variants.get().body).encoding == "UCS-2"
    response = client_for(owner).post(reverse("campaigns:template_gsm", args=[template.pk]), follow=True)
    assert response.status_code == 200
    body = template.variants.get().body
    assert body == 'We\'re open "late" - come in...'
    assert segment_info(body).encoding == "GSM-7"
    assert "Look-alike characters replaced" in text(response)
    assert "Replace with GSM characters" not in text(response)
    assert AuditEvent.objects.filter(tenant=tenant, action="template.saved").exists()


def test_gsm_replace_is_refused_for_a_launched_template(tenant, template, running, owner):
    """``running`` uses ``template``: its text is fixed."""
    template.variants.update(body="It’s on")
    response = client_for(owner).post(reverse("campaigns:template_gsm", args=[template.pk]), follow=True)
    assert "launched campaign" in text(response)
    assert template.variants.get().body == "It’s on"


# --- campaigns ------------------------------------------------------------------------------


def test_campaign_create_refuses_another_tenants_template(tenant, other_tenant, owner):
    foreign = TemplateFactory(tenant=other_tenant)
    response = client_for(owner).post(reverse("campaigns:create"), {"name": "Sneaky", "template": foreign.pk})
    assert response.status_code == 400
    assert "Select a valid choice" in field_block(response, "template")
    assert not Campaign.objects.filter(name="Sneaky").exists()


def test_campaign_create_offers_only_the_tenants_templates(tenant, other_tenant, template, owner):
    TemplateFactory(tenant=other_tenant, name="Rival secret")
    page = text(client_for(owner).get(reverse("campaigns:create")))
    assert "Bread day" in page and "Rival secret" not in page


def test_campaign_create_reads_times_in_the_tenants_zone(tenant, template, owner):
    response = client_for(owner).post(
        reverse("campaigns:create"),
        {
            "name": "Winter",
            "template": template.pk,
            "tags": "vip, bread",
            "link_url": "https://acme.example/winter",
            "starts_at": "2030-07-01T09:00",
            "ends_at": "2030-07-02T09:00",
        },
    )
    campaign = Campaign.objects.get(tenant=tenant, name="Winter")
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:detail", args=[campaign.pk])
    # 09:00 in Sydney in July (AEST, UTC+10) is 23:00 UTC the day before.
    assert campaign.starts_at == dt.datetime(2030, 6, 30, 23, 0, tzinfo=dt.UTC)
    assert campaign.tags == ["vip", "bread"]
    assert campaign.status == CampaignStatus.DRAFT


def test_campaign_create_shows_the_services_error(tenant, template, owner):
    response = client_for(owner).post(
        reverse("campaigns:create"),
        {"name": "Backwards", "template": template.pk, "starts_at": "2030-07-02T09:00", "ends_at": "2030-07-01T09:00"},
    )
    assert response.status_code == 400
    assert "The end must come after the start." in field_block(response, "ends_at")


def test_detail_shows_estimate_and_launch_problems(tenant, campaign, owner):
    ContactFactory.create_batch(3, tenant=tenant, consent="express")
    ContactFactory(tenant=tenant)  # no consent: not in the audience
    page = text(client_for(owner).get(reverse("campaigns:detail", args=[campaign.pk])))
    assert "3 contacts" in page
    assert "No active sender may be used: add a sending number." in page
    assert "No price per segment is set" in page


def test_launch_confirm_page_shows_audience_and_cost(tenant, campaign, owner):
    ContactFactory.create_batch(4, tenant=tenant, consent="express")
    ready_to_send(tenant)
    page = text(client_for(owner).get(reverse("campaigns:launch", args=[campaign.pk])))
    assert "4 contacts" in page
    # One segment at 5 cents, four contacts: 20 cents at most.
    assert "$0.20" in page and "$0.05" in page
    assert "Yes, launch" in page


def test_launch_by_admin_creates_jobs_once(tenant, campaign, members, django_capture_on_commit_callbacks):
    contacts = ContactFactory.create_batch(3, tenant=tenant, consent="express")
    ContactFactory(tenant=tenant, consent="withdrawn")
    ready_to_send(tenant)
    client = client_for(members["admin"])
    url = reverse("campaigns:launch", args=[campaign.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)
    assert "Campaign launched" in text(response)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING and campaign.jobs_total == 3
    assert set(SendJob.objects.filter(campaign=campaign).values_list("contact_id", flat=True)) == {
        c.pk for c in contacts
    }

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, follow=True)
    assert "launched already" in text(response)
    assert SendJob.objects.filter(campaign=campaign).count() == 3


def test_staff_cannot_launch(tenant, campaign, members):
    ContactFactory(tenant=tenant, consent="express")
    ready_to_send(tenant)
    response = client_for(members["staff"]).post(reverse("campaigns:launch", args=[campaign.pk]))
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and not SendJob.objects.exists()


def test_launch_is_refused_with_only_an_unregistered_sender_id(
    tenant, campaign, owner, django_capture_on_commit_callbacks
):
    ContactFactory(tenant=tenant, consent="express")
    ready_to_send(
        tenant,
        sender_kwargs={
            "sender": "AcmeBakery",
            "kind": SenderKind.ALPHA,
            "sender_id_status": SenderIdStatus.UNREGISTERED,
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(reverse("campaigns:launch", args=[campaign.pk]), follow=True)
    assert "Not launched: No active sender may be used: AcmeBakery is not on ACMA's Sender ID Register." in text(
        response
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and not SendJob.objects.exists()


def test_preparing_the_audience_refreshes_the_page(tenant, template, members):
    campaign = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    page = text(client_for(members["viewer"]).get(reverse("campaigns:detail", args=[campaign.pk])))
    assert "Queued: a worker is preparing the audience." in page
    assert 'data-refresh-seconds="' in page and "http-equiv" not in page  # static/js/live-refresh.js
    campaign.jobs_created_at = timezone.now()
    campaign.save()
    page = text(client_for(members["viewer"]).get(reverse("campaigns:detail", args=[campaign.pk])))
    assert "Queued" not in page and "data-refresh-seconds" not in page


def test_detail_shows_job_and_gate_counts(running, owner):
    job = unknown_job(running)
    job.gate, job.outcome = "quiet_hours", "defer"
    job.save()
    page = text(client_for(owner).get(reverse("campaigns:detail", args=[running.pk])))
    assert "Unknown: needs a decision" in page
    assert "5. Quiet hours" in page and "Defer" in page
    assert "Mark as sent" in page and "Resend" in page


def test_pause_resume_and_cancel(running, owner):
    client = client_for(owner)
    client.post(reverse("campaigns:pause", args=[running.pk]))
    running.refresh_from_db()
    assert running.status == CampaignStatus.PAUSED
    client.post(reverse("campaigns:resume", args=[running.pk]))
    running.refresh_from_db()
    assert running.status == CampaignStatus.RUNNING
    client.post(reverse("campaigns:cancel", args=[running.pk]))
    running.refresh_from_db()
    assert running.status == CampaignStatus.CANCELLED
    response = client.post(reverse("campaigns:resume", args=[running.pk]), follow=True)
    assert "A cancelled campaign cannot be resumed." in text(response)


def test_unknown_jobs_are_settled_by_a_person(running, owner):
    sent, resend = unknown_job(running), unknown_job(running)
    client = client_for(owner)
    url = reverse("campaigns:job_decide", args=[running.pk, sent.pk])
    assert "Marked as sent." in text(client.post(url, {"decision": "sent"}, follow=True))
    client.post(reverse("campaigns:job_decide", args=[running.pk, resend.pk]), {"decision": "resend"})
    sent.refresh_from_db()
    resend.refresh_from_db()
    assert sent.status == JobStatus.SENT and resend.status == JobStatus.PENDING
    again = client.post(url, {"decision": "resend"}, follow=True)
    assert "Only a job whose outcome is unknown can be settled." in text(again)


def test_campaign_list_counts_jobs_without_a_query_per_row(tenant, template, owner):
    def queries() -> int:
        client = client_for(owner)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("campaigns:list")).status_code == 200
        return len(captured)

    unknown_job(CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING))
    queries()  # warm: the short-domain list is read once a minute per process
    one = queries()
    for _ in range(4):
        unknown_job(CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING))
    assert queries() == one


# --- sending numbers ------------------------------------------------------------------------


def _number_form(account, **changes):
    return {
        "account": account.pk,
        "sender": "0400 000 077",
        "kind": "number",
        "sender_id_status": "n/a",
        "messages_per_second": 5,
        "warmup_started_on": "2026-01-01",
        "warmup_curve": "50, 100, 200",
    } | changes


def test_sending_number_is_added_in_e164(tenant, owner):
    account = ProviderAccountFactory(tenant=tenant)
    response = client_for(owner).post(reverse("campaigns:numbers"), _number_form(account), follow=True)
    number = SendingNumber.objects.get(tenant=tenant)
    assert number.sender == "+61400000077" and number.warmup_curve == [50, 100, 200]
    assert number.messages_per_second == 5 and number.sender_id_status == SenderIdStatus.NOT_APPLICABLE
    assert "+61400000077 added." in text(response)
    assert AuditEvent.objects.filter(tenant=tenant, action="messaging.sending_number_created").exists()


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"sender": "AcmeBakery"}, "sender", "choose the kind “Alphanumeric sender ID”"),
        ({"sender": "12"}, "sender", "is not a phone number"),
        ({"sender": "AcmeBakery", "kind": "alpha"}, "sender_id_status", "ACMA's Sender ID Register"),
        ({"warmup_curve": "50, -1"}, "warmup_curve", "0 or more"),
        ({"warmup_curve": ", ".join(["10"] * 31)}, "warmup_curve", "between 1 and 30 daily caps"),
        ({"warmup_curve": "50, lots"}, "warmup_curve", "'lots' is not a whole number."),
    ],
)
def test_sending_number_refusals_are_shown(tenant, owner, changes, field, error):
    account = ProviderAccountFactory(tenant=tenant)
    response = client_for(owner).post(reverse("campaigns:numbers"), _number_form(account, **changes))
    assert response.status_code == 400
    assert error in field_block(response, field)
    assert not SendingNumber.objects.exists()


def test_sending_number_refuses_another_tenants_account_and_a_duplicate(tenant, other_tenant, owner):
    foreign = ProviderAccountFactory(tenant=other_tenant)
    client = client_for(owner)
    response = client.post(reverse("campaigns:numbers"), _number_form(foreign))
    assert response.status_code == 400 and "Select a valid choice" in field_block(response, "account")
    account = ProviderAccountFactory(tenant=tenant)
    SendingNumberFactory(tenant=tenant, account=account, sender="+61400000077")
    response = client.post(reverse("campaigns:numbers"), _number_form(account))
    assert response.status_code == 400 and "one of this business's senders already" in field_block(response, "sender")


def test_alpha_sender_registered_is_listed_as_usable(tenant, owner):
    account = ProviderAccountFactory(tenant=tenant)
    form = _number_form(account, sender="Acme Bakery", kind="alpha", sender_id_status="registered")
    client_for(owner).post(reverse("campaigns:numbers"), form)
    number = SendingNumber.objects.get(tenant=tenant)
    assert number.sender == "Acme Bakery" and number.can_launch
