"""/api/v1/campaigns/ (issue 18): who may do what, other tenants' 404, the bodies, the launch
refusals (400) and wrong-state changes (409) the services decide, Idempotency-Key, filters and
a list whose query count does not grow with its rows."""

import datetime as dt
from itertools import count

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob
from campaigns.services import CampaignAction
from campaigns.tests.factories import CampaignFactory, PriceFactory, SendingNumberFactory, TemplateFactory
from contacts.tests.factories import ContactFactory
from tenants.models import AuditEvent
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

pytestmark = pytest.mark.django_db

LIST = reverse("api:campaign-list")
EVERY_KEY = {"viewer", "staff", "admin"}
_n = count(1)


def detail(campaign, action: str = "") -> str:
    return reverse(f"api:campaign-{action or 'detail'}", args=[campaign.pk])


def ready_to_send(tenant, contacts: int = 2) -> None:
    SendingNumberFactory(tenant=tenant)
    PriceFactory(tenant=tenant)
    ContactFactory.create_batch(contacts, tenant=tenant, consent="express")


@pytest.fixture
def template(tenant):
    return TemplateFactory(tenant=tenant, name="Bread day")


@pytest.fixture
def draft(tenant, template):
    return CampaignFactory(tenant=tenant, template=template, name="Spring")


def a_draft(tenant, template):
    return lambda: CampaignFactory(tenant=tenant, template=template)


def new_draft_body(template) -> dict:
    return {"name": f"Draft {next(_n)}", "template": template.pk}


# --- roles and tenancy -----------------------------------------------------------------------


def test_every_key_reads_campaigns_and_another_tenants_key_gets_404(draft, api_keys, other_api_key):
    assert_api_roles(LIST, keys=api_keys, allowed=EVERY_KEY)
    assert_api_roles(detail(draft), keys=api_keys, allowed=EVERY_KEY)
    assert_api_hidden(detail(draft), key=other_api_key)
    assert api_client(other_api_key).get(LIST).json()["results"] == []
    assert api_client(api_keys["viewer"]).get(reverse("api:campaign-detail", args=[10**20])).status_code == 404


def test_staff_and_admin_keys_draft_campaigns(template, api_keys):
    assert_api_roles(
        LIST, keys=api_keys, allowed={"staff", "admin"}, method="post", data=lambda: new_draft_body(template)
    )
    assert Campaign.objects.count() == 2


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("launch", CampaignStatus.DRAFT),
        ("pause", CampaignStatus.RUNNING),
        ("resume", CampaignStatus.PAUSED),
        ("cancel", CampaignStatus.SCHEDULED),
    ],
)
def test_only_admin_keys_change_a_campaigns_state(tenant, template, api_keys, other_api_key, action, status):
    ready_to_send(tenant)

    def url():
        return detail(CampaignFactory(tenant=tenant, template=template, status=status), action)

    assert_api_roles(url, keys=api_keys, allowed={"admin"}, method="post")
    campaign = CampaignFactory(tenant=tenant, template=template, status=status)
    assert_api_hidden(detail(campaign, action), key=other_api_key, method="post")
    campaign.refresh_from_db()
    assert campaign.status == status


# --- create ----------------------------------------------------------------------------------


def test_create_makes_a_draft_through_the_service_and_answers_it(tenant, template, api_keys, clock):
    ContactFactory(tenant=tenant, consent="express", tags=["vip"])
    ContactFactory(tenant=tenant, consent="express", tags=["other"])
    body = {
        "name": "Christmas pre-orders",
        "template": template.pk,
        "tags": ["VIP"],
        "link_url": "https://acme.example/christmas",
        "starts_at": "2026-12-01T09:00:00",  # no offset: the tenant's zone, as its pages read it
        "ends_at": "2026-12-01T20:00:00+11:00",
    }
    response = api_client(api_keys["staff"]).post(LIST, body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    campaign = Campaign.objects.get(pk=data["id"])
    assert (campaign.name, campaign.template, campaign.tags, campaign.status) == (
        "Christmas pre-orders",
        template,
        ["VIP"],
        CampaignStatus.DRAFT,
    )
    assert campaign.starts_at == dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)  # 09:00 in Sydney (+11)
    assert data["starts_at"] == "2026-12-01T09:00:00+11:00" and data["ends_at"] == "2026-12-01T20:00:00+11:00"
    assert data["status"] == "draft" and data["template_name"] == "Bread day" and data["tags"] == ["VIP"]
    assert data["jobs"] == dict.fromkeys(JobStatus.values, 0) and data["launched_at"] is None
    assert data["estimate"]["targeted"] == 1  # the tags pick one contact, case aside
    assert data["launch_problems"] == [
        "No active sender may be used: add a sending number.",
        "No price per segment is set, so the budget cannot be enforced.",
    ]
    event = AuditEvent.objects.get(action=CampaignAction.CAMPAIGN_CREATED)
    assert (event.tenant, event.target) == (tenant, "Christmas pre-orders")


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": ""}, "name", "may not be blank"),
        ({"template": None}, "template", "may not be null"),
        ({"tags": ["vip, new"]}, "tags", "cannot contain"),
        ({"link_url": "not a url"}, "link_url", "valid URL"),
        ({"starts_at": "tomorrow"}, "starts_at", "Datetime has wrong format"),
        # The service's rules, in the service's words:
        ({"starts_at": "2026-12-02T09:00:00+11:00", "ends_at": "2026-12-01T09:00:00+11:00"}, "ends_at", "after"),
    ],
)
def test_a_bad_draft_is_a_400_naming_the_field(template, api_keys, change, field, words):
    response = api_client(api_keys["staff"]).post(LIST, {**new_draft_body(template), **change}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error" and list(body["fields"]) == [field]
    assert words in body["fields"][field][0]
    assert not Campaign.objects.exists()


def test_another_tenants_template_is_as_unknown_as_a_missing_one(other_tenant, api_keys):
    theirs = TemplateFactory(tenant=other_tenant)
    response = api_client(api_keys["staff"]).post(LIST, {"name": "Mine", "template": theirs.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"template": [f'Invalid pk "{theirs.pk}" - object does not exist.']}


def test_a_link_template_needs_a_link_url_as_the_page_says(tenant, api_keys):
    template = TemplateFactory(tenant=tenant, bodies=["Shop now: {{ link }}"])
    response = api_client(api_keys["staff"]).post(LIST, {"name": "X", "template": template.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["fields"]["link_url"][0].startswith("The template uses {{ link }}")


def test_create_with_an_idempotency_key_makes_one_draft(template, api_keys):
    client = api_client(api_keys["staff"])
    body = new_draft_body(template)
    first = client.post(LIST, body, format="json", HTTP_IDEMPOTENCY_KEY="draft-1")
    again = client.post(LIST, body, format="json", HTTP_IDEMPOTENCY_KEY="draft-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Campaign.objects.count() == 1
    other = client.post(LIST, {**body, "name": "Another"}, format="json", HTTP_IDEMPOTENCY_KEY="draft-1")
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert Campaign.objects.count() == 1


# --- retrieve --------------------------------------------------------------------------------


def test_retrieve_shows_what_the_page_shows(tenant, draft, api_keys):
    ready_to_send(tenant, contacts=3)
    data = api_client(api_keys["viewer"]).get(detail(draft)).json()
    assert (data["id"], data["name"], data["status"]) == (draft.pk, "Spring", "draft")
    assert data["launch_problems"] == [] and data["responses"] is None
    estimate = data["estimate"]
    assert (estimate["audience"], estimate["cents_per_segment"], estimate["worst_segments"]) == (3, 5, 1)
    assert estimate["cost_cents"] == 15 and estimate["variants"][0]["encoding"] == "GSM-7"


# --- launch, pause, resume, cancel -----------------------------------------------------------


def test_launch_runs_the_service_and_answers_the_running_campaign(
    tenant, draft, api_keys, django_capture_on_commit_callbacks
):
    ready_to_send(tenant, contacts=3)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(api_keys["admin"]).post(detail(draft, "launch"))
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["status"] == "running" and data["launched_at"] is not None and data["launch_problems"] == []
    assert data["estimated_cost_cents"] == 15 and data["responses"] == {
        "content_filtered": 0,
        "opt_outs": 0,
        "replies": 0,
    }
    assert SendJob.objects.filter(campaign=draft).count() == 3
    # Launched already: unchanged, as the page says "nothing changed".
    again = api_client(api_keys["admin"]).post(detail(draft, "launch"))
    assert again.status_code == 200 and again.json()["status"] == "running"
    assert AuditEvent.objects.filter(action=CampaignAction.CAMPAIGN_LAUNCHED).count() == 1


def test_a_launch_the_service_refuses_is_a_400_listing_every_problem(tenant, api_keys):
    template = TemplateFactory(tenant=tenant, bodies=["Shop now: {{ link }}"])
    campaign = CampaignFactory(tenant=tenant, template=template)
    response = api_client(api_keys["admin"]).post(detail(campaign, "launch"))
    assert response.status_code == 400
    assert response.json() == {
        "code": "validation_error",
        "message": "No active sender may be used: add a sending number. "
        "No price per segment is set, so the budget cannot be enforced.",
        "fields": {
            "link_url": ["The template uses {{ link }}: give the Link URL it points to (or remove {{ link }})."]
        },
    }
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.launched_at is None


@pytest.mark.parametrize(
    ("status", "action", "message"),
    [
        (CampaignStatus.CANCELLED, "resume", "A cancelled campaign cannot be resumed."),
        (CampaignStatus.COMPLETED, "pause", "A completed campaign cannot be paused."),
        (CampaignStatus.COMPLETED, "cancel", "A completed campaign cannot be cancelled."),
        (CampaignStatus.DRAFT, "pause", "A draft campaign cannot be paused."),
        (CampaignStatus.CANCELLED, "launch", "A cancelled campaign cannot be launched."),
    ],
)
def test_a_change_the_state_does_not_allow_is_a_409_naming_the_state(
    tenant, template, api_keys, status, action, message
):
    ready_to_send(tenant)
    campaign = CampaignFactory(tenant=tenant, template=template, status=status)
    response = api_client(api_keys["admin"]).post(detail(campaign, action))
    assert response.status_code == 409
    assert response.json() == {"code": "conflict", "message": message, "fields": {}}
    campaign.refresh_from_db()
    assert campaign.status == status


def test_pause_resume_and_cancel_move_the_campaign(tenant, template, api_keys):
    campaign = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    client = api_client(api_keys["admin"])
    assert client.post(detail(campaign, "pause")).json()["status"] == "paused"
    assert client.post(detail(campaign, "resume")).json()["status"] == "running"
    data = client.post(detail(campaign, "cancel")).json()
    assert data["status"] == "cancelled" and data["completed_at"] is not None


def test_a_state_change_with_an_idempotency_key_happens_once(tenant, template, api_keys):
    campaign = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    client = api_client(api_keys["admin"])
    first = client.post(detail(campaign, "pause"), HTTP_IDEMPOTENCY_KEY="pause-1")
    client.post(detail(campaign, "resume"))
    again = client.post(detail(campaign, "pause"), HTTP_IDEMPOTENCY_KEY="pause-1")
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING  # the replay paused nothing again
    assert AuditEvent.objects.filter(action=CampaignAction.CAMPAIGN_PAUSED).count() == 1
    reused = client.post(detail(campaign, "cancel"), HTTP_IDEMPOTENCY_KEY="pause-1")
    assert reused.status_code == 422


# --- list ------------------------------------------------------------------------------------


def test_list_filters_by_status_and_by_created_or_updated_since(tenant, template, api_keys, time_machine):
    time_machine.move_to(dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC), tick=False)
    old = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
    time_machine.move_to(dt.datetime(2026, 11, 10, 0, 0, tzinfo=dt.UTC), tick=False)
    new = CampaignFactory(tenant=tenant, template=template)
    time_machine.move_to(dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC), tick=False)
    Campaign.objects.filter(pk=old.pk).update(status=CampaignStatus.COMPLETED)  # as the dispatcher completes
    client = api_client(api_keys["viewer"])

    def ids(query: str) -> list[int]:
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [new.pk, old.pk]
    assert ids("status=completed") == [old.pk] and ids("status=draft") == [new.pk]
    assert ids("created_since=2026-11-05") == [new.pk]
    assert ids("created_since=2026-11-10T11:00:00%2B11:00") == [new.pk]  # 00:00 UTC is 11:00 in Sydney
    assert ids("created_since=2026-11-10T11:00:01+11:00") == []  # an unencoded + arrives as a space
    assert ids("updated_since=2026-11-15T00:00:00Z") == [old.pk]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=finished", "status"),
        ("created_since=yesterday", "created_since"),
        ("updated_since=2026-13-01", "updated_since"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(api_keys, query, parameter):
    response = api_client(api_keys["viewer"]).get(f"{LIST}?{query}")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [parameter]


def test_the_list_gives_job_counts_in_a_fixed_number_of_queries(tenant, template, api_keys):
    def add_campaign_with_jobs():
        campaign = CampaignFactory(tenant=tenant, template=template, status=CampaignStatus.RUNNING)
        for status in (JobStatus.SENT, JobStatus.SENT, JobStatus.PENDING):
            SendJob.objects.create(
                tenant=tenant,
                campaign=campaign,
                contact=ContactFactory(tenant=tenant),
                status=status,
                next_attempt_at=timezone.now(),
            )

    client = api_client(api_keys["viewer"])
    add_campaign_with_jobs()
    client.get(LIST)  # the key's first use records it: not the list's cost
    with CaptureQueriesContext(connection) as one:
        client.get(LIST)
    for _ in range(4):
        add_campaign_with_jobs()
    with CaptureQueriesContext(connection) as five:
        rows = client.get(LIST).json()["results"]
    assert len(rows) == 5 and all(row["jobs"]["sent"] == 2 and row["jobs"]["pending"] == 1 for row in rows)
    assert len(five) == len(one)
