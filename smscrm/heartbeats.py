"""Recording and reading the heartbeats of the workers (one per queue) and the beat scheduler."""

from django.conf import settings
from django.utils import timezone

from smscrm.models import Heartbeat

WORKER = "worker"
BEAT = "beat"


def worker_component(queue: str) -> str:
    """The component a worker consuming ``queue`` beats as: ``worker:<queue>``."""
    return f"{WORKER}:{queue}"


def worker_components() -> list[str]:
    """One worker component per queue of settings.WORKER_QUEUES: each needs a live worker."""
    return [worker_component(queue) for queue in settings.WORKER_QUEUES]


def heartbeat_record(*, component: str) -> None:
    """Store now as the last sign of life of ``component`` (one upsert)."""
    Heartbeat.objects.update_or_create(component=component, defaults={"beat_at": timezone.now()})


def heartbeat_ages() -> dict[str, float | None]:
    """Seconds since each component's last heartbeat; None when it never beat."""
    now = timezone.now()
    seen = dict(Heartbeat.objects.values_list("component", "beat_at"))
    return {
        component: (now - seen[component]).total_seconds() if component in seen else None
        for component in (*worker_components(), BEAT)
    }
