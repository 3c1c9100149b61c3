"""E-mails about threads left waiting (issue 19): run by beat through messaging.tasks.

A thread waits when their message is the last one a person must answer (``needs_reply``) and
has waited longer than ``CONVERSATION_NOTIFY_AFTER_MINUTES`` since ``waiting_since``. It is
told to its assignee, or to the tenant's admins and owners when nobody has it; each recipient
gets one e-mail per run listing all their threads, and a thread is told at most once an hour
(``Conversation.notified_at``).

Only in business hours: 9:00 to 17:00 in the tenant's own time zone, every day. The sending
window (quiet hours) is about when customers may be texted and runs into the evening; this is
about when staff are at work, so nobody is e-mailed at midnight about a text from 23:00 (it is
told at 9:00 the next morning).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from messaging.conversation_models import Conversation
from tenants.models import Membership
from tenants.roles import Role

BUSINESS_HOURS = (9, 17)  # from 9:00, until 17:00, in the tenant's zone
AT_MOST_EVERY = timedelta(hours=1)
#: Threads looked at per run (the oldest waits first); the next run takes the rest.
BATCH = 500


def in_business_hours(tenant, now: datetime) -> bool:
    start, end = BUSINESS_HOURS
    return start <= timezone.localtime(now, tenant.zone).hour < end


def conversations_notify(*, now: datetime | None = None) -> int:
    """E-mail the people who should answer the threads waiting too long; the threads told."""
    now = now or timezone.now()
    waited = now - timedelta(minutes=settings.CONVERSATION_NOTIFY_AFTER_MINUTES)
    waiting = (
        Conversation.objects.filter(needs_reply=True, closed_at__isnull=True, waiting_since__lte=waited)
        .filter(Q(notified_at__isnull=True) | Q(notified_at__lte=now - AT_MOST_EVERY))
        .select_related("tenant", "contact", "assigned_to")
        .order_by("waiting_since", "id")[:BATCH]
    )
    by_recipient: dict[str, list[Conversation]] = defaultdict(list)
    admins: dict[int, list[str]] = {}
    told: list[int] = []
    for thread in waiting:
        if not in_business_hours(thread.tenant, now):
            continue
        if thread.assigned_to_id and thread.assigned_to.email:
            recipients = [thread.assigned_to.email]
        else:
            if thread.tenant_id not in admins:
                admins[thread.tenant_id] = list(
                    Membership.objects.filter(tenant_id=thread.tenant_id, role__in=(Role.ADMIN, Role.OWNER))
                    .exclude(user__email="")
                    .values_list("user__email", flat=True)
                )
            recipients = admins[thread.tenant_id]
        for email in recipients:
            by_recipient[email].append(thread)
        told.append(thread.id)
    for email, threads in by_recipient.items():
        send_mail(
            subject=f"{len(threads)} conversation{'s' if len(threads) != 1 else ''} waiting for an answer",
            message=_body(threads, now),
            from_email=None,
            recipient_list=[email],
        )
    Conversation.objects.filter(id__in=told).update(notified_at=now)
    return len(told)


def _body(threads: list[Conversation], now: datetime) -> str:
    lines = ["These conversations are waiting for an answer:", ""]
    for thread in threads:
        who = thread.contact.display_name if thread.contact and thread.contact.display_name else thread.phone_e164
        minutes = int((now - thread.waiting_since).total_seconds() // 60)
        url = settings.PUBLIC_BASE_URL + reverse("messaging:thread", args=[thread.phone_e164])
        lines += [
            f"- {who} ({thread.phone_e164}, {thread.tenant.name}), waiting {minutes} min: {thread.last_body}",
            f"  {url}",
        ]
    return "\n".join(lines)
