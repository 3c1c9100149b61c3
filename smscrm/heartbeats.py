"""Recording and reading the heartbeats of the worker and the beat scheduler."""

from django.utils import timezone

from smscrm.models import Heartbeat

WORKER = "worker"
BEAT = "beat"


def heartbeat_record(*, component: str) -> None:
    """Store now as the last sign of life of ``component`` (one upsert)."""
    Heartbeat.objects.update_or_create(component=component, defaults={"beat_at": timezone.now()})


def heartbeat_ages() -> dict[str, float | None]:
    """Seconds since each component's last heartbeat; None when it never beat."""
    now = timezone.now()
    seen = dict(Heartbeat.objects.values_list("component", "beat_at"))
    return {
        component: (now - seen[component]).total_seconds() if component in seen else None
        for component in (WORKER, BEAT)
    }
