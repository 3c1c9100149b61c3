"""Prometheus metrics (issue 20): counters and histograms written where events happen, read by
``GET /metrics``.

Web, workers and beat are separate processes, so a process's own memory would show a scrape
only the web's share. Counters and histograms therefore live in Redis (one hash per metric,
HINCRBY / HINCRBYFLOAT on fixed buckets), and the web builds the exposition from Redis at each
scrape. Without REDIS_URL (``make run``, development) they stay in this process's memory.

Writing never fails the caller: when Redis is down the increment is dropped and logged at
debug. Hot paths write once per batch (``record`` takes many increments, one pipeline call).

Labels are bounded: never a tenant id, phone number or message id on these metrics; only
small fixed sets (status, error code, gate, outcome, kind, result, queue, component).

Gauges are computed at scrape: due send jobs (one indexed COUNT), Celery queue depth (LLEN of
each queue's list in the broker Redis), heartbeat ages (smscrm.heartbeats). ``/health`` reads
the first two through the same functions (``due_send_jobs``, ``queue_depths``).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

KEY_PREFIX = "smscrm:metrics:"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # "counter" or "histogram"
    doc: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = LATENCY_BUCKETS


METRICS = {
    metric.name: metric
    for metric in (
        Metric("smscrm_messages_handed_over_total", "counter", "Hand-off answers by outcome.", ("outcome",)),
        Metric("smscrm_handoff_seconds", "histogram", "Seconds one dispatcher batch took to hand over."),
        Metric("smscrm_provider_rate_limited_total", "counter", "Provider 429 answers at hand-off."),
        Metric("smscrm_provider_retries_total", "counter", "Hand-offs sent back to wait and retry."),
        Metric(
            "smscrm_message_status_total",
            "counter",
            "Status callbacks that moved a message, by status and provider error code.",
            ("status", "error_code"),
        ),
        Metric("smscrm_gate_decisions_total", "counter", "Send-job decisions by gate, outcome.", ("gate", "outcome")),
        Metric("smscrm_webhook_requests_total", "counter", "Provider webhooks by kind, result.", ("kind", "result")),
        Metric("smscrm_webhook_seconds", "histogram", "Seconds to answer a provider webhook.", ("kind",)),
        Metric("smscrm_stop_to_dnc_seconds", "histogram", "Seconds from an opt-out text's receipt to its DNC commit."),
        Metric("smscrm_redirects_total", "counter", "Short-link redirects served."),
        Metric("smscrm_link_clicks_total", "counter", "Recorded short-link clicks by human or bot.", ("kind",)),
        Metric("smscrm_import_rows_total", "counter", "Contact import rows committed, by result.", ("result",)),
    )
}

# ---- writing -------------------------------------------------------------------------------

_memory: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
_memory_lock = threading.Lock()
_client_cache: dict[str, object] = {}
# After a failed write, writes are dropped for this long without trying Redis again.
RETRY_AFTER_SECONDS = 5.0
_redis_down_until = [0.0]


def _redis():
    import redis

    client = _client_cache.get(settings.REDIS_URL)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
        _client_cache.clear()
        _client_cache[settings.REDIS_URL] = client
    return client


def _series(metric: Metric, labels: dict | None) -> str:
    labels = labels or {}
    return json.dumps([str(labels.get(name, "")) for name in metric.labels])


def _bucket(metric: Metric, value: float) -> str:
    return repr(next((bound for bound in metric.buckets if value <= bound), math.inf))


Increment = tuple[str, dict | None, float]  # (metric name, labels, amount or observed value)


def record(*, counters: Iterable[Increment] = (), observations: Iterable[Increment] = ()) -> None:
    """Add ``counters`` (name, labels, n) and ``observations`` (name, labels, value) in one
    Redis round trip (in memory without REDIS_URL). Never raises."""
    try:
        writes: list[tuple[str, str, float]] = []
        for name, labels, n in counters:
            if n:
                writes.append((name, _series(METRICS[name], labels), int(n)))
        for name, labels, value in observations:
            metric = METRICS[name]
            series = _series(metric, labels)
            writes += [
                (name, f"{series}|le={_bucket(metric, value)}", 1),
                (name, f"{series}|count", 1),
                (name, f"{series}|sum", float(value)),
            ]
        if not writes:
            return
        if settings.REDIS_URL:
            if time.monotonic() < _redis_down_until[0]:
                return  # it failed a moment ago: no request waits on it again so soon
            pipe = _redis().pipeline(transaction=False)
            for name, field, amount in writes:
                if isinstance(amount, int):
                    pipe.hincrby(KEY_PREFIX + name, field, amount)
                else:
                    pipe.hincrbyfloat(KEY_PREFIX + name, field, amount)
            pipe.execute()
        else:
            with _memory_lock:
                for name, field, amount in writes:
                    _memory[name][field] += amount
    except Exception:  # metrics never fail a request or a task
        _redis_down_until[0] = time.monotonic() + RETRY_AFTER_SECONDS
        logger.debug("metrics write dropped", exc_info=True)


def counter_inc(name: str, labels: dict | None = None, n: int = 1) -> None:
    """Add ``n`` to counter ``name`` with ``labels``."""
    record(counters=[(name, labels, n)])


def histogram_observe(name: str, labels: dict | None, value: float) -> None:
    """Count ``value`` in histogram ``name`` with ``labels``."""
    record(observations=[(name, labels, value)])


def stored() -> dict[str, dict[str, float]]:
    """Every metric's stored fields (one Redis pipeline), for the scrape and for tests."""
    if not settings.REDIS_URL:
        with _memory_lock:
            return {name: dict(_memory[name]) for name in METRICS}
    pipe = _redis().pipeline(transaction=False)
    for name in METRICS:
        pipe.hgetall(KEY_PREFIX + name)
    return {
        name: {field.decode(): float(value) for field, value in fields.items()}
        for name, fields in zip(METRICS, pipe.execute(), strict=True)
    }


def reset() -> None:
    """Forget every stored value (tests)."""
    _redis_down_until[0] = 0.0
    if settings.REDIS_URL:
        _redis().delete(*(KEY_PREFIX + name for name in METRICS))
    with _memory_lock:
        _memory.clear()


# ---- reading -------------------------------------------------------------------------------


class StoreCollector:
    """Builds every metric family from the store and the scrape-time gauges."""

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        try:
            values = stored()
        except Exception:
            logger.warning("metrics store unreadable", exc_info=True)
            values = {name: {} for name in METRICS}
        for metric in METRICS.values():
            fields = values[metric.name]
            if metric.kind == "counter":
                family = CounterMetricFamily(metric.name, metric.doc, labels=metric.labels)
                if not metric.labels and not fields:
                    family.add_metric([], 0)
                for series, value in sorted(fields.items()):
                    family.add_metric(json.loads(series), value)
            else:
                family = HistogramMetricFamily(metric.name, metric.doc, labels=metric.labels)
                for series in sorted({field.rpartition("|")[0] for field in fields}):
                    cumulative, buckets = 0.0, []
                    for bound in (*metric.buckets, math.inf):
                        cumulative += fields.get(f"{series}|le={bound!r}", 0)
                        buckets.append(("+Inf" if bound == math.inf else repr(bound), cumulative))
                    family.add_metric(json.loads(series), buckets, fields.get(f"{series}|sum", 0.0))
            yield family
        yield from _gauges(GaugeMetricFamily)


def due_send_jobs(now=None) -> tuple[int, float]:
    """(how many, age in seconds of the oldest) of the send jobs the dispatcher should be working
    on now: pending, their time come, in a running campaign of an unpaused tenant (a paused
    campaign's or tenant's jobs wait on a person, not on the dispatcher). One indexed query."""
    from django.db.models import Count, Min

    from campaigns.models import CampaignStatus, JobStatus, SendJob

    now = now or timezone.now()
    due = SendJob.objects.filter(
        status=JobStatus.PENDING,
        next_attempt_at__lte=now,
        campaign__status=CampaignStatus.RUNNING,
        campaign__tenant__is_paused=False,
    ).aggregate(n=Count("id"), oldest=Min("next_attempt_at"))
    return due["n"], (now - due["oldest"]).total_seconds() if due["oldest"] else 0.0


def queue_depths() -> dict[str, int] | None:
    """Messages waiting in each Celery queue of WORKER_QUEUES: LLEN of the queue's list in the
    broker Redis, or the queue's files in the file-system broker's folder (``make run``); None
    for any other broker. Raises when the broker cannot be read."""
    if settings.REDIS_URL:  # the broker (settings: CELERY_BROKER_URL is REDIS_URL when set)
        pipe = _redis().pipeline(transaction=False)
        for queue in settings.WORKER_QUEUES:
            pipe.llen(queue)
        return dict(zip(settings.WORKER_QUEUES, pipe.execute(), strict=True))
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # kombu's file-system transport: one file "<stamp>_<uuid>.<queue>.msg" per message.
        names = os.listdir(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        suffixes = [name.partition(".")[2] for name in names]
        return {queue: suffixes.count(f"{queue}.msg") for queue in settings.WORKER_QUEUES}
    return None


def _gauges(GaugeMetricFamily):  # noqa: N803 - the class, passed in to keep the import lazy
    from smscrm.heartbeats import heartbeat_ages

    due, oldest = due_send_jobs()
    yield GaugeMetricFamily("smscrm_send_jobs_due", "Send jobs the dispatcher should be on now.", value=due)
    yield GaugeMetricFamily("smscrm_send_jobs_oldest_due_seconds", "Age of the oldest due send job.", value=oldest)

    depth = GaugeMetricFamily("smscrm_celery_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
    try:
        for queue, n in (queue_depths() or {}).items():
            depth.add_metric([queue], n)
    except Exception:
        logger.debug("queue depth unreadable", exc_info=True)
    yield depth

    ages = GaugeMetricFamily(
        "smscrm_heartbeat_age_seconds", "Seconds since each worker's and beat's heartbeat.", labels=["component"]
    )
    for component, age in heartbeat_ages().items():
        if age is not None:
            ages.add_metric([component], age)
    yield ages


def _authorized(request) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@never_cache
@require_GET
def metrics(request):
    """``GET /metrics`` for Prometheus, with ``Authorization: Bearer $METRICS_TOKEN``. Without
    the token set, or with a wrong or missing one, it answers 404: it does not exist to strangers."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    if not _authorized(request):
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


# ---- the instrumented code paths' one-liners -------------------------------------------------

CLICKS = "smscrm_link_clicks_total"


def handoff_answers(outcomes: list[str], results: list) -> None:
    """One dispatcher batch's provider answers: outcomes, 429s and retries, one round trip."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    record(
        counters=[
            *(("smscrm_messages_handed_over_total", {"outcome": outcome}, n) for outcome, n in counts.items()),
            ("smscrm_provider_rate_limited_total", None, sum(1 for result in results if result.rate_limited)),
            ("smscrm_provider_retries_total", None, counts.get("retry", 0) + counts.get("not_sent", 0)),
        ]
    )


def gate_decisions(counts: list[tuple[str, int]]) -> None:
    """A batch's decisions keyed ``gate:outcome`` (campaigns.dispatch.stats.tally)."""
    record(
        counters=[
            ("smscrm_gate_decisions_total", {"gate": key.partition(":")[0], "outcome": key.partition(":")[2]}, n)
            for key, n in counts
        ]
    )


@contextmanager
def timed(name: str, labels: dict | None = None):
    """Observe the seconds the block took in histogram ``name``."""
    started = time.monotonic()
    try:
        yield
    finally:
        histogram_observe(name, labels, time.monotonic() - started)


def webhook(kind: str):
    """Decorates a provider webhook view: counted by ``kind`` and HTTP status, and timed."""

    def decorate(view):
        @wraps(view)
        def timed_view(request, *args, **kwargs):
            started = time.monotonic()
            response = view(request, *args, **kwargs)
            record(
                counters=[("smscrm_webhook_requests_total", {"kind": kind, "result": response.status_code}, 1)],
                observations=[("smscrm_webhook_seconds", {"kind": kind}, time.monotonic() - started)],
            )
            return response

        return timed_view

    return decorate


def message_status(status: str, error_code: str) -> None:
    """A status callback moved a message to ``status`` (with the provider's error code)."""
    counter_inc("smscrm_message_status_total", {"status": status, "error_code": error_code})


def link_clicks(*, humans: int, bots: int) -> None:
    """A batch of recorded clicks, by the classifier's verdict. Every redirect served queues
    exactly one click, so the batch also counts the redirects: the redirect itself does no
    Redis call for its metric (the figure trails by the flush, about two seconds)."""
    record(
        counters=[
            (CLICKS, {"kind": "human"}, humans),
            (CLICKS, {"kind": "bot"}, bots),
            ("smscrm_redirects_total", None, humans + bots),
        ]
    )


def import_rows(outcomes: Iterable[str]) -> None:
    """A committed batch of import rows, by outcome (create, update, skip…)."""
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[str(outcome)] = counts.get(str(outcome), 0) + 1
    record(counters=[("smscrm_import_rows_total", {"result": outcome}, n) for outcome, n in counts.items()])
