"""Health checks for load balancers, Docker and operators.

``GET /health`` needs no login and reveals nothing about tenants: only whether the database,
Redis (when configured), the heartbeat of a worker on each queue (``worker:dispatch``,
``worker:imports``, ``worker:default``) and beat's heartbeat are healthy. Asking for ``worker``
runs every queue's worker check.
"""

from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from smscrm.heartbeats import BEAT, WORKER, heartbeat_ages, worker_components

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


def _available() -> dict[str, Callable[[], Check]]:
    available: dict[str, Callable[[], Check]] = {"database": _database}
    if settings.REDIS_URL:
        available["redis"] = _redis
    for component in worker_components():
        available[component] = _heartbeat(component)
    available[BEAT] = _heartbeat(BEAT)
    return available


def check_names() -> list[str]:
    """Every name ``run_checks`` accepts: the checks (redis even when not configured: then it
    selects nothing), and ``worker`` for all the worker checks."""
    return [*dict.fromkeys([*_available(), "redis"]), WORKER]


def _selected(name: str, names: list[str] | None) -> bool:
    if not names or name in names:
        return True
    return WORKER in names and name.startswith(f"{WORKER}:")


def run_checks(names: list[str] | None = None) -> tuple[bool, dict[str, Check]]:
    """Run the named checks (all by default; ``worker`` means every queue's); return (healthy,
    results by name)."""
    results: dict[str, Check] = {}
    for name, check in _available().items():
        if not _selected(name, names):
            continue
        try:
            results[name] = check()
        except Exception as exc:  # any failure is reported by name, never raised
            # The exception class and first line only: connection errors can quote URLs.
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            results[name] = {"status": "fail", "error": f"{type(exc).__name__}: {first_line}"[:200]}
    healthy = all(result["status"] == "ok" for result in results.values())
    return healthy, results


def _response(names: list[str] | None) -> JsonResponse:
    healthy, results = run_checks(names)
    body = {"status": "ok" if healthy else "fail", "checks": results}
    if not healthy:
        body["failing"] = sorted(name for name, r in results.items() if r["status"] != "ok")
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def health(request):
    """Everything: database, Redis, worker and beat heartbeats."""
    return _response(None)


@never_cache
@require_GET
def liveness(request):
    """The web process and its database only, for a container's own liveness probe."""
    return _response(["database"])
