"""Thin tasks: take an id, let the service check the state and do the work. Safe to run twice."""

from celery import shared_task

from contacts import services, uploads


@shared_task(name="contacts.import_preview", ignore_result=True, acks_late=True)
def contact_import_preview(import_id: int) -> None:
    services.contact_import_run_preview(import_id=import_id)


@shared_task(name="contacts.import_commit", ignore_result=True, acks_late=True)
def contact_import_commit(import_id: int) -> None:
    services.contact_import_run_commit(import_id=import_id)


@shared_task(name="contacts.resume_stalled_imports", ignore_result=True)
def resume_stalled_imports() -> None:
    """Periodic: imports whose task died are picked up again from their checkpoint."""
    services.contact_imports_resume_stalled()


@shared_task(name="contacts.sweep_incoming_uploads", ignore_result=True)
def sweep_incoming_uploads() -> None:
    """Periodic: files left by upload requests that died half-way."""
    uploads.incoming_sweep()
