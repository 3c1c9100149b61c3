"""Health checks for load balancers, Docker, operators and scripts/health-check.sh.

``GET /health`` needs no login and reveals nothing about tenants: only whether the database,
Redis (when configured), the heartbeat of a worker on each queue (``worker:dispatch``,
``worker:imports``, ``worker:default``) and beat's heartbeat are healthy, whether the Celery
queues are shorter than HEALTH_QUEUE_DEPTH_MAX (``queues``) and whether the oldest due send job
has waited less than HEALTH_OLDEST_DUE_MAX_SECONDS (``send_jobs``); and the default short
domain, for the script to try. Asking for ``worker`` runs every queue's worker check.
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from smscrm.heartbeats import BEAT, WORKER, heartbeat_ages, worker_components
from smscrm.metrics import due_send_jobs, queue_depths

Check = dict[str, object]


def _database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": "ok", "vendor": connection.vendor}


def _redis() -> Check:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {"status": "ok"}


def _heartbeat(component: str) -> Callable[[], Check]:
    # "worker:dispatch" -> "worker (queue dispatch)": the error says which queue has no worker.
    kind, _, queue = component.partition(":")
    who = f"{kind} (queue {queue})" if queue else kind

    def check() -> Check:
        age = heartbeat_ages()[component]
        limit = settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS
        if age is None:
            return {"status": "fail", "error": f"no {who} heartbeat recorded yet"}
        status = "ok" if age <= limit else "fail"
        result: Check = {"status": status, "age_seconds": round(age, 1)}
        if status == "fail":
            result["error"] = f"last {who} heartbeat {age:.0f}s ago (limit {limit}s)"
        return result

    return check


def _queues() -> Check:
    limit = settings.HEALTH_QUEUE_DEPTH_MAX
    try:
        depth = queue_depths()
    except Exception as exc:  # the broker is down: the depth is unknown, and that is a failure
        return {"status": "fail", "depth": {}, "limit": limit, "error": f"broker unreadable: {describe_error(exc)}"}
    if depth is None:
        return {"status": "ok", "depth": {}, "limit": limit, "note": "depth not measured on this broker"}
    result: Check = {"status": "ok", "depth": depth, "limit": limit}
    if not settings.REDIS_URL:
        result["note"] = "file-system broker: files waiting in its folder"
    over = [f"{queue} {n}" for queue, n in depth.items() if n > limit]
    if over:
        result.update(status="fail", error=f"tasks waiting: {', '.join(over)} (limit {limit})")
    return result


def _send_jobs() -> Check:
    due, oldest = due_send_jobs()
    limit = settings.HEALTH_OLDEST_DUE_MAX_SECONDS
    result: Check = {"status": "ok", "due": due, "oldest_due_seconds": round(oldest, 1), "limit": limit}
    if oldest > limit:
        error = f"the oldest of {due} due send jobs has waited {oldest:.0f}s (limit {limit}s)"
        result.update(status="fail", error=error)
    return result


def _available() -> dict[str, Callable[[], Check]]:
    available: dict[str, Callable[[], Check]] = {"database": _database}
    if settings.REDIS_URL:
        available["redis"] = _redis
    for component in worker_components():
        available[component] = _heartbeat(component)
    available[BEAT] = _heartbeat(BEAT)
    available["queues"] = _queues
    available["send_jobs"] = _send_jobs
    return available


def check_names() -> list[str]:
    """Every name ``run_checks`` accepts: the checks (redis even when not configured: then it
    selects nothing), and ``worker`` for all the worker checks."""
    return [*dict.fromkeys([*_available(), "redis"]), WORKER]


def describe_error(exc: Exception) -> str:
    """The exception's class and the first line of its message only (connection errors can quote
    URLs further down), at most 200 characters: for a check's answer."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}"[:200] if text else type(exc).__name__


def _selected(name: str, names: list[str] | None) -> bool:
    if not names or name in names:
        return True
    return WORKER in names and name.startswith(f"{WORKER}:")


def _reads_database(name: str) -> bool:
    # Heartbeats and send jobs are rows: with the database down, asking again only waits again.
    return name.startswith(f"{WORKER}:") or name in (BEAT, "send_jobs")


def run_checks(names: list[str] | None = None) -> tuple[bool, dict[str, Check]]:
    """Run the named checks (all by default; ``worker`` means every queue's); return (healthy,
    results by name, each with the milliseconds it took). When the database check fails, the
    checks that read the database fail without trying it again: a database that never answers
    costs one connect timeout, not one per check."""
    results: dict[str, Check] = {}
    for name, check in _available().items():
        if not _selected(name, names):
            continue
        if _reads_database(name) and results.get("database", {}).get("status") == "fail":
            results[name] = {"status": "fail", "error": "not checked: the database did not answer", "ms": 0.0}
            continue
        started = time.monotonic()
        try:
            results[name] = check()
        except Exception as exc:  # any failure is reported by name, never raised
            results[name] = {"status": "fail", "error": describe_error(exc)}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)  # health-check.sh prints it
    healthy = all(result["status"] == "ok" for result in results.values())
    return healthy, results


def _response(names: list[str] | None) -> JsonResponse:
    healthy, results = run_checks(names)
    body: dict[str, object] = {"status": "ok" if healthy else "fail", "checks": results}
    if not healthy:
        body["failing"] = sorted(name for name, r in results.items() if r["status"] != "ok")
    # Where short links live (scripts/health-check.sh asks it for a missing link); never secret.
    body["short_domain"] = settings.SHORT_DOMAIN
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def health(request):
    """Everything: database, Redis, worker and beat heartbeats, queue depths, due send jobs."""
    return _response(None)


@never_cache
@require_GET
def liveness(request):
    """The web process and its database only, for a container's own liveness probe."""
    return _response(["database"])
