"""The contact timeline: every event about one number, in order, tenant-scoped, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import html
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Gate, GateOutcome, JobStatus, SendJob
from campaigns.tests.factories import CampaignFactory, SendingNumberFactory
from contacts import services as contact_services
from contacts.models import ConsentKind, Contact, DncReason
from contacts.tests.test_imports import run_import, write_csv
from links.models import Click, ClickReason, ShortLink
from messaging.inbound import inbound_receive
from messaging.models import Message, MessageKind, MessageStatus, ProviderEvent
from reporting.timeline import contact_timeline
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

PHONE = "+61412345678"
T0 = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)  # 11:00 in Sydney
_sids = iter(range(1, 10_000))


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def sent(tenant, contact, campaign, body, *, variant, status, error_code="", reports=()):
    """A campaign message as the dispatcher leaves it, its send job, and its status callbacks."""
    number = SendingNumberFactory(tenant=tenant)
    message = Message.objects.create(
        tenant=tenant,
        contact=contact,
        campaign=campaign,
        sending_number=number,
        kind=MessageKind.CAMPAIGN,
        to_phone=contact.phone_e164,
        from_sender=number.sender,
        body=body,
        status=status,
        error_code=error_code,
        provider_id=f"SM{next(_sids):032x}",
        handed_off_at=timezone.now(),
    )
    SendJob.objects.create(
        tenant=tenant,
        campaign=campaign,
        contact=contact,
        variant_index=variant,
        status=JobStatus.SENT,
        next_attempt_at=timezone.now(),
        outcome=GateOutcome.SEND,
        message=message,
        decided_at=timezone.now(),
    )
    for report, code, seconds in reports:
        ProviderEvent.objects.create(
            tenant=tenant,
            kind="status",
            message_sid=message.provider_id,
            status=report,
            message=message,
            error_code=code,
            applied=True,
            received_at=timezone.now() + dt.timedelta(seconds=seconds),
        )
    return message


def clicked(tenant, contact, message, *, seconds, human, reason=""):
    link, _ = ShortLink.objects.get_or_create(
        tenant=tenant,
        send_job_id=message.send_jobs.get().pk,
        destination="https://acme.example/sale",
        defaults={
            "token": uuid.uuid4().hex[:10],
            "campaign_id": message.campaign_id,
            "contact": contact,
            "message": message,
            "created_at": timezone.now(),
            "expires_at": timezone.now() + dt.timedelta(days=60),
        },
    )
    return Click.objects.create(
        tenant=tenant,
        link=link,
        campaign_id=message.campaign_id,
        contact_id=contact.pk,
        request_id=uuid.uuid4(),
        at=timezone.now() + dt.timedelta(seconds=seconds),
        method="GET",
        user_agent="WhatsApp/2.23" if reason else "Mozilla/5.0 (iPhone)",
        is_human=human,
        reason=reason,
    )


@pytest.fixture
def history(tenant, members, tmp_path):
    """Jo's whole history, one step a minute from T0 (the clock stands still within a step)."""
    staff, admin = members["staff"], members["admin"]
    spring = CampaignFactory(tenant=tenant, name="Spring sale")
    autumn = CampaignFactory(tenant=tenant, name="Autumn <sale>")
    winter = CampaignFactory(tenant=tenant, name="Winter sale")
    with time_machine.travel(T0, tick=False) as clock:
        run_import(tenant, write_csv(tmp_path, "Jo,Citizen,0412 345 678,,,,,\n", name="spring-list.csv"))
        contact = Contact.objects.get(tenant=tenant, phone_e164=PHONE)
        clock.move_to(at(0.5))
        run_import(
            tenant,
            write_csv(tmp_path, "Joanne,Citizen,0412 345 678,,,,,\n", name="winter-list.csv"),
            captured_at=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
        )
        clock.move_to(at(1))
        contact_services.consent_record_add(
            contact=contact,
            actor=staff,
            kind=ConsentKind.INFERRED,
            source="phone call",
            captured_at=timezone.now(),
            evidence="call log 17",
        )
        clock.move_to(at(2))
        contact_services.consent_record_add(
            contact=contact,
            actor=staff,
            kind=ConsentKind.INFERRED,
            source="told staff in store",
            captured_at=timezone.now(),
            withdrawn=True,
        )
        clock.move_to(at(3))
        entry, _ = contact_services.dnc_add(
            tenant=tenant, phone=PHONE, reason=DncReason.MANUAL, actor=admin, note="asked at the counter"
        )
        clock.move_to(at(4))
        contact_services.dnc_remove(entry=entry, actor=admin, reason="Signed up again at the counter")
        clock.move_to(at(5))
        first = sent(
            tenant, contact, spring, "Hi Jo, <b>20%</b> off\nToday only", variant=0, status=MessageStatus.DELIVERED,
            reports=[("delivered", "", 10), ("sent", "", 20)],  # out of order: the receipt beat "sent"
        )  # fmt: skip
        clock.move_to(at(6))
        sent(
            tenant, contact, autumn, "Autumn deals", variant=1, status=MessageStatus.UNDELIVERED, error_code="30007",
            reports=[("undelivered", "30007", 10), ("sent", "", 20)],
        )  # fmt: skip
        clock.move_to(at(7))
        clicked(tenant, contact, first, seconds=0, human=True)
        clicked(tenant, contact, first, seconds=30, human=False, reason=ClickReason.LINK_PREVIEW)
        clock.move_to(at(8))
        inbound_receive(
            tenant=tenant,
            params={"MessageSid": "SMstop0001", "From": PHONE, "To": "+61400000001", "Body": "STOP"},
        )
        clock.move_to(at(9))
        SendJob.objects.create(
            tenant=tenant,
            campaign=winter,
            contact=contact,
            status=JobStatus.SKIPPED,
            next_attempt_at=timezone.now(),
            gate=Gate.DNC,
            outcome=GateOutcome.SKIP,
            reason="On the do-not-contact list",
            decided_at=timezone.now(),
        )
    return {"contact": contact, "spring": spring, "autumn": autumn, "winter": winter, "staff": staff, "admin": admin}


EXPECTED = [
    (dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC), "consent.given", "Consent given (express)"),
    (dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC), "consent.given", "Consent given (express)"),
    (at(0), "contact.imported", "Imported from spring-list.csv"),
    (at(0.5), "contact.import_updated", "Updated by import of winter-list.csv"),
    (at(1), "consent.given", "Consent given (inferred)"),
    (at(2), "consent.withdrawn", "Consent withdrawn"),
    (at(3), "dnc.added", "Added to the do-not-contact list"),
    (at(4), "dnc.removed", "Removed from the do-not-contact list"),
    (at(5), "message.campaign", "Campaign message sent (variant 1)"),
    (at(5) + dt.timedelta(seconds=10), "message.status", "Provider reported delivered"),
    (at(5) + dt.timedelta(seconds=20), "message.status", "Provider reported sent"),
    (at(6), "message.campaign", "Campaign message sent (variant 2)"),
    (at(6) + dt.timedelta(seconds=10), "message.status", "Provider reported undelivered"),
    (at(6) + dt.timedelta(seconds=20), "message.status", "Provider reported sent"),
    (at(7), "click", "Link opened"),
    (at(7) + dt.timedelta(seconds=30), "click", "Link fetched by a machine, not counted: Link preview"),
    # One instant: the text, then what it did (withdrawal, the list), then our answer.
    (at(8), "inbound.opt_out", "Opted out by text (STOP)"),
    (at(8), "consent.withdrawn", "Consent withdrawn"),
    (at(8), "dnc.added", "Added to the do-not-contact list"),
    (at(8), "message.reply", "Automatic reply sent"),
    (at(9), "send.stopped", "Not sent (skipped) · gate 3. Do-not-contact"),
]


def test_every_event_in_order(tenant, history):
    events = contact_timeline(tenant=tenant, contact=history["contact"])
    assert [(e.at, e.kind, e.title) for e in events] == EXPECTED
    assert events.truncated == ()


def test_each_event_carries_its_evidence_campaign_and_actor(tenant, history):
    events = contact_timeline(tenant=tenant, contact=history["contact"])
    spring, autumn, winter = history["spring"], history["autumn"], history["winter"]
    staff, admin = history["staff"].email, history["admin"].email

    imported, updated = events[0], events[1]
    assert "Source: in-store sign-up sheet (import of spring-list.csv)" in imported.detail
    assert "Evidence: scanned sheets, box 4" in imported.detail
    assert "(import of winter-list.csv)" in updated.detail
    manual, withdrawn = events[4], events[5]
    assert manual.detail == "Source: phone call · Evidence: call log 17" and manual.actor == staff
    assert withdrawn.is_warning and withdrawn.actor == staff and "told staff in store" in withdrawn.detail
    added, removed = events[6], events[7]
    assert added.actor == admin and added.detail == "Added by staff · asked at the counter" and added.is_warning
    assert removed.actor == admin and removed.detail == "Why: Signed up again at the counter · it was: Added by staff"

    first, delivered, late_sent = events[8], events[9], events[10]
    assert first.body == "Hi Jo, <b>20%</b> off\nToday only" and first.detail == "Now: Delivered"
    assert (first.campaign_id, first.campaign_name) == (spring.pk, "Spring sale") and not first.is_problem
    assert not delivered.is_problem and delivered.campaign_id == spring.pk
    assert late_sent.detail == "arrived after a later report: it changed nothing"
    failed, undelivered = events[11], events[12]
    assert failed.is_problem and failed.campaign_name == "Autumn <sale>"
    assert failed.detail == "Now: Undelivered · error 30007: Filtered by the carrier as content"
    assert undelivered.is_problem and undelivered.detail == "error 30007: Filtered by the carrier as content"
    human, preview = events[14], events[15]
    assert human.campaign_id == spring.pk and human.detail == "https://acme.example/sale"
    assert not human.is_problem and preview.campaign_id == spring.pk

    stop, stop_withdrawal, stop_dnc, reply = events[16:20]
    assert stop.body == "STOP" and stop.is_warning and stop.campaign_id == autumn.pk  # attributed: the last to reach it
    assert stop_withdrawal.actor == "" and "opt-out by text (STOP)" in stop_withdrawal.detail
    assert "Text SMstop0001 from +61" in stop_withdrawal.detail
    assert stop_dnc.detail.startswith("Replied STOP · Texted 'STOP' · inbound SMstop0001")  # the entry's source
    assert reply.body and reply.campaign_id == autumn.pk
    skipped = events[20]
    assert skipped.campaign_id == winter.pk and skipped.detail == "On the do-not-contact list"


def test_complete_every_message_consent_record_and_click_appears(tenant, history):
    contact = history["contact"]
    events = contact_timeline(tenant=tenant, contact=contact)
    bodies = [e.body for e in events if e.kind.startswith(("message.campaign", "message.reply", "inbound."))]
    assert sorted(bodies) == sorted(Message.objects.filter(contact=contact).values_list("body", flat=True))
    consent = [e for e in events if e.kind.startswith("consent.")]
    assert len(consent) == contact.consent_records.count() == 5
    reports = [e for e in events if e.kind == "message.status"]
    assert len(reports) == ProviderEvent.objects.filter(message__contact=contact, kind="status").count() == 4
    assert len([e for e in events if e.kind == "click"]) == Click.objects.filter(contact_id=contact.pk).count()


def test_another_tenants_rows_for_the_same_number_contribute_nothing(tenant, other_tenant, history, tmp_path):
    theirs = Contact.objects.create(tenant=other_tenant, phone_e164=PHONE, first_name="Rival")
    contact_services.consent_record_add(
        contact=theirs, actor=None, kind=ConsentKind.EXPRESS, source="rival form", captured_at=timezone.now()
    )
    entry, _ = contact_services.dnc_add(tenant=other_tenant, phone=PHONE, reason=DncReason.COMPLAINT)
    contact_services.dnc_remove(entry=entry, actor=None, reason="rival lifted it")
    contact_services.dnc_add(tenant=other_tenant, phone=PHONE, reason=DncReason.COMPLAINT, note="rival note")
    rival_campaign = CampaignFactory(tenant=other_tenant, name="Rival campaign")
    message = sent(
        other_tenant, theirs, rival_campaign, "Rival offer", variant=0, status="delivered", reports=[("sent", "", 1)]
    )
    clicked(other_tenant, theirs, message, seconds=0, human=True)

    events = contact_timeline(tenant=tenant, contact=history["contact"])
    assert [(e.at, e.kind, e.title) for e in events] == EXPECTED
    text = repr(events)
    assert "Rival" not in text and "rival" not in text and "Complaint" not in text
    # And a contact is only ever read through its own tenant.
    assert contact_timeline(tenant=tenant, contact=theirs) == []


def test_a_fixed_number_of_queries_however_long_the_history(tenant, django_assert_max_num_queries):
    contact = Contact.objects.create(tenant=tenant, phone_e164=PHONE)
    contact_services.consent_record_add(
        contact=contact, actor=None, kind=ConsentKind.EXPRESS, source="form", captured_at=timezone.now()
    )

    def grow(n: int) -> None:
        for i in range(n):
            campaign = CampaignFactory(tenant=tenant)
            message = sent(
                tenant, contact, campaign, f"offer {i}", variant=i % 2, status="delivered",
                reports=[("sent", "", 1), ("delivered", "", 2)],
            )  # fmt: skip
            clicked(tenant, contact, message, seconds=3, human=True)
            clicked(tenant, contact, message, seconds=4, human=False, reason=ClickReason.CRAWLER)

    grow(2)
    with CaptureQueriesContext(connection) as few:
        small = contact_timeline(tenant=tenant, contact=contact)
    grow(18)
    with django_assert_max_num_queries(len(few)):
        large = contact_timeline(tenant=tenant, contact=contact)
    assert len(few) <= 8
    assert len(large) - len(small) == 18 * 5  # message, two reports, two clicks each


def test_the_limit_keeps_the_newest_rows_of_each_source_and_says_so(tenant):
    contact = Contact.objects.create(tenant=tenant, phone_e164=PHONE)
    contact_services.consent_record_add(
        contact=contact, actor=None, kind=ConsentKind.EXPRESS, source="form", captured_at=timezone.now()
    )
    base = timezone.now()
    for i in range(5):
        with time_machine.travel(base + dt.timedelta(minutes=i + 1), tick=False):
            campaign = CampaignFactory(tenant=tenant)
            sent(tenant, contact, campaign, f"offer {i}", variant=0, status="delivered")
    events = contact_timeline(tenant=tenant, contact=contact, limit=3)
    assert [e.body for e in events if e.body] == ["offer 2", "offer 3", "offer 4"]
    assert "messages" in events.truncated and "consent records" not in events.truncated
    assert events[0].kind == "contact.created" and events[1].kind == "consent.given"  # the evidence stays


def test_the_contact_page_shows_the_timeline_to_a_viewer(tenant, members, history, other_owner):
    contact = history["contact"]
    url = reverse("contacts:detail", args=[contact.pk])
    response = client_for(members["viewer"]).get(url)
    assert response.status_code == 200
    page = response.content.decode()
    section = page.split('id="timeline"')[1].split("</section>")[0]
    # Escaped, as sent, with its line breaks; the campaign linked; a problem highlighted.
    assert "Hi Jo, &lt;b&gt;20%&lt;/b&gt; off<br>Today only" in section and "<b>20%</b>" not in section
    assert f'<a href="/campaigns/{history["spring"].pk}/">Spring sale</a>' in section
    assert f'<a href="/campaigns/{history["autumn"].pk}/">Autumn &lt;sale&gt;</a>' in section
    assert '<span class="badge danger">Provider reported undelivered</span>' in section
    assert '<span class="badge warn">Opted out by text (STOP)</span>' in section
    # The tenant's time zone: T0 is 11:00 in Sydney (daylight saving).
    assert "2 Mar 2026 11:00:00" in section and "2 Mar 2026 00:00:00" not in section
    shown = html.unescape(section)
    titles = [title for _, _, title in EXPECTED]
    positions = [shown.index(title, start) for title, start in _walk(shown, titles)]
    assert positions == sorted(positions)
    assert client_for(other_owner).get(url).status_code == 404


def _walk(text: str, titles: list[str]):
    """Each title with where to look for it: after the previous one (titles repeat)."""
    start = 0
    for title in titles:
        yield title, start
        start = text.index(title, start) + 1


def test_the_contact_page_offers_the_whole_history_when_cut(tenant, owner):
    contact = Contact.objects.create(tenant=tenant, phone_e164=PHONE)
    base = timezone.now()
    for i in range(52):
        with time_machine.travel(base + dt.timedelta(minutes=i + 1), tick=False):
            sent(tenant, contact, CampaignFactory(tenant=tenant), f"offer {i:02d}", variant=0, status="delivered")
    url = reverse("contacts:detail", args=[contact.pk])
    page = client_for(owner).get(url).content.decode()
    assert "offer 01" not in page and "offer 51" in page and "Show the whole history" in page
    whole = client_for(owner).get(f"{url}?history=all").content.decode()
    assert "offer 00" in whole and "offer 51" in whole and "Show the whole history" not in whole


def test_a_reply_from_the_inbox_is_on_the_timeline_as_one(tenant):
    contact = Contact.objects.create(tenant=tenant, phone_e164="+61412000555", first_name="Ann")
    number = SendingNumberFactory(tenant=tenant)
    Message.objects.create(
        tenant=tenant, contact=contact, sending_number=number, kind=MessageKind.CONVERSATION,
        to_phone=contact.phone_e164, from_sender=number.sender, body="Yes, 8am to noon.",
        status=MessageStatus.DELIVERED,
    )  # fmt: skip
    events = contact_timeline(tenant=tenant, contact=contact)
    (reply,) = [event for event in events if event.kind.startswith("message.")]
    assert (reply.kind, reply.title, reply.body) == (
        "message.conversation",
        "Reply sent from the Inbox",
        "Yes, 8am to noon.",
    )
