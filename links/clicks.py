"""The click queue: the redirect never waits on writing a click.

The redirect appends one small JSON record to this process's buffer and answers. From there:

- With Redis (production) a thread of the web process moves the buffer to a Redis list every
  PUSH_SECONDS (50 ms) in one RPUSH, and a gunicorn ``worker_exit`` hook (and ``atexit``) pushes
  what is left when a worker stops, so a restart loses nothing; only a process killed outright
  can lose its last 50 ms. The beat task ``links.flush_clicks`` (every 2 s) reads a batch of the
  list (LRANGE), inserts it, and only then trims it (LTRIM): a flusher that dies in between
  leaves the batch to the next, and each record's ``request_id`` (unique) makes the second
  insert a no-op. Records sit in Redis, not in the web process, until they are stored.
- Without Redis (development, SQLite) a thread of the web process records the buffer in the
  database every second, and once more at exit.

Recording classifies each click (links.bots, with its link's delivery time and the burst
rule over the batch and the second before it) and inserts the batch in one statement. A
person's click is the ``link.clicked`` event webhook: one query per batch learns that none of
its tenants subscribes; for those that do, the events' outbox rows commit with the clicks.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from contextlib import nullcontext
from datetime import UTC, datetime

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from links import bots
from links.models import Click, ShortLink
from smscrm import metrics
from smscrm.locks import held
from webhooks.events import Subscribed, events_emit, subscribers_of, timestamp
from webhooks.models import EventType

logger = logging.getLogger(__name__)

BATCH = 2000
PUSH_SECONDS = 0.05
_local: deque[str] = deque()
_thread_lock = threading.Lock()
_thread: threading.Thread | None = None


def _redis():
    from django_redis import get_redis_connection

    return get_redis_connection("default")


def queue_key() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', 'smscrm')}:links:clicks"


def ip_hash(ip: str) -> str:
    """A salted hash of the client's address: enough to tell repeat visitors apart, never the address."""
    return hashlib.sha256(f"{settings.CLICK_IP_SALT}|{ip}".encode()).hexdigest()


def enqueue(*, link: dict, method: str, user_agent: str, ip: str) -> None:
    record = json.dumps(
        {
            "id": uuid.uuid4().hex,
            "link": link["id"],
            "tenant": link["tenant"],
            "campaign": link["campaign"],
            "contact": link["contact"],
            "at": time.time(),
            "method": method[:10],
            "ua": (user_agent or "")[:500],
            "ip": ip_hash(ip),
        },
        separators=(",", ":"),
    )
    _local.append(record)
    if settings.TESTING:
        push()  # tests see the queue at once, without a thread
    else:
        _ensure_thread()


def push() -> int:
    """Move this process's buffer to the Redis list (one RPUSH); without Redis, nothing to do."""
    if not settings.REDIS_URL or not _local:
        return 0
    items = []
    while _local and len(items) < 10_000:
        items.append(_local.popleft())
    try:
        _redis().rpush(queue_key(), *items)
    except Exception:
        _local.extendleft(reversed(items))  # Redis unreachable: keep them for the next push
        raise
    return len(items)


def pending() -> int:
    """Clicks waiting to be recorded: the shared list (Redis) or this process's buffer."""
    return _redis().llen(queue_key()) if settings.REDIS_URL else len(_local)


def flush(*, limit: int | None = None) -> int:
    """Record queued clicks in batches until the queue is empty (or ``limit`` recorded)."""
    recorded = 0
    if settings.REDIS_URL:
        push()  # this process's own buffer first (the beat worker's is empty)
        with held("links.flush_clicks", timeout=120) as mine:
            if not mine:
                return 0  # another flusher is at it
            redis = _redis()
            while limit is None or recorded < limit:
                items = redis.lrange(queue_key(), 0, BATCH - 1)
                if not items:
                    break
                record([json.loads(item) for item in items])
                redis.ltrim(queue_key(), len(items), -1)
                recorded += len(items)
        return recorded
    while _local and not settings.REDIS_URL and (limit is None or recorded < limit):
        items = [_local.popleft() for _ in range(min(BATCH, len(_local)))]
        try:
            record([json.loads(item) for item in items])
        except Exception:
            _local.extendleft(reversed(items))  # keep them for the next flush
            raise
        recorded += len(items)
    return recorded


def record(items: list[dict]) -> int:
    """Classify and insert queued click records (a record already stored is skipped)."""
    if not items:
        return 0
    link_ids = {item["link"] for item in items}
    delivered = dict(
        ShortLink.objects.filter(id__in=link_ids).values_list(
            "id", Coalesce(F("message__delivered_at"), F("message__handed_off_at"))
        )
    )
    verdicts: dict[str, bots.Verdict] = {}
    for item in items:
        at = delivered.get(item["link"])
        since = item["at"] - at.timestamp() if at is not None else None
        verdicts[item["id"]] = bots.classify(item["ua"], method=item["method"], seconds_since_delivery=since)
    # Bursts: the batch's human-looking fetches, with the same links' clicks of the second before.
    earliest = min(item["at"] for item in items) - bots.BURST_SECONDS
    recent = Click.objects.filter(
        link_id__in=link_ids, at__gte=datetime.fromtimestamp(earliest, UTC), is_human=True
    ).values_list("request_id", "link_id", "at", "user_agent")
    fetches = [(str(rid.hex), link_id, at.timestamp(), ua) for rid, link_id, at, ua in recent]
    fetches += [(i["id"], i["link"], i["at"], i["ua"]) for i in items if verdicts[i["id"]].is_human]
    burst = bots.bursts(fetches)
    for key in burst:
        if key in verdicts:
            verdicts[key] = bots.Verdict(False, "burst")
    earlier_in_burst = [uuid.UUID(key) for key in burst if key not in verdicts]
    if earlier_in_burst:
        Click.objects.filter(request_id__in=earlier_in_burst).update(is_human=False, reason="burst")
    people = [item for item in items if verdicts[item["id"]].is_human]
    metrics.link_clicks(humans=len(people), bots=len(items) - len(people))
    subscribed = subscribers_of(tenant_ids={item["tenant"] for item in people}, type=EventType.LINK_CLICKED)
    with transaction.atomic() if subscribed else nullcontext():
        if subscribed:
            _announce(people, subscribed)
        _insert(items, verdicts)
    return len(items)


def _insert(items: list[dict], verdicts: dict[str, bots.Verdict]) -> None:
    Click.objects.bulk_create(
        [
            Click(
                tenant_id=item["tenant"],
                link_id=item["link"],
                campaign_id=item["campaign"],
                contact_id=item["contact"],
                request_id=uuid.UUID(item["id"]),
                at=datetime.fromtimestamp(item["at"], UTC),
                method=item["method"],
                user_agent=item["ua"],
                ip_hash=item["ip"],
                is_human=verdicts[item["id"]].is_human,
                reason=verdicts[item["id"]].reason or "",
            )
            for item in items
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


def _announce(people: list[dict], subscribed: Subscribed) -> None:
    """link.clicked for the people's clicks of subscribed tenants, in the clicks' transaction;
    a click stored already (a batch recorded again after a crash) was announced then. A click
    found part of a burst by a later batch stays announced: the event says what was known."""
    wanted = [item for item in people if item["tenant"] in subscribed]
    stored = set(
        Click.objects.filter(request_id__in=[uuid.UUID(item["id"]) for item in wanted]).values_list(
            "request_id", flat=True
        )
    )
    links = {
        pk: (destination, phone)
        for pk, destination, phone in ShortLink.objects.filter(id__in={item["link"] for item in wanted}).values_list(
            "id", "destination", "contact__phone_e164"
        )
    }
    events = []
    for item in wanted:
        if uuid.UUID(item["id"]) in stored:
            continue
        destination, phone = links.get(item["link"], (None, None))
        data = {
            "click_id": str(uuid.UUID(item["id"])),
            "link_id": item["link"],
            "url": destination,
            "campaign_id": item["campaign"],
            "contact_id": item["contact"],
            "phone_e164": phone,
            "clicked_at": timestamp(datetime.fromtimestamp(item["at"], UTC)),
        }
        events.append((item["tenant"], data))
    events_emit(type=EventType.LINK_CLICKED, events=events, subscribed=subscribed)


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _thread_lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_flush_forever, name="click-flusher", daemon=True)
        _thread.start()
        atexit.register(drain_local)


def drain_local() -> None:
    """Hand over this process's buffer before it stops (gunicorn worker_exit, atexit)."""
    try:
        if settings.REDIS_URL:
            while _local:
                push()
        else:
            flush()
    except Exception:  # never take the web process down; say so
        logger.exception("handing over %d buffered clicks failed", len(_local))


def _flush_forever() -> None:
    interval = PUSH_SECONDS if settings.REDIS_URL else 1.0
    while True:
        time.sleep(interval)
        if _local:
            drain_local()
            if not settings.REDIS_URL:
                close_old_connections()
                connection.close()  # this thread's own connection
