"""The dispatcher and its seven gates, through the locmem provider (an outbox list).

Times are pinned with time-machine: 2026-11-25 03:00 UTC is 14:00 in Sydney (daylight
saving, UTC+11) and 11:00 in Perth, inside the 09:00-21:00 window everywhere in Australia.
"""

from __future__ import annotations

import datetime as dt
from itertools import count

import pytest
import time_machine
from django.db import connection, transaction
from django.utils import timezone

from campaigns import dispatch, gates, services
from campaigns.dispatch import batch, chunks
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from contacts import guard
from contacts.models import Contact, DoNotContact
from contacts.tests.factories import ContactFactory, mobile
from messaging.backends import locmem
from messaging.backends.base import Consequence, get_backend
from messaging.models import Message, MessageStatus, Price, ProviderAccount, SenderDailyCount, SendingNumber, Spend
from tenants import services as tenant_services

SYDNEY = "Australia/Sydney"
_sids = count(1)


def sending_setup(tenant, *, senders=1, curve=(1000,), mps=1000, price=5):
    account = ProviderAccount.objects.create(
        tenant=tenant, provider="twilio", account_sid=f"AC{next(_sids):032x}", auth_token="secret-token"
    )
    numbers = [
        SendingNumber.objects.create(
            tenant=tenant,
            account=account,
            sender=f"+6148500{tenant.id:02d}{n:02d}",
            warmup_started_on=dt.date(2026, 1, 1),
            warmup_curve=list(curve),
            messages_per_second=mps,
        )
        for n in range(senders)
    ]
    Price.objects.create(
        tenant=tenant, provider="twilio", country="AU", cents_per_segment=price, effective_from=dt.date(2020, 1, 1)
    )
    tenant.messages_per_second = 2000
    tenant.save(update_fields=["messages_per_second"])
    return numbers


def launched(tenant, *, contacts, bodies=("Hi {{ first_name|there }}, 20% off today",), **fields) -> Campaign:
    template = services.template_save(tenant=tenant, actor=None, name=f"T{next(_sids)}", bodies=list(bodies))
    campaign = services.campaign_create(tenant=tenant, actor=None, name="Spring", template=template, **fields)
    services.campaign_launch(campaign=campaign, actor=None)
    # The launch enqueues this task at commit; a test's transaction never commits, so run it here.
    services.campaign_create_jobs(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.jobs_total == len(contacts)
    return campaign


def job_of(campaign, contact) -> SendJob:
    return SendJob.objects.get(campaign=campaign, contact=contact)


def sydney_contacts(tenant, n, **fields):
    return [ContactFactory(tenant=tenant, consent="express", timezone=SYDNEY, **fields) for _ in range(n)]


# --- each gate alone --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_clean_batch_is_sent_once_with_sender_id_and_opt_out(tenant, clock):
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    stats = dispatch.dispatch()
    assert stats.sent == 3
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in contacts)
    body = locmem.outbox[0].body
    assert body.startswith("Acme Bakery: Hi Pat") and body.endswith("Reply STOP to opt out")
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.SENT}
    assert Message.objects.filter(status=MessageStatus.QUEUED).exclude(provider_id="").count() == 3
    dispatch.dispatch()  # nothing is due any more: nothing goes twice
    assert len(locmem.outbox) == 3
    dispatch.campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


@pytest.mark.django_db
def test_kill_switch_holds_everything_until_resumed(tenant, clock):
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 2)
    campaign = launched(tenant, contacts=contacts)
    tenant_services.tenant_set_paused(tenant=tenant, actor=None, paused=True)
    assert dispatch.dispatch().claimed == 0
    assert locmem.outbox == []
    services.campaign_pause(campaign=campaign, actor=None)
    tenant_services.tenant_set_paused(tenant=tenant, actor=None, paused=False)
    assert dispatch.dispatch().claimed == 0
    services.campaign_resume(campaign=campaign, actor=None)
    assert dispatch.dispatch().sent == 2


@pytest.mark.django_db
def test_budget_defers_to_the_next_local_day_and_never_overspends(tenant, clock):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents = 12  # two 5¢ messages fit, the third does not
    tenant.save(update_fields=["daily_budget_cents"])
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    assert dispatch.dispatch().sent == 2
    deferred = SendJob.objects.get(campaign=campaign, status=JobStatus.PENDING)
    assert (deferred.gate, deferred.outcome) == (Gate.BUDGET, GateOutcome.DEFER)
    # Midnight in Sydney after 25 Nov: 26 Nov 00:00 AEDT = 25 Nov 13:00 UTC.
    assert deferred.next_attempt_at == dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.UTC)
    assert Spend.objects.get(tenant=tenant, period="day").cents == 10


@pytest.mark.django_db
def test_the_monthly_cap_defers_to_the_first_of_next_month_in_the_tenants_zone(tenant, clock):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents, tenant.monthly_budget_cents = 1_000, 10_000
    tenant.save(update_fields=["daily_budget_cents", "monthly_budget_cents"])
    # Earlier days of November spent all but 12¢: two 5¢ messages fit today's cap and the month's.
    Spend.objects.create(tenant=tenant, period="month", starts_on=dt.date(2026, 11, 1), cents=9_988)
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    assert dispatch.dispatch().sent == 2
    deferred = SendJob.objects.get(campaign=campaign, status=JobStatus.PENDING)
    assert (deferred.gate, deferred.outcome) == (Gate.BUDGET, GateOutcome.DEFER)
    assert deferred.reason == "Monthly cap reached ($100.00)."
    # 1 Dec 00:00 in Sydney (AEDT, UTC+11) = 30 Nov 13:00 UTC.
    assert deferred.next_attempt_at == dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC)
    assert Spend.objects.get(tenant=tenant, period="month").cents == 9_998
    assert Spend.objects.get(tenant=tenant, period="day").cents == 10
    assert len(locmem.outbox) == 2


@pytest.mark.django_db
def test_a_message_costing_more_than_a_whole_cap_is_skipped_with_its_cost_in_dollars(tenant, clock):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents = 4  # no day could ever pay for one 5¢ message: waiting is pointless
    tenant.save(update_fields=["daily_budget_cents"])
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 2))
    assert dispatch.dispatch().sent == 0
    jobs = list(campaign.jobs.all())
    assert {(job.status, job.gate, job.outcome) for job in jobs} == {(JobStatus.SKIPPED, Gate.BUDGET, GateOutcome.SKIP)}
    assert {job.reason for job in jobs} == {"One message costs $0.05, more than a whole cap."}
    assert locmem.outbox == [] and not Spend.objects.filter(tenant=tenant, cents__gt=0).exists()
    dispatch.campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED  # nothing is left waiting


@pytest.mark.django_db
def test_a_scheduled_campaign_starts_sending_only_when_its_time_comes(tenant, clock):
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 2)
    starts_at = timezone.now() + dt.timedelta(hours=2)  # 16:00 in Sydney, inside the window
    campaign = launched(tenant, contacts=contacts, starts_at=starts_at)
    assert campaign.status == CampaignStatus.SCHEDULED
    dispatch.campaigns_advance()
    assert dispatch.dispatch().sent == 0
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED and locmem.outbox == []
    clock.move_to(starts_at - dt.timedelta(seconds=1))
    dispatch.campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    clock.move_to(starts_at)
    dispatch.campaigns_advance()
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.RUNNING
    assert dispatch.dispatch().sent == 2
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in contacts)


@pytest.mark.django_db
def test_jobs_still_unsent_at_the_campaigns_end_expire_and_the_campaign_completes(tenant, clock):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents = 5  # one message today; the other waits for tomorrow
    tenant.save(update_fields=["daily_budget_cents"])
    ends_at = timezone.now() + dt.timedelta(hours=3)  # before Sydney's midnight, when it could go
    contacts = sydney_contacts(tenant, 2)
    campaign = launched(tenant, contacts=contacts, ends_at=ends_at)
    assert dispatch.dispatch().sent == 1
    waiting = campaign.jobs.get(status=JobStatus.PENDING)
    assert waiting.next_attempt_at > ends_at
    clock.move_to(ends_at - dt.timedelta(seconds=1))
    dispatch.campaigns_advance()
    waiting.refresh_from_db()
    assert waiting.status == JobStatus.PENDING
    clock.move_to(ends_at)
    dispatch.campaigns_advance()
    waiting.refresh_from_db()
    campaign.refresh_from_db()
    assert (waiting.status, waiting.outcome, waiting.reason) == (
        JobStatus.EXPIRED,
        GateOutcome.SKIP,
        "The campaign ended first.",
    )
    assert campaign.status == CampaignStatus.COMPLETED
    assert campaign.jobs.filter(status=JobStatus.SENT).count() == 1
    clock.move_to(dt.datetime(2026, 11, 26, 0, 0, tzinfo=dt.UTC))  # 11:00 in Sydney the next day
    assert dispatch.dispatch().sent == 0 and len(locmem.outbox) == 1


@pytest.mark.django_db
def test_do_not_contact_undeliverable_and_no_consent_are_skipped_for_good(tenant, clock):
    sending_setup(tenant)
    listed, bounced, withdrawn, fine = sydney_contacts(tenant, 4)
    DoNotContact.objects.create(tenant=tenant, phone_e164=listed.phone_e164, reason="stop_keyword")
    Contact.objects.filter(pk=bounced.pk).update(undeliverable=True, undeliverable_reason="30005")
    campaign = launched(tenant, contacts=[listed, bounced, withdrawn, fine])
    Contact.objects.filter(pk=withdrawn.pk).update(consent_status="withdrawn")  # after launch: checked at send
    assert dispatch.dispatch().sent == 1
    for contact in (listed, bounced, withdrawn):
        job = job_of(campaign, contact)
        assert (job.status, job.gate, job.outcome) == (JobStatus.SKIPPED, Gate.DNC, GateOutcome.SKIP)
    assert [sms.to for sms in locmem.outbox] == [fine.phone_e164]


@pytest.mark.django_db
def test_suppression_window_and_zero_disables_it(tenant, clock):
    sending_setup(tenant)
    recent, old = sydney_contacts(tenant, 2)
    Contact.objects.filter(pk=recent.pk).update(last_sent_at=timezone.now() - dt.timedelta(days=10))
    Contact.objects.filter(pk=old.pk).update(last_sent_at=timezone.now() - dt.timedelta(days=91))
    campaign = launched(tenant, contacts=[recent, old])
    dispatch.dispatch()
    assert (job_of(campaign, recent).gate, job_of(campaign, recent).status) == (Gate.SUPPRESSION, JobStatus.SKIPPED)
    assert job_of(campaign, old).status == JobStatus.SENT

    tenant.suppression_days = 0
    tenant.save(update_fields=["suppression_days"])
    second = launched(tenant, contacts=[recent, old])
    assert dispatch.dispatch().sent == 2
    assert second.jobs.filter(status=JobStatus.SENT).count() == 2


@pytest.mark.django_db
def test_quiet_hours_defer_to_the_exact_next_allowed_instant(tenant):
    sending_setup(tenant)
    sydney, perth = sydney_contacts(tenant, 1)[0], ContactFactory(tenant=tenant, consent="express", state="WA")
    # 21:30 in Sydney (AEDT) = 10:30 UTC = 18:30 in Perth.
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.UTC), tick=True):
        campaign = launched(tenant, contacts=[sydney, perth])
        dispatch.dispatch()
    job = job_of(campaign, sydney)
    assert (job.gate, job.outcome, job.status) == (Gate.QUIET_HOURS, GateOutcome.DEFER, JobStatus.PENDING)
    assert job.next_attempt_at == dt.datetime(2026, 11, 25, 22, 0, tzinfo=dt.UTC)  # 09:00 AEDT on the 26th
    assert job_of(campaign, perth).status == JobStatus.SENT


@pytest.mark.django_db
def test_rate_limit_defers_what_the_tenant_rate_does_not_allow(tenant, clock):
    sending_setup(tenant, mps=1000)
    tenant.messages_per_second = 2
    tenant.save(update_fields=["messages_per_second"])
    contacts = sydney_contacts(tenant, 6)
    campaign = launched(tenant, contacts=contacts)
    stats = dispatch.process_batch(campaign_id=campaign.pk, backend=get_backend(), batch_size=100)
    # Slots at now, +0.5 s and +1.0 s fit the 1-second horizon; the rest wait their turn.
    assert stats.sent == 3
    deferred = campaign.jobs.filter(status=JobStatus.PENDING)
    assert {(j.gate, j.outcome) for j in deferred} == {(Gate.RATE_LIMIT, GateOutcome.DEFER)}
    assert all(j.next_attempt_at > timezone.now() - dt.timedelta(seconds=2) for j in deferred)


@pytest.mark.django_db
def test_warmup_counts_real_hand_offs_only_and_spills_to_another_sender(tenant, clock):
    first, second = sending_setup(tenant, senders=2, curve=(2,))
    contacts = sydney_contacts(tenant, 6)
    locmem.script[contacts[0].phone_e164] = locmem.reject("30007")  # refused: not a hand-off
    campaign = launched(tenant, contacts=contacts)
    dispatch.dispatch()
    # Four had room (two senders × 2); one of those was refused, so three were handed over.
    assert campaign.jobs.filter(status=JobStatus.SENT).count() == 3
    assert campaign.jobs.get(status=JobStatus.FAILED).contact_id == contacts[0].id
    counted = dict(SenderDailyCount.objects.values_list("sending_number_id", "count"))
    assert set(counted) == {first.id, second.id} and sum(counted.values()) == 3
    left = campaign.jobs.filter(status=JobStatus.PENDING)
    assert left.count() == 2
    assert {(j.gate, j.outcome) for j in left} == {(Gate.WARMUP, GateOutcome.DEFER)}
    # Local midnight after 25 Nov in Sydney: 26 Nov 00:00 AEDT = 25 Nov 13:00 UTC.
    assert {j.next_attempt_at for j in left} == {dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.UTC)}


# --- order: the first failing gate is the one recorded -----------------------------------------


@pytest.mark.django_db
def test_first_failing_gate_wins(tenant):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents = 7  # 5¢ spent already today: the 5¢ message does not fit
    tenant.save(update_fields=["daily_budget_cents"])
    Spend.objects.create(tenant=tenant, period="day", starts_on=dt.date(2026, 11, 25), cents=5)
    on_dnc = sydney_contacts(tenant, 1)[0]
    DoNotContact.objects.create(tenant=tenant, phone_e164=on_dnc.phone_e164, reason="manual")
    with time_machine.travel(dt.datetime(2026, 11, 25, 10, 30, tzinfo=dt.UTC), tick=True):  # quiet in Sydney
        campaign = launched(tenant, contacts=[on_dnc])
        dispatch.dispatch()
        assert job_of(campaign, on_dnc).gate == Gate.BUDGET
        tenant.daily_budget_cents = 10_000
        tenant.save(update_fields=["daily_budget_cents"])
        SendJob.objects.filter(campaign=campaign).update(next_attempt_at=timezone.now())
        dispatch.dispatch()
        job = job_of(campaign, on_dnc)
        assert (job.gate, job.status) == (Gate.DNC, JobStatus.SKIPPED)  # DNC (3) before quiet hours (5)


# --- launch, rotation, exactly once ------------------------------------------------------------


@pytest.mark.django_db
def test_launch_twice_or_rerun_creates_nothing_new_and_rotation_is_even(tenant, clock):
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 100)
    campaign = launched(
        tenant,
        contacts=contacts,
        bodies=["One {{ link }}", "Two {{ link }}", "Three {{ link }}"],
        link_url="https://acme.example/sale",
    )
    services.campaign_launch(campaign=campaign, actor=None)
    assert services.campaign_create_jobs(campaign_id=campaign.pk) == 100
    assert SendJob.objects.filter(campaign=campaign).count() == 100
    per_variant = [SendJob.objects.filter(campaign=campaign, variant_index=i).count() for i in range(3)]
    assert sorted(per_variant) == [33, 33, 34]
    dispatch.dispatch()
    bodies = [sms.body for sms in locmem.outbox]
    assert sorted(
        sum(body.startswith(f"Acme Bakery: {word}") for body in bodies) for word in ("One", "Two", "Three")
    ) == [
        33,
        33,
        34,
    ]


@pytest.mark.django_db
def test_audience_is_consenting_contacts_with_the_tags(tenant, clock):
    sending_setup(tenant)
    vip = sydney_contacts(tenant, 2, tags=["VIP"])
    sydney_contacts(tenant, 3, tags=["other"])
    ContactFactory(tenant=tenant, tags=["VIP"])  # no consent: not in the audience
    campaign = launched(tenant, contacts=vip, tags=["vip"])  # tags match whatever their case
    assert set(campaign.jobs.values_list("contact_id", flat=True)) == {contact.pk for contact in vip}


@pytest.mark.django_db
def test_provider_refusals_release_budget_and_stop_the_contact(tenant, clock):
    sending_setup(tenant, price=5)
    stop, retry, fine = sydney_contacts(tenant, 3)
    locmem.script[stop.phone_e164] = locmem.reject("21610", consequence=Consequence.DO_NOT_CONTACT)
    locmem.script[retry.phone_e164] = locmem.retry(retry_after=60)
    campaign = launched(tenant, contacts=[stop, retry, fine])
    dispatch.dispatch()
    assert job_of(campaign, stop).status == JobStatus.FAILED
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164=stop.phone_e164).exists()
    again = job_of(campaign, retry)
    assert (again.status, again.gate, again.outcome) == (JobStatus.PENDING, Gate.PROVIDER, GateOutcome.DEFER)
    assert again.message is None and again.next_attempt_at > timezone.now() + dt.timedelta(seconds=50)
    assert Spend.objects.get(tenant=tenant, period="day").cents == 5  # only the accepted one
    # The retry goes later, as a new message; the campaign still has one live message per contact.
    del locmem.script[retry.phone_e164]
    SendJob.objects.filter(pk=again.pk).update(next_attempt_at=timezone.now())
    dispatch.dispatch()
    assert job_of(campaign, retry).status == JobStatus.SENT
    assert Message.objects.filter(contact=retry).exclude(status=MessageStatus.REJECTED).count() == 1


@pytest.mark.django_db
def test_a_timeout_at_hand_off_is_unknown_not_resent(tenant, clock):
    from messaging.backends.base import Outcome, SendResult

    sending_setup(tenant)
    contact = sydney_contacts(tenant, 1)[0]
    locmem.script[contact.phone_e164] = lambda sms: SendResult(sms.reference, Outcome.RETRY, error_message="timeout")
    campaign = launched(tenant, contacts=[contact])
    dispatch.dispatch()
    job = job_of(campaign, contact)
    assert job.status == JobStatus.UNKNOWN
    del locmem.script[contact.phone_e164]
    dispatch.dispatch()
    assert locmem.outbox == []
    services.send_job_decide(job=job, actor=None, decision="resend")
    dispatch.dispatch()
    assert job_of(campaign, contact).status == JobStatus.SENT and len(locmem.outbox) == 1


@pytest.mark.django_db
def test_resend_of_an_unknown_job_gives_back_its_budget_and_its_warmup_count(tenant, clock):
    """ "Resend" released the spend only, so the sender's warmup count for the day stayed used."""
    from messaging.backends.base import Outcome, SendResult

    (number,) = sending_setup(tenant, price=5)
    contact = sydney_contacts(tenant, 1)[0]
    locmem.script[contact.phone_e164] = lambda sms: SendResult(sms.reference, Outcome.RETRY, error_message="timeout")
    campaign = launched(tenant, contacts=[contact])
    dispatch.dispatch()
    job = job_of(campaign, contact)
    assert job.status == JobStatus.UNKNOWN
    assert Spend.objects.get(tenant=tenant, period="day").cents == 5
    assert SenderDailyCount.objects.get(sending_number=number).count == 1
    services.send_job_decide(job=job, actor=None, decision="resend")
    assert Spend.objects.get(tenant=tenant, period="day").cents == 0
    assert Spend.objects.get(tenant=tenant, period="month").cents == 0
    assert SenderDailyCount.objects.get(sending_number=number).count == 0


@pytest.mark.django_db
def test_reconciler_settles_jobs_a_dead_worker_left_sending(tenant, clock):
    sending_setup(tenant)
    delivered, never, _ = contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts)
    # Decide (step 1) and "die" before hand-off: simulate by running step 1 alone.
    backend = get_backend()
    stats = dispatch.DispatchStats()
    with transaction.atomic():
        campaign = Campaign.objects.select_related("tenant", "template").get(pk=campaign.pk)
        jobs = list(SendJob.objects.filter(campaign=campaign).order_by("id"))
        by_id = {c.id: c for c in Contact.objects.filter(id__in=[j.contact_id for j in jobs])}
        decision = gates.evaluate(campaign=campaign, jobs=jobs, contacts=by_id, now=timezone.now())
        going = batch._record_decisions(campaign=campaign, decision=decision, now=timezone.now(), stats=stats)
    assert len(going) == 3 and set(campaign.jobs.values_list("status", flat=True)) == {JobStatus.SENDING}
    # The provider did get the first one before the crash.
    backend.send([going[0].outbound])
    assert dispatch.dispatch().claimed == 0  # sending jobs are never picked up again by the dispatcher
    counts = dispatch.reconcile_sending(older_than=dt.timedelta(0))
    assert counts == {"found": 1, "requeued": 2, "unknown": 0}
    assert job_of(campaign, going[0].contact).status == JobStatus.SENT
    dispatch.dispatch()
    assert sorted(sms.to for sms in locmem.outbox) == sorted(c.phone_e164 for c in contacts)  # each exactly once
    assert Spend.objects.get(tenant=tenant, period="day").cents == 15


@pytest.mark.django_db
def test_a_dispatcher_batch_costs_a_fixed_number_of_queries(tenant, clock, django_assert_max_num_queries, monkeypatch):
    """Not one query per job: 120 jobs cost what 5 do (plus SQLite splitting a long INSERT, and
    the do-not-contact re-check of each provider call, whose count the rate limiter decides)."""
    monkeypatch.setattr(chunks, "HANDOFF_CHUNK", 1000)  # one hand-off chunk for both sizes
    calls = []
    real_held = guard.numbers_held
    monkeypatch.setattr(guard, "numbers_held", lambda *a, **kw: calls.append(1) or real_held(*a, **kw))
    sending_setup(tenant)
    small = launched(tenant, contacts=sydney_contacts(tenant, 5))
    with django_assert_max_num_queries(60) as captured:
        dispatch.process_batch(campaign_id=small.pk, backend=get_backend(), batch_size=500)
    few, small_calls = len(captured.captured_queries), len(calls)
    tenant.suppression_days = 0
    tenant.save(update_fields=["suppression_days"])
    big = launched(tenant, contacts=sydney_contacts(tenant, 120, tags=["big"]), tags=["big"])
    calls.clear()
    with django_assert_max_num_queries(1000) as captured:
        assert dispatch.process_batch(campaign_id=big.pk, backend=get_backend(), batch_size=500).sent == 120
    # Per provider call (as many as the rate limiter's slots make): the re-read of the list,
    # and on PostgreSQL taking and releasing the advisory locks around it.
    per_call = 5 if connection.vendor == "postgresql" else 1
    assert len(captured.captured_queries) - per_call * len(calls) <= few - per_call * small_calls + 4


def test_mobile_from_unknown_zone_waits_for_every_australian_zone():
    from contacts.timezones import recipient_zones
    from messaging.quiet_hours import next_allowed_at

    zones = recipient_zones(timezone="", state="", postcode="", phone_e164=mobile(1), fallback=SYDNEY)
    assert "Australia/Perth" in zones and "Australia/Sydney" in zones
    # 10:30 in Sydney (AEDT) is 07:30 in Perth: too early there, so not yet.
    at = dt.datetime(2026, 11, 24, 23, 30, tzinfo=dt.UTC)
    assert next_allowed_at(at, zones) == dt.datetime(2026, 11, 25, 1, 0, tzinfo=dt.UTC)  # 09:00 in Perth


@pytest.mark.django_db
def test_a_custom_field_missing_from_the_batch_renders_its_fallback(tenant, clock):
    sending_setup(tenant)
    ContactFactory(tenant=tenant, custom_fields={"suburb": "Fitzroy"})  # makes {{ suburb }} known at save time
    plain = sydney_contacts(tenant, 1, tags=["plain"])
    launched(tenant, contacts=plain, tags=["plain"], bodies=["See you in {{ suburb|your suburb }} soon"])
    assert dispatch.dispatch().sent == 1
    assert "See you in your suburb soon" in locmem.outbox[0].body


@pytest.mark.django_db
def test_a_contact_mid_hand_off_in_another_campaign_waits_then_is_suppressed(tenant, clock):
    sending_setup(tenant)
    contact = sydney_contacts(tenant, 1)[0]
    first = launched(tenant, contacts=[contact])
    second = launched(tenant, contacts=[contact])
    SendJob.objects.filter(campaign=first).update(status=JobStatus.SENDING)  # as if a worker were handing it over
    dispatch.process_batch(campaign_id=second.pk, backend=get_backend(), batch_size=10)
    waiting = job_of(second, contact)
    assert (waiting.status, waiting.gate, waiting.outcome) == (JobStatus.PENDING, Gate.SUPPRESSION, GateOutcome.DEFER)
    assert locmem.outbox == []
    # The other message landed: once due again, this one is suppressed for good.
    SendJob.objects.filter(campaign=first).update(status=JobStatus.SENT)
    Contact.objects.filter(pk=contact.pk).update(last_sent_at=timezone.now())
    SendJob.objects.filter(pk=waiting.pk).update(next_attempt_at=timezone.now())
    dispatch.process_batch(campaign_id=second.pk, backend=get_backend(), batch_size=10)
    assert job_of(second, contact).status == JobStatus.SKIPPED and locmem.outbox == []
