"""Thin tasks of the messaging app."""

import logging

from celery import shared_task

from messaging import conversation_notify, events, replies, services, simulation, statuses
from messaging.backends.base import get_backend
from smscrm.locks import single_run

logger = logging.getLogger(__name__)


@shared_task(name="messaging.simulator_deliver", ignore_result=True)
def simulator_deliver(callbacks: list[list[str]]) -> None:
    """The simulator reporting delivery of the messages it accepted (see backends.simulator)."""
    simulation.deliver_callbacks(callbacks)


@shared_task(name="messaging.reconcile_prices", ignore_result=True)
@single_run("messaging.reconcile_prices", timeout=600)
def reconcile_prices() -> None:
    """Periodic: correct reserved spend with what the provider charged. One run at a time."""
    services.message_prices_reconcile(backend=get_backend())


@shared_task(name="messaging.apply_pending_events", ignore_result=True)
def apply_pending_events() -> int:
    """Periodic: status callbacks that beat their message's provider id (see messaging.events)."""
    return events.events_apply_pending()


@shared_task(name="messaging.look_up_statuses", ignore_result=True)
@single_run("messaging.look_up_statuses", timeout=600)
def look_up_statuses() -> None:
    """Periodic: ask the provider for final statuses it never reported (messaging.statuses)."""
    statuses.statuses_look_up(backend=get_backend())


@shared_task(name="messaging.send_conversation_reply", ignore_result=True)
def send_conversation_reply(message_id: int) -> str:
    """Hand a person's reply to the provider once committed (or at its scheduled instant)."""
    return replies.reply_hand_off(message_id=message_id)


@shared_task(name="messaging.sweep_conversation_replies", ignore_result=True)
@single_run("messaging.sweep_conversation_replies", timeout=300)
def sweep_conversation_replies() -> None:
    """Periodic: scheduled replies whose instant came, and replies whose task the broker lost."""
    replies.replies_sweep()


@shared_task(name="messaging.notify_waiting_conversations", ignore_result=True)
@single_run("messaging.notify_waiting_conversations", timeout=300)
def notify_waiting_conversations() -> None:
    """Periodic: e-mail whoever should answer threads left waiting (messaging.conversation_notify)."""
    conversation_notify.conversations_notify()


def reply_enqueue(message_id: int, *, eta=None) -> None:
    """Ask a worker to hand the reply over (at ``eta``); the sweep does it if the broker is down."""
    try:
        send_conversation_reply.apply_async((message_id,), eta=eta)
    except Exception:  # the reply is in the database: the sweep hands it over
        logger.warning("reply %s: not enqueued; the sweep will hand it over", message_id, exc_info=True)
