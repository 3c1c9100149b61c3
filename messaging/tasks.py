"""Thin tasks of the messaging app."""

from celery import shared_task

from messaging import events, services, simulation, statuses
from messaging.backends.base import get_backend
from smscrm.locks import single_run


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
