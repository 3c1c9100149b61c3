"""Issue 16: one source per figure. The dashboard's card and its senders table, the campaign page
and its report show the same numbers, and every stored figure says how old it is; the report's
chart draws a campaign sent within one hour, and its variant verdicts are plain sentences."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import time_machine
from celery import Celery
from celery.app.task import Task
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from messaging import events
from messaging.models import Message
from reporting import stats, tasks
from reporting.dashboard import tenant_stats_refresh
from reporting.models import CampaignStats, TenantStats
from reporting.views import hourly_chart
from tenants.testing import client_for

PERTH = dt.timezone(dt.timedelta(hours=8))
WRITE = re.compile(r"\b(INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM)\b", re.IGNORECASE)


def page(client, url) -> str:
    return html.unescape(client.get(url).content.decode())


def figure(name: str, shown: str) -> list[int]:
    """Every count shown for ``name``, in a table row (<th>…<td>) or a list (<dt>…<dd>)."""
    return [int(n) for n in re.findall(rf">{name}</(?:th|dt)><(?:td|dd)[^>]*>(\d+)", shown)]


def callback(message, status, code=""):
    params = {"MessageSid": message.provider_id, "MessageStatus": status}
    if code:
        params["ErrorCode"] = code
    events.status_callback_record(tenant_id=message.tenant_id, params=params)


# --- the dashboard --------------------------------------------------------------------------


@pytest.mark.django_db
def test_sent_today_on_the_card_is_what_the_senders_table_shows(tenant, owner, clock):
    """The card said "Sent today 200" (stored at 16:00) while the senders table said 463."""
    sending_setup(tenant)
    first = sydney_contacts(tenant, 3)
    launched(tenant, contacts=first)
    dispatch.dispatch()
    client = client_for(owner)
    url = reverse("reporting:dashboard")
    assert figure("Sent today", page(client, url)) == [3]  # the dashboard's figures are stored now
    later = sydney_contacts(tenant, 4)
    launched(tenant, contacts=first + later)  # the first three were just messaged: suppressed
    dispatch.dispatch()
    handed_off = Message.objects.filter(tenant=tenant, handed_off_at__isnull=False).exclude(status="rejected").count()
    assert handed_off > 3
    shown = page(client, url)  # within the minute: the stored figures are not stale yet
    senders = [int(n) for n in re.findall(r"<td>(\d+) of \d+ <progress", shown)]
    assert figure("Sent today", shown) == [sum(senders)] == [handed_off]
    assert figure("Sent this month", shown) == [handed_off]


@pytest.mark.django_db
def test_every_stored_dashboard_figure_shows_its_time_in_the_business_zone_and_age(tenant, owner):
    tenant.timezone = "Australia/Perth"
    tenant.save(update_fields=["timezone"])
    computed = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)  # 11:00 in Perth
    sending_setup(tenant)
    with time_machine.travel(computed, tick=False):
        tenant_stats_refresh(tenant)
        running = launched(tenant, contacts=sydney_contacts(tenant, 1))
        stats.campaign_stats_refresh(running)
    with time_machine.travel(computed + dt.timedelta(seconds=50), tick=False):
        shown = page(client_for(owner), reverse("reporting:dashboard"))
    activity = shown.split('id="activity"')[1].split("</section>")[0]
    assert "as of 11:00 (less than a minute ago)" in activity
    progress = shown.split('id="running"')[1].split("</section>")[0]
    assert "0 of 1 jobs done" in progress and "as of 11:00 (less than a minute ago)" in progress


@pytest.mark.django_db
def test_beat_refreshes_the_dashboard_of_a_business_whose_campaign_is_sending(tenant, other_tenant, clock):
    """Nobody reloads the dashboard: its figures still follow the running campaign."""
    sending_setup(tenant)
    launched(tenant, contacts=sydney_contacts(tenant, 2))
    tenant_stats_refresh(tenant)
    tenant_stats_refresh(other_tenant)  # nothing moving there
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    TenantStats.objects.update(computed_at=hour_ago)
    dispatch.dispatch()
    for message in Message.objects.filter(tenant=tenant):
        callback(message, "delivered")
    tasks.refresh_stats()
    ours = TenantStats.objects.get(tenant=tenant)
    assert ours.computed_at > hour_ago and ours.data["delivered_24h"] == 2
    assert TenantStats.objects.get(tenant=other_tenant).computed_at == hour_ago


# --- the campaign page and its report ------------------------------------------------------


@pytest.mark.django_db
def test_the_campaign_page_and_the_report_show_the_same_figures_of_the_same_time(tenant, owner, clock):
    """The page said "Failed 0" while the report said 17, and "nothing delivered yet" after 231."""
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 10), bodies=("Sale {{ link }}",),
                        link_url="https://acme.example/sale")  # fmt: skip
    dispatch.dispatch()
    messages = list(Message.objects.filter(campaign=campaign).order_by("id"))
    for message in messages[:6]:
        callback(message, "delivered")
    callback(messages[6], "failed", "30007")
    callback(messages[7], "failed", "30005")
    client = client_for(owner)
    detail = reverse("campaigns:detail", args=[campaign.pk])
    report = reverse("reporting:campaign_report", args=[campaign.pk])
    shown_report = page(client, report)  # computes and stores the figures
    shown_page = page(client, detail)
    assert figure("Failed", shown_report) == [2] and figure("Delivered", shown_report) == [6]
    assert figure("Failed", shown_page) == [2] and figure("Delivered", shown_page) == [6]
    assert "nothing delivered yet" not in shown_page
    # More receipts arrive: until the figures are refreshed both pages show the stored ones,
    # each saying of when.
    for message in messages[8:]:
        callback(message, "delivered")
    shown_page, shown_report = page(client, detail), page(client, report)
    assert figure("Delivered", shown_page) == figure("Delivered", shown_report) == [6]
    age = re.search(r"as of \d\d:\d\d \([^)]*\)", shown_page)
    assert age, "the campaign page says how old its figures are"
    tasks.refresh_stats()  # beat, 30 s later
    shown_page, shown_report = page(client, detail), page(client, report)
    assert figure("Delivered", shown_page) == figure("Delivered", shown_report) == [8]
    assert figure("Failed", shown_page) == figure("Failed", shown_report) == [2]


@pytest.mark.django_db
def test_the_campaign_pages_job_table_does_not_call_a_handed_off_job_failed(tenant, owner, clock):
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 2))
    dispatch.dispatch()
    for message in Message.objects.filter(campaign=campaign):
        callback(message, "failed", "30005")
    tasks.refresh_stats()  # beat: the page only reads the stored figures
    shown = page(client_for(owner), reverse("campaigns:detail", args=[campaign.pk]))
    jobs = shown.split('id="jobs"')[1].split("</section>")[0]
    assert ">Handed to the provider</th><td>2<" in jobs and ">Failed<" not in jobs
    assert figure("Failed", shown) == [2]  # the carriers' verdict, as the report has it


@pytest.mark.django_db
def test_rendering_the_campaign_page_writes_nothing_and_queues_nothing(tenant, owner, clock, monkeypatch):
    """Issue 17, writes outside services: the results card computed the stored figures on the
    first view and queued a refresh when they were stale, while the page rendered. It reads the
    stored figures and says how old they are; beat's sweep (reporting.refresh_stats) refreshes them."""
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 2)
    stale = launched(tenant, contacts=contacts)
    never = launched(tenant, contacts=contacts)
    dispatch.dispatch()
    stats.campaign_stats_refresh(stale)
    CampaignStats.objects.filter(campaign=stale).update(computed_at=timezone.now() - dt.timedelta(hours=1))
    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda task, *args, **kwargs: sent.append(task.name))
    monkeypatch.setattr(Celery, "send_task", lambda app, name, *args, **kwargs: sent.append(name))
    client = client_for(owner)
    for campaign in (stale, never):
        with CaptureQueriesContext(connection) as captured:
            shown = page(client, reverse("campaigns:detail", args=[campaign.pk]))
        writes = [query["sql"] for query in captured if WRITE.search(query["sql"])]
        assert (writes, sent) == ([], []), campaign.pk
        assert 'id="responses"' in shown
    assert "as of" in page(client, reverse("campaigns:detail", args=[stale.pk]))
    assert "not computed yet" in shown and not CampaignStats.objects.filter(campaign=never).exists()


# --- the chart and the verdicts ------------------------------------------------------------


def test_a_campaign_sent_within_one_hour_draws_a_bar_per_series_under_one_label():
    hour = "2026-11-25T03:00:00+00:00"
    svg = hourly_chart({"sends": {hour: 9}, "deliveries": {hour: 6}, "clicks": {hour: 2}, "opt_outs": {}}, PERTH)
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"><title>([^<]*)</title>', svg)
    assert bars == [("#2563eb", "Sent: 9"), ("#16a34a", "Delivered: 6"), ("#9333ea", "Human clicks: 2"),
                    ("#dc2626", "Opt-outs: 0")]  # fmt: skip
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert heights[0] > heights[1] > heights[2] > 0 == heights[3]  # drawn to scale; nothing is nothing
    labels = re.findall(r"\d\d \w{3} \d\d:\d\d[^<]*", svg)
    assert labels == ["25 Nov 11:00–12:00"]  # one label, the hour in the business's zone


def test_a_short_campaign_marks_each_hour_on_its_lines():
    svg = hourly_chart({"sends": {"2026-11-25T03:00:00+00:00": 5, "2026-11-25T04:00:00+00:00": 1}}, PERTH)
    assert svg.count("<circle") == 2 * 4  # two hours, four series
    assert re.findall(r"\d\d \w{3} \d\d:\d\d", svg.split("</circle>")[-1]) == ["25 Nov 11:00", "25 Nov 12:00"]


def rows(*counts):
    """Variant rows as stored: (final reports, delivered, people who clicked, people who opted out)."""
    return [
        {"index": n, "finals": finals, "delivered": delivered, "clickers": clickers, "opt_outs": opt_outs}
        for n, (finals, delivered, clickers, opt_outs) in enumerate(counts)
    ]


def test_verdicts_are_sentences_a_business_owner_reads():
    said = stats.variant_verdicts(rows((160, 150, 3, 0), (160, 150, 6, 1)))
    assert said["ctr"]["sentence"] == (
        "Clicks: Variant 2 got more clicks (4.0% vs 2.0%), but the difference could still be chance."
    )
    assert said["opt_outs"]["sentence"] == (
        "Opt-outs: Variant 1 had fewer opt-outs (0.0% vs 0.7%), but the difference could still be chance."
    )
    assert said["delivery"]["sentence"] == "Delivery: no difference yet (93.8% each)."
    real = stats.variant_verdicts(rows((1000, 1000, 20, 0), (1000, 1000, 41, 0)))["ctr"]
    assert real["sentence"] == "Clicks: Variant 2 got more clicks (4.1% vs 2.0%), a difference too large to be chance."


def test_no_clicks_on_either_variant_is_no_difference_not_a_leader():
    """It read "ctr: variant 1 leads, but the no difference." at 0.0% vs 0.0%."""
    said = stats.variant_verdicts(rows((120, 120, 0, 0), (130, 130, 0, 0)))
    assert said["ctr"]["sentence"] == "Clicks: no difference yet (0.0% each)."
    assert said["ctr"]["best"] is not None and not said["ctr"]["meaningful"]


def test_below_the_minimum_sample_the_report_says_how_many_more_are_needed():
    said = stats.variant_verdicts(rows((45, 40, 0, 0), (50, 47, 0, 0)))
    assert stats.MIN_PER_VARIANT == 100
    assert said["ctr"]["sentence"] == (
        "Clicks: not enough data yet (60 more delivered messages per variant needed; "
        "variants are compared from 100 each)."
    )
    assert said["delivery"]["needed"] == 55 and said["delivery"]["sentence"].startswith(
        "Delivery: not enough data yet (55 more messages with a delivery report per variant needed"
    )
    assert stats.variant_verdicts(rows((45, 40, 0, 0))) == {}  # one variant: nothing to compare


@pytest.mark.django_db
def test_the_report_page_shows_the_sentences(tenant, owner, clock):
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 6), bodies=("A {{ link }}", "B {{ link }}"),
                        link_url="https://acme.example/sale")  # fmt: skip
    dispatch.dispatch()
    for message in Message.objects.filter(campaign=campaign):
        callback(message, "delivered")
    shown = page(client_for(owner), reverse("reporting:campaign_report", args=[campaign.pk]))
    verdicts = shown.split('id="verdicts"')[1].split("</ul>")[0]
    assert "Clicks: not enough data yet (97 more delivered messages per variant needed" in verdicts
    assert "leads" not in verdicts and "ctr" not in verdicts
    assert "<rect" in shown  # sent within the hour: drawn as bars
