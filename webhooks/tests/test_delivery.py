"""Delivering events to a real local receiver: signatures, retries, backoff, timeouts, disabling."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
import time_machine
from django.utils import timezone
from standardwebhooks import Webhook

from smscrm.testing.celery import publishing_to
from tenants.models import AuditEvent
from webhooks import delivery, tasks
from webhooks.delivery import LEASE, backoff
from webhooks.events import event_emit
from webhooks.models import DeliveryStatus, DisabledReason, EventType, WebhookAction, WebhookDelivery
from webhooks.tests.factories import SubscriptionFactory
from webhooks.tests.receiver import HANG

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)
OPTED_OUT = EventType.CONTACT_OPTED_OUT


def emit(tenant, capture, data=None) -> WebhookDelivery | None:
    """One contact.opted_out event, its attempt made at the commit (as a worker would at once)."""
    with capture(execute=True):
        event_emit(tenant_id=tenant.pk, type=OPTED_OUT, data=data or {"phone_e164": "+61412000001"})
    return WebhookDelivery.objects.order_by("-id").first()


def fresh(obj):
    obj.refresh_from_db()
    return obj


def test_a_delivery_is_signed_so_the_standard_webhooks_library_verifies_it(
    tenant, receiver, django_capture_on_commit_callbacks
):
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url("/in?src=crm"))
    sent = emit(tenant, django_capture_on_commit_callbacks, {"phone_e164": "+61412000001", "contact_id": 7})

    (request,) = receiver.requests
    body = Webhook(subscription.secret).verify(request.body, request.headers)
    assert body == {
        "id": str(sent.event_id),
        "type": "contact.opted_out",
        "timestamp": body["timestamp"],
        "tenant": {"id": tenant.pk, "slug": "acme"},
        "data": {"phone_e164": "+61412000001", "contact_id": 7},
    }
    assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None and body["timestamp"].endswith("Z")
    assert request.path == "/in?src=crm"
    assert request.headers["webhook-id"] == str(sent.event_id)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    sent = fresh(sent)
    assert (sent.status, sent.attempts, sent.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
    # Another secret does not verify: the signature is the subscription's own.
    with pytest.raises(Exception, match="signature"):
        Webhook(SubscriptionFactory.build().secret).verify(request.body, request.headers)


def test_backoff_doubles_from_30_seconds_to_at_most_an_hour():
    waits = [backoff(n).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(10_000) == dt.timedelta(hours=1)


def test_a_failing_receiver_is_retried_with_backoff_until_it_answers(
    tenant, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [500, 503, 200]
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        sent = emit(tenant, django_capture_on_commit_callbacks)
        sent, subscription = fresh(sent), fresh(subscription)
        assert (sent.status, sent.attempts, sent.last_status_code) == (DeliveryStatus.RETRYING, 1, 500)
        assert sent.next_attempt_at == subscription.retry_at == T0 + dt.timedelta(seconds=30)
        assert subscription.failing_since == T0 and sent.retry_until == T0 + dt.timedelta(hours=24)

        clock.move_to(T0 + dt.timedelta(seconds=29))
        tasks.deliver_due()
        assert len(receiver.requests) == 1  # not due yet

        clock.move_to(T0 + dt.timedelta(seconds=30))
        tasks.deliver_due()
        sent = fresh(sent)
        assert (sent.status, sent.attempts, sent.last_status_code) == (DeliveryStatus.RETRYING, 2, 503)
        assert sent.next_attempt_at == T0 + dt.timedelta(seconds=90)  # one minute after the second

        clock.move_to(T0 + dt.timedelta(seconds=90))
        tasks.deliver_due()
    sent, subscription = fresh(sent), fresh(subscription)
    assert (sent.status, sent.attempts, sent.last_status_code, sent.last_error) == (
        DeliveryStatus.DELIVERED, 3, 200, ""
    )  # fmt: skip
    assert (subscription.failing_since, subscription.retry_at, subscription.consecutive_failures) == (None, None, 0)
    # Every attempt is the same event (receivers drop repeats by webhook-id), signed afresh.
    assert {r.headers["webhook-id"] for r in receiver.requests} == {str(sent.event_id)}
    assert [int(r.headers["webhook-timestamp"]) for r in receiver.requests] == [
        int(T0.timestamp()), int(T0.timestamp()) + 30, int(T0.timestamp()) + 90
    ]  # fmt: skip


def test_no_answer_within_the_time_limit_is_a_failure(tenant, receiver, settings, django_capture_on_commit_callbacks):
    assert settings.WEBHOOKS_TIMEOUT_SECONDS == 5.0  # the default; shortened here to keep the test quick
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.answers, receiver.hang_seconds = [HANG], 3.0
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    started = time.monotonic()
    sent = fresh(emit(tenant, django_capture_on_commit_callbacks))
    assert time.monotonic() - started < 2.5  # not the 3 s the receiver would take
    assert (sent.status, sent.last_status_code, sent.last_error) == (
        DeliveryStatus.RETRYING, None, "No answer within 0.3 s."
    )  # fmt: skip


@pytest.mark.parametrize("status", [302, 404, 500])
def test_any_answer_but_2xx_is_a_failure_and_redirects_are_not_followed(
    tenant, receiver, status, django_capture_on_commit_callbacks
):
    receiver.answers = [status]
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    sent = fresh(emit(tenant, django_capture_on_commit_callbacks))
    assert (sent.status, sent.last_error) == (DeliveryStatus.RETRYING, f"The receiver answered HTTP {status}.")
    assert len(receiver.requests) == 1


def test_a_subscription_failing_for_24_hours_is_disabled(tenant, receiver, django_capture_on_commit_callbacks):
    receiver.answers = [500] * 200
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        sent = emit(tenant, django_capture_on_commit_callbacks)
        while fresh(subscription).is_active:
            sent = fresh(sent)
            assert sent.status == DeliveryStatus.RETRYING and timezone.now() < T0 + dt.timedelta(hours=25)
            clock.move_to(max(sent.next_attempt_at, fresh(subscription).retry_at))
            tasks.deliver_due()
        now = timezone.now()
    subscription, sent = fresh(subscription), fresh(sent)
    assert now >= T0 + dt.timedelta(hours=24) and subscription.disabled_at == now
    assert (subscription.is_active, subscription.disabled_reason) == (False, DisabledReason.FAILING)
    assert (sent.status, sent.retry_until) == (DeliveryStatus.FAILED, T0 + dt.timedelta(hours=24))
    # Backoff, not hammering: 30 s doubling to an hour apart over the day.
    assert 25 <= sent.attempts == len(receiver.requests) <= 35
    assert AuditEvent.objects.filter(tenant=tenant, action=WebhookAction.DISABLED_FAILING).count() == 1

    # Nothing more goes to it.
    emit(tenant, django_capture_on_commit_callbacks)
    assert len(receiver.requests) == sent.attempts


def test_successes_in_between_keep_a_subscription_enabled(tenant, receiver, django_capture_on_commit_callbacks):
    """A receiver that refuses one event for a day but takes the others is not disabled."""
    receiver.judge = lambda received: 400 if json.loads(received.body)["data"].get("poison") else 200
    subscription = SubscriptionFactory(tenant=tenant, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        refused = emit(tenant, django_capture_on_commit_callbacks, {"poison": True})
        others = []
        for hour in range(1, 27):
            clock.move_to(T0 + dt.timedelta(hours=hour))
            others.append(emit(tenant, django_capture_on_commit_callbacks, {"n": hour}))
            tasks.deliver_due()
            tasks.deliver_due()
    assert fresh(subscription).is_active
    assert fresh(refused).status == DeliveryStatus.FAILED  # given up on after 24 hours of its own failures
    assert {fresh(d).status for d in others} == {DeliveryStatus.DELIVERED}


def test_a_failing_url_gets_one_probe_at_a_time_then_the_rest(tenant, receiver, django_capture_on_commit_callbacks):
    receiver.answers = [500]
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        first = emit(tenant, django_capture_on_commit_callbacks)
        later = [emit(tenant, django_capture_on_commit_callbacks) for _ in range(3)]
        assert len(receiver.requests) == 1  # failing: the new events wait, no attempt of each
        assert {fresh(d).status for d in later} == {DeliveryStatus.PENDING}
        clock.move_to(T0 + dt.timedelta(seconds=30))
        tasks.deliver_due()
        assert len(receiver.requests) == 2  # one probe: the delivery waiting longest
        assert fresh(later[0]).status == DeliveryStatus.DELIVERED
        tasks.deliver_due()  # healthy again: everything due goes
    assert len(receiver.requests) == 5
    assert {fresh(d).status for d in [first, *later]} == {DeliveryStatus.DELIVERED}


def test_the_address_is_checked_at_every_delivery_and_the_checked_one_is_used(
    tenant, receiver, resolver, settings, django_capture_on_commit_callbacks
):
    # The name resolves to the receiver's address (loopback allowed): one look-up per attempt,
    # and the connection goes to the address checked, the request naming the host.
    resolver.names["hooks.example.test"] = ["127.0.0.1"]
    SubscriptionFactory(tenant=tenant, url=f"http://hooks.example.test:{receiver.port}/in")
    emit(tenant, django_capture_on_commit_callbacks)
    assert resolver.asked.count("hooks.example.test") == 1
    assert receiver.requests[0].headers["host"] == f"hooks.example.test:{receiver.port}"

    # It now answers a loopback address while private targets are refused (a rebinding name):
    # no request leaves, and the log says why.
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    sent = fresh(emit(tenant, django_capture_on_commit_callbacks))
    assert len(receiver.requests) == 1
    assert (sent.status, sent.last_status_code) == (DeliveryStatus.RETRYING, None)
    assert sent.last_error == (
        "hooks.example.test (127.0.0.1) is a loopback address: event webhooks go to public internet addresses only."
    )


def test_a_second_copy_of_an_attempt_does_nothing(tenant, receiver, django_capture_on_commit_callbacks):
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=False):
        event_emit(tenant_id=tenant.pk, type=OPTED_OUT, data={})
    sent = WebhookDelivery.objects.get()
    assert delivery.delivery_attempt(delivery_id=sent.pk, attempt=0) == DeliveryStatus.DELIVERED
    assert delivery.delivery_attempt(delivery_id=sent.pk, attempt=0) is None
    assert len(receiver.requests) == 1


def test_with_the_broker_down_the_event_waits_in_the_outbox_for_the_sweep(
    tenant, receiver, caplog, django_capture_on_commit_callbacks
):
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    with publishing_to("redis://127.0.0.1:1/0"):  # (kombu's connection retries need a running clock)
        sent = emit(tenant, django_capture_on_commit_callbacks)
    assert receiver.requests == [] and "webhooks.deliver not queued" in caplog.text
    sent = fresh(sent)
    assert sent.status == DeliveryStatus.PENDING and sent.next_attempt_at == sent.created_at + LEASE
    tasks.deliver_due()
    assert receiver.requests == []  # queued once: left alone until its lease lapses
    with time_machine.travel(sent.next_attempt_at, tick=False):
        tasks.deliver_due()
    assert fresh(sent).status == DeliveryStatus.DELIVERED
    assert json.loads(receiver.requests[0].body)["id"] == str(sent.event_id)


def test_closed_deliveries_leave_the_log_after_30_days(tenant, receiver, django_capture_on_commit_callbacks):
    SubscriptionFactory(tenant=tenant, url=receiver.url())
    with time_machine.travel(T0, tick=False) as clock:
        old = emit(tenant, django_capture_on_commit_callbacks)
        clock.move_to(T0 + dt.timedelta(days=30, seconds=1))
        recent = emit(tenant, django_capture_on_commit_callbacks)
        tasks.deliver_due()
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk != recent.pk
