"""Thin tasks of the links app."""

from celery import shared_task

from links import clicks


@shared_task(name="links.flush_clicks", ignore_result=True)
def flush_clicks() -> int:
    """Periodic (2 s): record the queued clicks (see links.clicks)."""
    return clicks.flush()
