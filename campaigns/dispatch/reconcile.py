"""The reconciler: jobs left ``sending`` by a worker that died are asked about at the provider,
never resent blindly (``reconcile_sending``)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns.models import Gate, GateOutcome, JobStatus, SendJob
from contacts.models import Contact
from messaging import services as messaging_services
from messaging.backends.base import OutboundSMS, SmsBackend, get_backend
from messaging.models import Message, MessageStatus


def reconcile_sending(*, backend: SmsBackend | None = None, older_than: timedelta | None = None) -> dict[str, int]:
    """Jobs left ``sending`` by a worker that died: ask the provider, never resend blindly.

    Found at the provider → sent. Provably never received (a provider that can look our
    reference up says no) → back to pending with the reservation released. Otherwise →
    ``unknown`` for a person to decide (resend or mark sent).
    """
    backend = backend or get_backend()
    older_than = older_than if older_than is not None else timedelta(seconds=settings.DISPATCH_STALE_SENDING_SECONDS)
    cutoff = timezone.now() - older_than
    counts = {"found": 0, "requeued": 0, "unknown": 0}
    with transaction.atomic():
        jobs = list(
            SendJob.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=JobStatus.SENDING, decided_at__lt=cutoff)
            .select_related("message", "message__sending_number__account", "tenant")
            .order_by("id")[:1000]
        )
        now = timezone.now()
        for job in jobs:
            message = job.message
            answer = None
            if message is not None and backend.can_lookup:
                answer = backend.lookup(
                    OutboundSMS(
                        reference=str(message.reference),
                        to=message.to_phone,
                        sender=message.from_sender,
                        body=message.body,
                        account=message.sending_number.account.credentials,
                        decided_at=message.created_at.timestamp(),
                    )
                )
            if answer is not None and answer.found:
                Message.objects.filter(pk=message.pk).update(
                    status=MessageStatus.QUEUED, provider_id=answer.provider_id, handed_off_at=message.created_at
                )
                SendJob.objects.filter(pk=job.pk).update(status=JobStatus.SENT)
                Contact.objects.filter(pk=job.contact_id).update(last_sent_at=message.created_at)
                counts["found"] += 1
            elif answer is not None and message is not None and answer.found is False:
                day, month = messaging_services.local_periods(job.tenant, message.created_at)
                messaging_services.reservation_release(tenant=job.tenant, messages=[message], day=day, month=month)
                SendJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.PENDING,
                    message=None,
                    gate=Gate.PROVIDER,
                    outcome=GateOutcome.DEFER,
                    reason="A worker stopped before hand-off; the provider confirmed it never received it.",
                    next_attempt_at=now,
                    decided_at=now,
                )
                Message.objects.filter(pk=message.pk).update(
                    status=MessageStatus.REJECTED, error_message="Never reached the provider (worker stopped)."
                )
                counts["requeued"] += 1
            else:
                if message is not None:
                    Message.objects.filter(pk=message.pk).update(status=MessageStatus.UNKNOWN)
                SendJob.objects.filter(pk=job.pk).update(
                    status=JobStatus.UNKNOWN,
                    gate=Gate.PROVIDER,
                    reason="A worker stopped mid hand-off and the provider cannot tell; decide before resending.",
                    decided_at=now,
                )
                counts["unknown"] += 1
    return counts
