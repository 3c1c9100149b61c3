"""Thin tasks of the messaging app."""

from celery import shared_task

from messaging import simulation


@shared_task(name="messaging.simulator_deliver", ignore_result=True)
def simulator_deliver(callbacks: list[list[str]]) -> None:
    """The simulator reporting delivery of the messages it accepted (see backends.simulator)."""
    simulation.deliver_callbacks(callbacks)
