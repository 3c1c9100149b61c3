"""GET /api/v1/campaigns/{id}/report/ (issue 18): the report page's stored figures as JSON, money
in cents, for every key of the campaign's tenant and nobody else's."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.tests.factories import CampaignFactory
from reporting.models import CampaignStats
from reporting.tests.test_report import campaign  # noqa: F401 - the hand-counted campaign of the page's tests
from tenants.testing import api_client, assert_api_hidden, assert_api_roles

pytestmark = pytest.mark.django_db


@pytest.fixture
def reported(campaign):  # noqa: F811 - the fixture imported above
    return campaign


def report_url(of) -> str:
    return reverse("api:campaign-report", args=[of.pk])


def test_the_url_is_under_the_campaign():
    assert reverse("api:campaign-report", args=[42]) == "/api/v1/campaigns/42/report/"


def test_every_key_reads_it_and_another_tenants_key_gets_404(reported, api_keys, other_api_key):
    assert_api_roles(report_url(reported), keys=api_keys, allowed={"viewer", "staff", "admin"})
    assert_api_hidden(report_url(reported), key=other_api_key)
    missing = reverse("api:campaign-report", args=[reported.pk + 1000])
    assert api_client(api_keys["viewer"]).get(missing).status_code == 404


def test_the_figures_are_the_report_pages_with_money_in_cents(reported, api_keys):
    response = api_client(api_keys["viewer"]).get(report_url(reported))
    assert response.status_code == 200
    data = response.json()
    stored = CampaignStats.objects.get(campaign=reported)  # computed on the first look, as the page does
    assert data["campaign"] == {"id": reported.pk, "name": "Spring", "status": reported.status}
    assert data["computed_at"] == stored.computed_at.astimezone(reported.tenant.zone).isoformat()
    assert data["audience"] == 10
    assert data["jobs"] == {
        "pending": 0, "sending": 0, "sent": 9, "skipped": 1, "failed": 0, "expired": 0, "cancelled": 0, "unknown": 0,
    }  # fmt: skip
    assert data["gates"] == [{"gate": "dnc", "outcome": "skip", "status": "skipped", "n": 1}]
    assert data["messages"] == {
        "sending": 0, "queued": 0, "sent": 1, "delivered": 6, "undelivered": 1, "failed": 1, "rejected": 0,
        "unknown": 0, "scheduled": 0, "cancelled": 0,
    }  # fmt: skip
    assert {row["code"]: row["n"] for row in data["errors"]} == {"30005": 1, "30007": 1}
    assert (data["handed_off"], data["reported_sent"], data["delivered"], data["finals"]) == (9, 8, 6, 8)
    assert data["clicks"] == {"raw": 6, "human": 4, "human_clickers": 2, "by_reason": {"link_preview": 2}}
    assert (data["opt_outs"], data["replies"]) == (1, 1)
    assert data["rates"]["delivery"] == 6 / 8 and data["rates"]["human_ctr"] == 2 / 6
    assert data["money"] == {
        "estimated_cents": stored.data["money"]["estimated"],
        "reserved_cents": 45,
        "actual_cents": 45,
        "priced_messages": 0,
        "per_delivered_cents": 7.5,
        "per_human_click_cents": 22.5,
    }
    assert [v["index"] for v in data["variants"]] == [0, 1] and set(data["verdicts"]) == {"delivery", "ctr", "opt_outs"}
    assert sum(data["hourly"]["sends"].values()) == 9
    assert data["progress"]["done"] == data["progress"]["total"] == 10


def test_reading_it_costs_the_same_whatever_the_campaigns_size(reported, api_keys):
    client = api_client(api_keys["viewer"])
    client.get(report_url(reported))  # the first look computes and stores the figures
    with CaptureQueriesContext(connection) as small:
        client.get(report_url(reported))
    stored = CampaignStats.objects.get(campaign=reported)
    CampaignStats.objects.filter(pk=stored.pk).update(data={**stored.data, "audience": 10_000_000})
    with CaptureQueriesContext(connection) as large:
        assert client.get(report_url(reported)).json()["audience"] == 10_000_000
    assert len(large) == len(small) <= 6


def test_a_draft_has_a_report_of_zeros(tenant, api_keys):
    draft = CampaignFactory(tenant=tenant)
    data = api_client(api_keys["viewer"]).get(report_url(draft)).json()
    assert data["audience"] == 0 and set(data["jobs"].values()) == {0}
    assert data["money"]["estimated_cents"] is None and data["money"]["per_delivered_cents"] is None
    assert data["progress"]["eta"] is None and data["verdicts"] == {}
