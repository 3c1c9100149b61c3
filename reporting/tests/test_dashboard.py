"""The tenant dashboard: spend against caps, the last 24 hours, the queue, senders and warnings."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignStatus, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory, SendingNumberFactory
from contacts.tests.factories import ContactFactory
from messaging.models import Message, MessageKind, MessageStatus, SenderDailyCount, Spend
from messaging.services import local_periods
from reporting import tasks
from reporting.dashboard import dashboard, tenant_stats_refresh
from reporting.models import TenantStats
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def messages(tenant, number, *, delivered, failed, opt_outs=0):
    contact = ContactFactory(tenant=tenant)
    now = timezone.now()
    for status, n in ((MessageStatus.DELIVERED, delivered), (MessageStatus.UNDELIVERED, failed)):
        for _ in range(n):
            Message.objects.create(tenant=tenant, contact=contact, sending_number=number, to_phone=contact.phone_e164,
                                   from_sender=number.sender, body="x", status=status, handed_off_at=now)  # fmt: skip
    for n in range(opt_outs):
        for _ in range(2):  # each person texts STOP twice: counted once
            Message.objects.create(tenant=tenant, kind=MessageKind.INBOUND, status=MessageStatus.RECEIVED,
                                   to_phone=number.sender, from_sender=f"+6141100{n:04d}", body="STOP",
                                   intent="opt_out")  # fmt: skip


def test_figures_and_warnings(tenant):
    today = local_periods(tenant, timezone.now())[0]  # the business's day, not the machine's
    number = SendingNumberFactory(tenant=tenant, warmup_started_on=today - dt.timedelta(days=3))
    SendingNumberFactory(tenant=tenant, kind="alpha", sender="AcmeBakery", sender_id_status="pending")
    messages(tenant, number, delivered=90, failed=10, opt_outs=3)
    day, month = local_periods(tenant, timezone.now())
    Spend.objects.create(tenant=tenant, period="day", starts_on=day, cents=2_500)
    Spend.objects.create(tenant=tenant, period="month", starts_on=month, cents=50_000)
    SenderDailyCount.objects.create(sending_number=number, day=day, count=100)
    campaign = CampaignFactory(tenant=tenant, status=CampaignStatus.RUNNING)
    SendJob.objects.create(tenant=tenant, campaign=campaign, contact=ContactFactory(tenant=tenant),
                           status=JobStatus.UNKNOWN, next_attempt_at=timezone.now())  # fmt: skip
    SendJob.objects.create(tenant=tenant, campaign=campaign, contact=ContactFactory(tenant=tenant),
                           status=JobStatus.PENDING, gate="quiet_hours",
                           next_attempt_at=timezone.now() + dt.timedelta(hours=5))  # fmt: skip
    data = dashboard(tenant)
    assert (data["spend_day"], data["spend_day_percent"]) == (2_500, 25)  # of the default 10,000¢ cap
    assert (data["spend_month"], data["spend_month_percent"]) == (50_000, 25)
    figures = data["figures"]
    assert data["sent_today"] == 100 and figures["delivery_rate_24h"] == 0.9
    assert figures["opt_out_rate_24h"] == pytest.approx(3 / 90)
    assert figures["unknown"] == 1 and figures["deferred"] == {"quiet_hours": 1} and figures["due_now"] == 0
    row = next(s for s in data["senders"] if s.number == number)
    assert (row.warmup_day, row.today, row.cap) == (3, 100, 1000)
    text = " ".join(data["warnings"])
    assert "AcmeBakery" in text and "under 95%" in text and "over 2%" in text and "1 jobs are of unknown" in text
    assert [c for c, _ in data["running"]] == [campaign]


def test_a_healthy_tenant_has_no_warnings(tenant):
    number = SendingNumberFactory(tenant=tenant)
    messages(tenant, number, delivered=99, failed=1)
    assert dashboard(tenant)["warnings"] == []


def test_the_page_shows_only_this_tenant_in_a_fixed_number_of_queries(tenant, other_tenant, owner):
    number = SendingNumberFactory(tenant=tenant)
    theirs = SendingNumberFactory(tenant=other_tenant, sender="+61400999999")
    messages(other_tenant, theirs, delivered=1, failed=50)
    client = client_for(owner)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            page = html.unescape(client.get(reverse("reporting:dashboard")).content.decode())
        assert "+61400999999" not in page and "under 95%" not in page
        return len(captured)

    messages(tenant, number, delivered=5, failed=0)
    tenant_stats_refresh(tenant)
    count()  # warm: per-process caches (short domains) fill on the first request
    small = count()
    messages(tenant, number, delivered=200, failed=0)
    tenant_stats_refresh(tenant)
    assert count() == small


def test_the_queue_counts_a_paused_campaigns_jobs_as_held_not_due_and_the_month(tenant):
    running = CampaignFactory(tenant=tenant, status=CampaignStatus.RUNNING)
    paused = CampaignFactory(tenant=tenant, status=CampaignStatus.PAUSED)
    for campaign in (running, paused, paused):
        SendJob.objects.create(tenant=tenant, campaign=campaign, contact=ContactFactory(tenant=tenant),
                               status=JobStatus.PENDING, next_attempt_at=timezone.now())  # fmt: skip
    number = SendingNumberFactory(tenant=tenant)
    messages(tenant, number, delivered=4, failed=0)
    figures = tenant_stats_refresh(tenant).data
    assert (figures["due_now"], figures["held_paused"]) == (1, 2)
    tenant.is_paused = True
    tenant.save(update_fields=["is_paused"])
    paused = tenant_stats_refresh(tenant).data
    assert (paused["due_now"], paused["held_paused"]) == (0, 3)  # the kill switch holds everything


def test_the_dashboard_still_answers_when_the_broker_is_down(tenant, owner, monkeypatch):
    tenant_stats_refresh(tenant)
    TenantStats.objects.filter(tenant=tenant).update(computed_at=timezone.now() - dt.timedelta(hours=1))

    def down(*args, **kwargs):
        raise ConnectionError("redis unreachable")

    monkeypatch.setattr(tasks.refresh_tenant, "delay", down)
    response = client_for(owner).get(reverse("reporting:dashboard"))
    assert response.status_code == 200 and "as of" in response.content.decode()


def test_the_view_gathers_the_figures_and_rendering_only_reads(tenant, owner, monkeypatch):
    """Issue 17, item 3: a template tag refreshed the stored figures (and queued a task) while
    the page rendered. The view asks for the refresh now; the template writes nothing."""
    tenant_stats_refresh(tenant)
    TenantStats.objects.filter(tenant=tenant).update(computed_at=timezone.now() - dt.timedelta(hours=1))
    asked = []
    monkeypatch.setattr(tasks.refresh_tenant, "delay", lambda *args: asked.append(args))
    request = client_for(owner).get(reverse("reporting:dashboard")).wsgi_request
    assert asked == [(tenant.pk,)]  # stale figures: the page still asks for fresh ones
    context = {**dashboard(tenant), "tenant": tenant}
    asked.clear()
    with CaptureQueriesContext(connection) as captured:
        page = render_to_string("reporting/dashboard.html", context, request=request)
    writes = [query["sql"] for query in captured if not query["sql"].lstrip().upper().startswith("SELECT")]
    assert (writes, asked) == ([], [])
    assert "as of" in page
