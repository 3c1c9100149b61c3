"""The campaign report: every figure against a hand-counted campaign, the page, the CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from contacts.models import DoNotContact
from contacts.services import ContactAction
from links import clicks
from links.models import ShortLink
from messaging import events, inbound
from messaging.models import Message
from reporting import stats
from reporting.models import CampaignStats
from tenants.models import AuditEvent
from tenants.testing import assert_roles, client_for

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 Version/18.6 Mobile Safari/604.1"
PREVIEW = "WhatsApp/2.23.20.0"


def callback(message, status, code=""):
    params = {"MessageSid": message.provider_id, "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    events.status_callback_record(tenant_id=message.tenant_id, params=params)


def click(client, message, agent):
    token = ShortLink.objects.filter(message=message).values_list("token", flat=True).first()
    assert client.get(f"/s/{token}", HTTP_USER_AGENT=agent).status_code == 302


@pytest.fixture
def campaign(tenant, clock, client, settings):
    """Ten contacts, two variants; hand-counted outcomes below."""
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 10)
    campaign = launched(
        tenant,
        contacts=contacts,
        bodies=("A: sale {{ link }}", "B: big sale {{ link }}"),
        link_url="https://acme.example/sale",
    )
    DoNotContact.objects.create(tenant=tenant, phone_e164=contacts[9].phone_e164, reason="manual")  # skipped
    dispatch.dispatch()
    messages = list(Message.objects.filter(campaign=campaign).order_by("contact_id"))
    assert len(messages) == 9
    # Out of order and twice: delivered before sent, and a repeated delivered.
    for message in messages[:6]:
        callback(message, "delivered")
        callback(message, "sent")
        callback(message, "delivered")
    callback(messages[6], "undelivered", "30005")
    callback(messages[7], "failed", "30007")
    callback(messages[8], "sent")
    for message in messages[:6]:
        Message.objects.filter(pk=message.pk).update(delivered_at=timezone.now() - dt.timedelta(minutes=10))
    for _ in range(3):
        click(client, messages[0], IPHONE)  # one person, three clicks
    click(client, messages[1], PREVIEW)  # a preview only
    click(client, messages[2], PREVIEW)
    click(client, messages[2], IPHONE)  # a preview, then the person
    clicks.flush()
    number = messages[0].sending_number
    for message, body in ((messages[3], "STOP"), (messages[4], "what time?")):
        inbound.inbound_receive(
            tenant=tenant,
            params={
                "MessageSid": f"SMin{message.pk:030d}",
                "From": message.to_phone,
                "To": number.sender,
                "Body": body,
            },
        )
    return campaign


@pytest.mark.django_db
def test_every_figure_matches_the_hand_count(campaign):
    data = stats.campaign_stats_compute(campaign)
    assert data["audience"] == 10
    assert data["jobs"] == {"sent": 9, "skipped": 1}
    assert [(g["gate"], g["n"]) for g in data["gates"]] == [("dnc", 1)]
    assert data["handed_off"] == 9 and data["reported_sent"] == 8
    assert data["messages"] == {"delivered": 6, "undelivered": 1, "failed": 1, "sent": 1}
    assert (data["delivered"], data["finals"]) == (6, 8)
    assert {e["code"]: e["n"] for e in data["errors"]} == {"30005": 1, "30007": 1}
    assert data["clicks"] == {"raw": 6, "human": 4, "human_clickers": 2, "by_reason": {"link_preview": 2}}
    assert (data["opt_outs"], data["replies"]) == (1, 1)
    assert data["rates"]["delivery"] == 6 / 8 and data["rates"]["human_ctr"] == 2 / 6
    assert data["rates"]["opt_out"] == 1 / 6
    money = data["money"]
    assert money["reserved"] == money["actual"] == 9 * 5 and money["estimated"] is not None
    assert money["per_delivered"] == round(45 / 6, 2) and money["per_human_click"] == 22.5
    variants = {v["index"]: v for v in data["variants"]}
    assert sum(v["jobs"] for v in variants.values()) == 10 and sum(v["sent"] for v in variants.values()) == 9
    assert sum(v["delivered"] for v in variants.values()) == 6
    assert sum(v["clickers"] for v in variants.values()) == 2 and sum(v["opt_outs"] for v in variants.values()) == 1
    assert all(not verdict["meaningful"] for verdict in data["verdicts"].values())  # a handful of messages
    hourly = data["hourly"]
    assert sum(hourly["sends"].values()) == 9 and sum(hourly["clicks"].values()) == 4
    assert sum(hourly["opt_outs"].values()) == 1
    assert data["progress"]["done"] == 10 and data["progress"]["total"] == 10


def test_compare_says_when_a_difference_means_something():
    assert stats.compare((900, 1000), (800, 1000))["meaningful"]
    assert not stats.compare((510, 1000), (500, 1000))["meaningful"]
    # Below the minimum sample nothing is tested, and the report says how many more are needed.
    assert stats.compare((5, 10), (1, 40)) == {"z": None, "meaningful": False, "enough": False, "needed": 90}


@pytest.mark.django_db
def test_the_page_reads_stored_figures_in_a_fixed_number_of_queries(campaign, owner):
    client = client_for(owner)
    url = reverse("reporting:campaign_report", args=[campaign.pk])
    shown = client.get(url).content.decode()
    assert CampaignStats.objects.filter(campaign=campaign).exists()  # computed on first view
    assert "75.0%" in shown and "33.3%" in shown and "Filtered by the carrier as content" in shown
    assert "<svg" in shown and 'id="variants"' in shown
    with CaptureQueriesContext(connection) as small:
        client.get(url)
    # Ten times the rows behind the figures: the page still reads one stored row.
    CampaignStats.objects.filter(campaign=campaign).update(
        data={**CampaignStats.objects.get(campaign=campaign).data, "audience": 10_000_000}
    )
    with CaptureQueriesContext(connection) as large:
        assert "10,000,000" in client.get(url).content.decode()
    assert len(large) == len(small) <= 12


@pytest.mark.django_db
def test_report_roles_and_tenant_isolation(campaign, members, other_owner):
    url = reverse("reporting:campaign_report", args=[campaign.pk])
    assert_roles(url, members=members, allowed={"viewer", "staff", "admin", "owner"})
    assert client_for(other_owner).get(url).status_code == 404
    export = reverse("reporting:campaign_jobs_csv", args=[campaign.pk])
    assert_roles(export, members=members, allowed={"admin", "owner"})
    assert client_for(other_owner).get(export).status_code == 404


@pytest.mark.django_db
def test_jobs_export_has_every_job_with_clicks_and_safe_cells(campaign, owner):
    response = client_for(owner).get(reverse("reporting:campaign_jobs_csv", args=[campaign.pk]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 10
    assert all(row["phone"].startswith("+61") for row in rows)  # a phone number is no formula: kept as it is
    assert sorted(int(row["human_clicks"]) for row in rows)[-2:] == [1, 3]
    assert sum(int(row["all_fetches"]) for row in rows) == 6
    assert {row["job_status"] for row in rows} == {"sent", "skipped"}
    event = AuditEvent.objects.get(action=ContactAction.EXPORTED)
    assert (event.tenant, event.actor, event.target) == (campaign.tenant, owner, f"campaign {campaign.pk} jobs")


@pytest.mark.django_db
def test_the_human_ctr_never_exceeds_100_percent(campaign):
    """A click proves a delivery the carrier never reported: two clickers, one receipt."""
    messages = list(Message.objects.filter(campaign=campaign).order_by("contact_id"))
    Message.objects.filter(campaign=campaign).exclude(pk=messages[0].pk).update(status="sent")
    data = stats.campaign_stats_compute(campaign)
    assert data["delivered"] == 1 and data["clicks"]["human_clickers"] == 2
    assert data["rates"]["human_ctr"] == 1.0
    assert all(row["ctr"] is None or row["ctr"] <= 1.0 for row in data["variants"])


def test_compare_survives_more_hits_than_trials():
    """Clicks without delivery receipts: 145 clickers of 140 'delivered' must not break the test."""
    verdict = stats.compare((145, 140), (139, 140))  # pooled 284/280 > 1 unless clamped
    assert verdict["z"] is not None and not verdict["meaningful"]


@pytest.mark.django_db
def test_hourly_buckets_are_utc_hours_whatever_zone_is_active(campaign):
    with timezone.override("Australia/Adelaide"):  # +10:30: local hours start on the half hour
        data = stats.campaign_stats_compute(campaign)
    hours = [dt.datetime.fromisoformat(h) for series in data["hourly"].values() for h in series]
    assert hours and all(h.utcoffset() == dt.timedelta(0) and h.minute == 0 for h in hours)


def test_the_chart_draws_quiet_hours_as_zero():
    from reporting.views import hourly_chart

    svg = hourly_chart({"sends": {"2026-11-25T00:00:00+00:00": 5, "2026-11-25T05:00:00+00:00": 3}},
                       dt.timezone(dt.timedelta(hours=10, minutes=30)))  # fmt: skip
    sends = svg.split('stroke="#2563eb"', 1)[1].split('points="', 1)[1].split('"', 1)[0]
    assert len(sends.split()) == 6  # 00:00 … 05:00, the four empty hours at zero
    assert "25 Nov 10:30" in svg  # labelled in the zone, on its half hour


def test_the_finish_estimate_stops_for_quiet_hours(tenant):
    # 20:50 in Sydney with an hour's work at 1/s: ten minutes tonight, fifty from 09:00 tomorrow.
    start = dt.datetime(2026, 11, 25, 9, 50, tzinfo=dt.UTC)
    eta = stats.finish_estimate(start, 3600, 1.0, tenant)
    assert eta.astimezone(tenant.zone).strftime("%d %H:%M") == "26 09:50"
    assert stats.finish_estimate(start, 60, 1.0, tenant) == start + dt.timedelta(seconds=60)
    assert stats.finish_estimate(start, 60, 0.0, tenant) is None


@pytest.mark.django_db
def test_a_finished_campaigns_report_refreshes_when_viewed(campaign, owner, monkeypatch):
    from reporting import views

    url = reverse("reporting:campaign_report", args=[campaign.pk])
    client = client_for(owner)
    client.get(url)
    asked = []
    monkeypatch.setattr(views.refresh_campaign, "delay", lambda pk: asked.append(pk))
    campaign.status = "completed"
    campaign.save(update_fields=["status"])
    client.get(url)
    assert asked == []  # fresh
    CampaignStats.objects.filter(campaign=campaign).update(computed_at=timezone.now() - dt.timedelta(minutes=11))
    client.get(url)
    assert asked == [campaign.pk]  # a late click or opt-out reaches the report


@pytest.mark.django_db
def test_the_export_charges_nothing_for_a_rejected_message(campaign, owner):
    message = Message.objects.filter(campaign=campaign).order_by("contact_id").first()
    Message.objects.filter(pk=message.pk).update(status="rejected")
    response = client_for(owner).get(reverse("reporting:campaign_jobs_csv", args=[campaign.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    costs = {row["message_status"]: row["cost_cents"] for row in rows}
    assert costs["rejected"] == "" and costs["delivered"] == "5" and costs[""] == ""


@pytest.mark.django_db
def test_gate_decisions_survive_a_job_that_went_later(tenant, clock):
    """Deferred by quiet hours at night, sent in the morning: the deferral stays in the funnel."""
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 3))
    with time_machine.travel(dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.UTC), tick=False):  # 22:00 Sydney
        dispatch.dispatch()
    with time_machine.travel(dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.UTC), tick=True):  # 10:00 next day
        dispatch.dispatch()
    assert Message.objects.filter(campaign=campaign).count() == 3
    data = stats.campaign_stats_compute(campaign)
    assert data["gates"] == []  # no job is held any more
    assert data["decisions"] == [{"gate": "quiet_hours", "outcome": "defer", "n": 3}]


@pytest.mark.django_db
def test_money_uses_the_providers_price_where_known(campaign):
    from messaging.services import message_price_reconcile

    first = Message.objects.filter(campaign=campaign).order_by("contact_id").first()
    message_price_reconcile(message=first, price_cents=7)
    money = stats.campaign_stats_compute(campaign)["money"]
    assert money["estimated"] == 10 * 5  # ten contacts, one segment at 5¢, at launch
    assert (money["reserved"], money["actual"], money["priced"]) == (45, 47, 1)
    assert money["per_delivered"] == round(47 / 6, 2) and money["per_human_click"] == 23.5


@pytest.mark.django_db
def test_computing_the_figures_takes_the_same_queries_at_any_size(campaign, other_tenant):
    with CaptureQueriesContext(connection) as small:
        stats.campaign_stats_compute(campaign)
    sending_setup(other_tenant)
    bigger = launched(other_tenant, contacts=sydney_contacts(other_tenant, 40), bodies=("A {{ link }}", "B {{ link }}"),
                      link_url="https://acme.example/x")  # fmt: skip
    dispatch.dispatch()
    assert Message.objects.filter(campaign=bigger).count() == 40
    with CaptureQueriesContext(connection) as large:
        stats.campaign_stats_compute(bigger)
    assert len(large) == len(small)


@pytest.mark.django_db
def test_an_older_computation_never_overwrites_a_newer_one(campaign):
    stored = stats.campaign_stats_refresh(campaign)
    later = stored.computed_at + dt.timedelta(minutes=1)
    CampaignStats.objects.filter(pk=stored.pk).update(computed_at=later, data={"audience": -1})
    with time_machine.travel(stored.computed_at + dt.timedelta(seconds=30), tick=False):
        kept = stats.campaign_stats_refresh(campaign)  # started before the stored one
    assert kept.computed_at == later and kept.data == {"audience": -1}
    with time_machine.travel(later + dt.timedelta(seconds=30), tick=False):
        fresh = stats.campaign_stats_refresh(campaign)  # started after it: replaces it
    assert fresh.data["audience"] == 10
