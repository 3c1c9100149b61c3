"""A person's reply to a conversation: every refusal and allowance of ``conversation_reply``,
threads kept in step with their messages, scheduled replies, and the thread's reads (issue 19)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services as contact_services
from contacts.models import DncReason
from contacts.tests.factories import ContactFactory, mobile
from messaging import conversation_selectors as selectors
from messaging import replies
from messaging.backends import locmem
from messaging.conversations import (
    conversation_assign,
    conversation_close,
    conversation_mark_read,
    conversation_mark_unread,
    conversation_reply,
    conversation_reply_cancel,
)
from messaging.inbound import inbound_receive
from messaging.models import (
    Conversation,
    Message,
    MessageKind,
    MessageStatus,
    Price,
    SenderDailyCount,
    SenderIdStatus,
    SenderKind,
    SendingNumber,
    Spend,
)
from messaging.tests.signing import OUR_NUMBER, sid
from tenants.models import AuditEvent

SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")
CUSTOMER = mobile(777)


def sydney(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SYDNEY)


@pytest.fixture
def shop(tenant, account, number):
    Price.objects.create(tenant=tenant, country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1))
    return number


@pytest.fixture
def customer(tenant):
    """A contact in Sydney who has never given marketing consent."""
    return ContactFactory(tenant=tenant, phone_e164=CUSTOMER, state="NSW", first_name="Kim")


def text(tenant, account, body, *, at, phone=CUSTOMER):
    """Their text arriving at ``at`` through the webhook's service."""
    params = {"MessageSid": sid(), "From": phone, "To": OUR_NUMBER, "Body": body}
    return inbound_receive(tenant=tenant, params=params, account_id=account.id, at=at)


def reply(tenant, body="We are open 9 to 5.", *, phone=CUSTOMER, actor=None, **kwargs):
    return conversation_reply(tenant=tenant, phone=phone, body=body, actor=actor, **kwargs)


def refused(code: str, **kwargs) -> ValidationError:
    before = Message.objects.filter(kind=MessageKind.CONVERSATION).count()
    with pytest.raises(ValidationError) as caught:
        reply(**kwargs)
    assert caught.value.code == code
    assert Message.objects.filter(kind=MessageKind.CONVERSATION).count() == before  # no message
    return caught.value


# --- threads in step with their messages --------------------------------------------------------


@pytest.mark.django_db
def test_texts_open_one_thread_counting_unread_until_read_or_answered(tenant, account, shop, customer, members):
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Are you open on Boxing Day?", at=at)
        text(tenant, account, "And the day after?", at=at + dt.timedelta(minutes=1))
    thread = Conversation.objects.get(tenant=tenant)
    assert (thread.phone_e164, thread.contact, thread.unread_count, thread.needs_reply) == (CUSTOMER, customer, 2, True)
    assert thread.waiting_since == at  # their first unanswered text
    assert thread.last_body == "And the day after?"
    assert selectors.unread_conversation_count(tenant=tenant) == 1

    conversation_mark_read(conversation=thread, actor=members["staff"])
    assert selectors.unread_conversation_count(tenant=tenant) == 0
    assert not Message.objects.filter(kind=MessageKind.INBOUND, read_at__isnull=True).exists()  # the inbox too
    conversation_mark_unread(conversation=thread, actor=members["staff"])
    assert selectors.unread_conversation_count(tenant=tenant) == 1

    with time_machine.travel(at + dt.timedelta(minutes=5), tick=False):
        text(tenant, account, "Hello?", at=at + dt.timedelta(minutes=5))
        assert Conversation.objects.get().unread_count == 2
        reply(tenant, actor=members["staff"])
    thread.refresh_from_db()
    assert (thread.unread_count, thread.needs_reply, thread.waiting_since) == (0, False, None)
    assert thread.last_direction == "out"
    assert selectors.unread_conversation_count(tenant=tenant) == 0


@pytest.mark.django_db
def test_stop_lands_in_the_thread_answered_automatically_and_refuses_replies(tenant, account, shop, customer):
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "STOP", at=at)
        thread = Conversation.objects.get(tenant=tenant)
        assert not thread.needs_reply  # answered in full by the automatic confirmation
        kinds = [m.kind for m in selectors.conversation_thread(tenant=tenant, phone=CUSTOMER).messages]
        assert kinds == [MessageKind.INBOUND, MessageKind.REPLY]
        error = refused("do_not_contact", tenant=tenant)
    assert "do-not-contact" in error.messages[0]
    assert locmem.outbox == []


@pytest.mark.django_db
def test_a_contacts_campaign_messages_join_the_thread_their_text_opens(tenant, account, shop, customer, message):
    at = sydney(2026, 11, 25, 14, 0)
    Message.objects.filter(pk=message.pk).update(
        contact=customer, to_phone=CUSTOMER, created_at=at - dt.timedelta(days=1)
    )
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Are you open on Boxing Day?", at=at)
    thread = selectors.conversation_thread(tenant=tenant, phone="0412 000 777")
    assert [m.kind for m in thread.messages] == [MessageKind.CAMPAIGN, MessageKind.INBOUND]
    assert thread.conversation.campaign_id == message.campaign_id


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_refused_while_the_business_is_paused(tenant, account, shop, customer):
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Open today?", at=at)
        tenant.is_paused = True
        tenant.save(update_fields=["is_paused"])
        assert "paused" in refused("paused", tenant=tenant).messages[0]


@pytest.mark.django_db
def test_a_reply_that_would_pass_the_cap_is_refused_with_the_figures(tenant, account, shop, customer):
    tenant.daily_budget_cents = 7
    tenant.save(update_fields=["daily_budget_cents"])
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Open today?", at=at)
        reply(tenant, "Yes")  # 5 cents of 7
        error = refused("over_budget", tenant=tenant, body="Yes, until 5")
    assert "$0.05" in error.messages[0] and "$0.02" in error.messages[0] and "$0.07" in error.messages[0]
    assert Spend.objects.get(tenant=tenant, period="day").cents == 5


@pytest.mark.django_db
def test_stranger_on_a_long_code_is_answered_from_the_number_they_wrote_to(tenant, account, shop, settings):
    stranger = mobile(888)
    at = sydney(2026, 11, 25, 14, 0)
    other = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485000002")
    assert other.id > shop.id
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Who is this?", at=at, phone=stranger)
        sent = reply(tenant, "Acme Bakery here!", phone=stranger.replace("+61", "0"))
        assert replies.reply_hand_off(message_id=sent.pk) == "sent"
    sent.refresh_from_db()
    assert (sent.to_phone, sent.from_sender, sent.status) == (stranger, OUR_NUMBER, MessageStatus.QUEUED)
    assert [(sms.to, sms.sender, sms.body) for sms in locmem.outbox] == [(stranger, OUR_NUMBER, "Acme Bakery here!")]
    assert SenderDailyCount.objects.get(sending_number=shop).count == 1  # warmup counted


@pytest.mark.django_db
def test_a_stranger_on_an_alphanumeric_sender_cannot_be_answered(tenant, account, shop):
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Your parcel is on its way", at=at, phone="PARCELCO")
        assert Conversation.objects.filter(phone_e164="PARCELCO").exists()
        assert "alphanumeric" in refused("alpha_sender", tenant=tenant, phone="PARCELCO").messages[0]


@pytest.mark.django_db
def test_no_sender_that_can_send_is_a_refusal(tenant, account, shop, customer):
    at = sydney(2026, 11, 25, 14, 0)
    with time_machine.travel(at, tick=False):
        text(tenant, account, "Open?", at=at)
        SendingNumber.objects.filter(tenant=tenant).update(is_active=False)
        refused("no_sender", tenant=tenant)


@pytest.mark.django_db
def test_an_alpha_sender_is_only_used_when_no_number_can(tenant, account, shop, customer):
    alpha = SendingNumber.objects.create(
        tenant=tenant, account=account, sender="AcmeBakery", kind=SenderKind.ALPHA,
        sender_id_status=SenderIdStatus.REGISTERED,
    )  # fmt: skip
    customer.consent_status = "express"
    customer.save(update_fields=["consent_status"])
    with time_machine.travel(sydney(2026, 11, 25, 14, 0), tick=False):
        assert reply(tenant).from_sender == OUR_NUMBER
        SendingNumber.objects.filter(pk=shop.pk).update(is_active=False)
        assert reply(tenant).from_sender == alpha.sender


# --- the 72-hour consent window -----------------------------------------------------------------


@pytest.mark.django_db
def test_within_72_hours_a_reply_needs_no_consent_after_it_does_across_dst(tenant, account, shop, customer):
    # Sydney's clocks go forward on 4 Oct 2026: 72 hours after 12:00 on the 2nd is 13:00 on the 5th.
    at = sydney(2026, 10, 2, 12, 0)
    text(tenant, account, "Do you deliver?", at=at)
    inside = sydney(2026, 10, 5, 12, 59)
    assert inside.astimezone(dt.UTC) - at.astimezone(dt.UTC) < dt.timedelta(hours=72)
    with time_machine.travel(inside, tick=False):
        assert reply(tenant).status == MessageStatus.SENDING
    with time_machine.travel(sydney(2026, 10, 5, 13, 1), tick=False):
        error = refused("no_consent", tenant=tenant)
    assert "more than 72 hours ago" in error.messages[0] and "consent" in error.messages[0]


@pytest.mark.django_db
def test_after_72_hours_a_contact_with_consent_may_be_written_to(tenant, account, shop):
    ContactFactory(tenant=tenant, phone_e164=CUSTOMER, state="NSW", consent="express")
    text(tenant, account, "Thanks", at=sydney(2026, 11, 1, 12, 0))
    with time_machine.travel(sydney(2026, 11, 25, 14, 0), tick=False):
        assert reply(tenant).status == MessageStatus.SENDING


@pytest.mark.django_db
def test_a_stranger_who_never_texted_cannot_be_written_to(tenant, shop):
    with time_machine.travel(sydney(2026, 11, 25, 14, 0), tick=False):
        assert "has not texted" in refused("no_consent", tenant=tenant, phone=mobile(999)).messages[0]


# --- quiet hours and the 2-hour window ----------------------------------------------------------


@pytest.mark.parametrize(
    ("texted", "replied", "expected"),
    [
        # Within 2 hours of their text: at once, even at night and across midnight.
        (sydney(2026, 11, 25, 21, 30), sydney(2026, 11, 25, 23, 29), None),
        (sydney(2026, 11, 25, 23, 0), sydney(2026, 11, 26, 0, 30), None),
        # Later: quiet hours apply, and the reply waits for 09:00 in the recipient's zone.
        (sydney(2026, 11, 25, 21, 30), sydney(2026, 11, 25, 23, 31), sydney(2026, 11, 26, 9, 0)),
        (sydney(2026, 11, 25, 22, 0), sydney(2026, 11, 26, 0, 30), sydney(2026, 11, 26, 9, 0)),
        # 4 Oct 2026, clocks forward at 02:00: 01:00 → 03:50 on the wall is 1 h 50 min.
        (sydney(2026, 10, 4, 1, 0), sydney(2026, 10, 4, 3, 50), None),
        (sydney(2026, 10, 4, 1, 0), sydney(2026, 10, 4, 4, 10), sydney(2026, 10, 4, 9, 0)),
        # 4 Apr 2027, clocks back at 03:00: 01:30 (AEDT) → 02:50 (AEST) on the wall is 2 h 20 min.
        (sydney(2027, 4, 4, 1, 30), dt.datetime(2027, 4, 4, 2, 50, tzinfo=SYDNEY, fold=1), sydney(2027, 4, 4, 9, 0)),
    ],
)
@pytest.mark.django_db
def test_quiet_hours_apply_unless_they_wrote_in_the_last_two_hours(
    tenant, account, shop, customer, texted, replied, expected
):
    text(tenant, account, "Still open?", at=texted)
    with time_machine.travel(replied, tick=False):
        sent = reply(tenant)
    if expected is None:
        assert (sent.status, sent.scheduled_for) == (MessageStatus.SENDING, replied)
    else:
        assert (sent.status, sent.scheduled_for) == (MessageStatus.SCHEDULED, expected)
        assert AuditEvent.objects.filter(action="conversation.reply_scheduled").count() == 1


@pytest.mark.django_db
def test_a_scheduled_reply_goes_at_its_instant_and_can_be_cancelled_before(tenant, account, shop, customer, members):
    text(tenant, account, "Open tomorrow?", at=sydney(2026, 11, 25, 19, 0))
    with time_machine.travel(sydney(2026, 11, 25, 22, 0), tick=False):
        first = reply(tenant, "Yes, from 9.")
        second = reply(tenant, "Also from 9.")
        assert Spend.objects.get(tenant=tenant, period="day").cents == 10
        conversation_reply_cancel(message=second, actor=members["staff"])
        assert Spend.objects.get(tenant=tenant, period="day").cents == 5  # given back
        with pytest.raises(ValidationError) as caught:
            conversation_reply_cancel(message=second, actor=members["staff"])
        assert caught.value.code == "not_scheduled"
    with time_machine.travel(sydney(2026, 11, 26, 8, 59, 59), tick=False):
        assert replies.replies_sweep() == 0
    with time_machine.travel(sydney(2026, 11, 26, 9, 0), tick=False):
        assert replies.replies_sweep() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (MessageStatus.QUEUED, MessageStatus.CANCELLED)
    assert [sms.body for sms in locmem.outbox] == ["Yes, from 9."]
    with pytest.raises(ValidationError):
        conversation_reply_cancel(message=first, actor=members["staff"])  # gone already
    assert AuditEvent.objects.filter(action="conversation.reply_cancelled").count() == 1


@pytest.mark.django_db
def test_a_reply_is_handed_over_on_commit(tenant, account, shop, customer, django_capture_on_commit_callbacks):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    with time_machine.travel(sydney(2026, 11, 25, 14, 5), tick=False), django_capture_on_commit_callbacks(execute=True):
        sent = reply(tenant)
    sent.refresh_from_db()
    assert sent.status == MessageStatus.QUEUED and sent.provider_id
    assert [sms.to for sms in locmem.outbox] == [CUSTOMER]


@pytest.mark.django_db
def test_a_number_that_opts_out_before_the_hand_off_gets_nothing(tenant, account, shop, customer):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    with time_machine.travel(sydney(2026, 11, 25, 14, 5), tick=False):
        sent = reply(tenant)
        contact_services.dnc_add(tenant=tenant, phone=CUSTOMER, reason=DncReason.STOP_KEYWORD, actor=None)
        replies.replies_sweep(now=sydney(2026, 11, 25, 14, 6))
    sent.refresh_from_db()
    assert sent.status == MessageStatus.REJECTED and locmem.outbox == []
    assert Spend.objects.get(tenant=tenant, period="day").cents == 0


# --- exactly once -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_same_token_twice_sends_one_message(tenant, account, shop, customer, django_capture_on_commit_callbacks):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    with time_machine.travel(sydney(2026, 11, 25, 14, 5), tick=False), django_capture_on_commit_callbacks(execute=True):
        first = reply(tenant, idempotency_token="form-123")
        again = reply(tenant, idempotency_token="form-123")
    assert first.pk == again.pk
    assert len(locmem.outbox) == 1
    assert Message.objects.filter(kind=MessageKind.CONVERSATION).count() == 1


# --- the thread's working aids and reads --------------------------------------------------------


@pytest.mark.django_db
def test_assign_only_to_a_member_and_close_are_audited(tenant, account, shop, customer, members, other_owner):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    thread = Conversation.objects.get()
    with pytest.raises(ValidationError) as caught:
        conversation_assign(conversation=thread, assignee=other_owner, actor=members["staff"])
    assert caught.value.code == "not_member"
    conversation_assign(conversation=thread, assignee=members["staff"], actor=members["admin"])
    conversation_close(conversation=thread, actor=members["staff"])
    assert list(
        AuditEvent.objects.filter(action__startswith="conversation.").order_by("id").values_list("action", flat=True)
    ) == [
        "conversation.assigned",
        "conversation.closed",
    ]
    page = selectors.conversations_for(
        tenant=tenant, filters=selectors.ConversationFilters(assigned_to=members["staff"].pk)
    )
    assert [c.phone_e164 for c in page.items] == [CUSTOMER]
    text(tenant, account, "Hello again", at=sydney(2026, 11, 25, 15, 0))
    assert Conversation.objects.get().closed_at is None  # a new text opens it again


@pytest.mark.django_db
def test_the_list_filters_searches_and_pages_by_keyset(tenant, account, shop, customer):
    base = sydney(2026, 11, 25, 10, 0)
    for n in range(5):
        text(tenant, account, f"Text {n}", at=base + dt.timedelta(minutes=n), phone=mobile(100 + n))
    text(tenant, account, "Hi", at=base + dt.timedelta(minutes=10))  # Kim's
    contact_services.dnc_add(tenant=tenant, phone=mobile(101), reason=DncReason.STOP_KEYWORD, actor=None)
    everything = selectors.ConversationFilters()
    first = selectors.conversations_for(tenant=tenant, filters=everything, limit=4)
    second = selectors.conversations_for(tenant=tenant, filters=everything, after=first.after, limit=4)
    phones = [c.phone_e164 for c in first.items + second.items]
    assert phones == [CUSTOMER, *[mobile(100 + n) for n in range(4, -1, -1)]]
    assert second.after is None

    def found(**filters):
        return [
            c.phone_e164
            for c in selectors.conversations_for(tenant=tenant, filters=selectors.ConversationFilters(**filters)).items
        ]

    assert found(search="kim") == [CUSTOMER]
    assert found(search="0412 000 103") == [mobile(103)]
    assert found(search="000104") == [mobile(104)]
    assert found(opted_out=True) == [mobile(101)]
    assert found(needs_reply=True, search="+61412000100") == [mobile(100)]
    with pytest.raises(ValidationError):
        selectors.conversations_for(tenant=tenant, after="nonsense")


@pytest.mark.django_db
def test_another_tenants_thread_is_not_found(tenant, other_tenant, account, shop):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    assert selectors.conversation_thread(tenant=other_tenant, phone=CUSTOMER) is None
    assert selectors.conversations_for(tenant=other_tenant).items == []


@pytest.mark.django_db
def test_reading_a_thread_costs_the_same_queries_however_long_it_is(tenant, account, shop, customer):
    def queries_for(n: int, phone: str) -> int:
        for i in range(n):
            text(tenant, account, f"Text {i}", at=sydney(2026, 11, 25, 10, 0) + dt.timedelta(minutes=i), phone=phone)
        with CaptureQueriesContext(connection) as captured:
            thread = selectors.conversation_thread(tenant=tenant, phone=phone)
            assert len(thread.messages) == n
            [(m.campaign, m.body) for m in thread.messages]
        return len(captured.captured_queries)

    assert queries_for(2, mobile(201)) == queries_for(30, mobile(202))


@pytest.mark.django_db
def test_the_sweep_hands_over_a_reply_whose_task_was_lost(tenant, account, shop, customer):
    text(tenant, account, "Open?", at=sydney(2026, 11, 25, 14, 0))
    with time_machine.travel(sydney(2026, 11, 25, 14, 5), tick=False):
        sent = reply(tenant)  # its task never ran (the broker was down)
        assert replies.replies_sweep() == 0  # not yet: its task may still be on its way
    with time_machine.travel(sydney(2026, 11, 25, 14, 5, 11), tick=False):
        assert replies.replies_sweep() == 1
        assert replies.replies_sweep() == 0  # once
    sent.refresh_from_db()
    assert sent.status == MessageStatus.QUEUED and len(locmem.outbox) == 1
