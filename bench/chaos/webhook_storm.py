"""webhooks: a storm of shuffled, replayed status callbacks plus concurrent STOPs over real HTTP.

gunicorn (the production server: gthread workers, 2 × 4 threads) serves the app on PostgreSQL.
Every one of M queued messages gets all its reports, signed exactly as Twilio signs them: a
``sent``, one final status (delivered, undelivered with an error code, failed), for some a
``queued``/``accepted`` before, a ``read`` after, or a second, contradicting final status (as
carriers sometimes send). Each request is posted 2-3 times, and the whole lot is shuffled, so a
message's ``delivered`` often arrives before its ``sent``. At the same time S people text STOP:
each text posted 2-3 times (Twilio's retries, the same MessageSid), and some of them text STOP
again (a new MessageSid), all shuffled, over more connections of their own.

Proves: every message ends in the status its highest-ranked report gives (messaging.events
RANK) with its delivery time, one event per (MessageSid, status), none left unapplied; every
STOP number is on the do-not-contact list exactly once with its contact's consent withdrawn,
one inbound message per text; every request answered 200. Reports STOP-to-DNC latency p50/p99
(from the first post of a number to its do-not-contact row's created_at, and per answer).
"""

from __future__ import annotations

import asyncio
import importlib
import os
import random
import socket
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from bench.chaos import common
from smscrm.testing.services import free_port

CALLBACK_CLIENTS = 8
STOP_CLIENTS = 4
FINALS = (("delivered", 80), ("undelivered", 10), ("failed", 10))
ERROR_CODES = {"undelivered": "30003", "failed": "30008"}
NUMBER = "+61485999001"


def setup(messages: int, stops: int, token: str):
    from django.db import connection
    from django.utils import timezone

    from contacts.models import Contact
    from messaging.models import ProviderAccount, SendingNumber

    tenant = common.new_tenant("webhooks")
    account = ProviderAccount.objects.create(
        tenant=tenant, provider="twilio", account_sid=f"AC{uuid.uuid4().hex}", auth_token=token
    )
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender=NUMBER)
    now = timezone.now()
    Contact.objects.bulk_create(
        [
            Contact(tenant=tenant, phone_e164=f"+6141399{i:04d}", consent_status="express", consent_at=now)
            for i in range(stops)
        ]
    )
    sids = [f"SM{uuid.uuid4().hex}" for _ in range(messages)]
    columns = (
        "tenant_id, reference, kind, to_phone, from_sender, body, encoding, segments, status, provider_id, dedupe_key,"
        " error_code, error_message, cost_cents, created_at, handed_off_at, sending_number_id"
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY messaging_message ({columns}) FROM STDIN") as copy:
        for i, sid in enumerate(sids):
            copy.write_row(
                (
                    tenant.id,
                    uuid.uuid4(),
                    "campaign",
                    f"+614{12 + i // 1_000_000}{i % 1_000_000:06d}",
                    NUMBER,
                    "Hi, 20% off today. Reply STOP to opt out",
                    "GSM-7",
                    1,
                    "queued",
                    sid,
                    "",
                    "",
                    "",
                    5,
                    now,
                    now,
                    number.id,
                )
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    return tenant, account, sids


def reports_for(rng: random.Random) -> list[str]:
    """The status words a provider may send for one message, in no particular order."""
    final = rng.choices([f for f, _ in FINALS], weights=[w for _, w in FINALS])[0]
    words = ["sent", final]
    if rng.random() < 0.3:
        words.append(rng.choice(["queued", "accepted", "sending"]))
    if final == "delivered" and rng.random() < 0.05:
        words.append("read")
    if rng.random() < 0.1:  # a contradicting second final report
        words.append(rng.choice([f for f, _ in FINALS if f != final]))
    return words


def expected_status(words: list[str]) -> str:
    from messaging.events import PROVIDER_STATUS, RANK

    return max((PROVIDER_STATUS[w] for w in words), key=lambda s: RANK[s])


def start_gunicorn(children: common.Children, port: int) -> common.Child:
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    env = common.child_env(
        DATABASE_URL=common.with_app_name(os.environ["DATABASE_URL"], "chaos-gunicorn"),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        DB_CONN_MAX_AGE=60,
        GUNICORN_LOG_LEVEL="warning",
    )
    argv = [
        gunicorn,
        "--config",
        "gunicorn.conf.py",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--worker-class",
        "gthread",
    ]
    server = children.start("webhooks-gunicorn", argv, env)

    def up() -> bool:
        if not server.alive():
            raise RuntimeError(f"gunicorn exited: {common.tail(server.stderr())}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    common.wait_for(up, seconds=30, what="gunicorn", every=0.2)
    return server


async def _post_all(port: int, requests: list[tuple[object, bytes]], clients: int, exchange, answers: list):
    """Post every request over ``clients`` keep-alive connections; ``answers`` gets (tag, sent, answered, code)."""
    queue = list(reversed(requests))

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            tag, request = queue.pop()
            sent = time.time()
            try:
                code = await exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                code = await exchange(reader, writer, request)
            answers.append((tag, sent, time.time(), code))
        writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))


async def _storm(port, callbacks, stops, exchange):
    callback_answers, stop_answers = [], []
    started = time.monotonic()
    await asyncio.gather(
        _post_all(port, callbacks, CALLBACK_CLIENTS, exchange, callback_answers),
        _post_all(port, stops, STOP_CLIENTS, exchange, stop_answers),
    )
    return time.monotonic() - started, callback_answers, stop_answers


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    from django.db.models import Count

    from contacts.models import Contact, DoNotContact
    from messaging.models import Message, MessageKind, ProviderEvent
    from tenants.models import Tenant

    wb = importlib.import_module("bench.webhooks.__main__")
    messages, stops = size.webhook_messages, size.webhook_stops
    result.begin(f"status callbacks of {messages:,} messages, each posted 2-3 times, shuffled; {stops} STOPs at once")
    tenant, account, sids = setup(messages, stops, wb.TOKEN)
    try:
        port = free_port()
        start_gunicorn(children, port)

        expected, callbacks, distinct = {}, [], 0
        for sid in sids:
            words = reports_for(rng)
            expected[sid] = expected_status(words)
            for word in words:
                params = {
                    "MessageSid": sid,
                    "SmsSid": sid,
                    "AccountSid": account.account_sid,
                    "From": NUMBER,
                    "To": "+61412000000",
                    "MessageStatus": word,
                    "SmsStatus": word,
                    "ApiVersion": "2010-04-01",
                }
                if word in ERROR_CODES:
                    params["ErrorCode"] = ERROR_CODES[word]
                if word in ("delivered", "read"):
                    params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
                request = wb.signed_request(wb.PATH_STATUS, params, port)
                distinct += 1
                callbacks += [(sid, request)] * rng.choice((2, 3))
        rng.shuffle(callbacks)
        stop_requests, texts = [], 0
        for i in range(stops):
            phone = f"+6141399{i:04d}"
            for body in ("STOP", "stop") if rng.random() < 0.3 else ("STOP",):
                params = {
                    "MessageSid": f"SM{uuid.uuid4().hex}",
                    "AccountSid": account.account_sid,
                    "From": phone,
                    "To": NUMBER,
                    "Body": body,
                    "NumMedia": "0",
                    "NumSegments": "1",
                    "SmsStatus": "received",
                }
                texts += 1
                stop_requests += [(phone, wb.signed_request(wb.PATH_INBOUND, params, port))] * rng.choice((2, 3))
        rng.shuffle(stop_requests)
        wb.warm_up(port, CALLBACK_CLIENTS + STOP_CLIENTS)

        elapsed, callback_answers, stop_answers = asyncio.run(_storm(port, callbacks, stop_requests, wb._exchange))
        total = len(callbacks) + len(stop_requests)
        result.injected = f"{len(callbacks):,} callbacks + {len(stop_requests)} STOPs, shuffled"
        result.say(
            f"injected: {len(callbacks):,} status callbacks ({distinct:,} distinct reports of {messages:,} "
            f"messages, each posted 2-3 times, shuffled) and {len(stop_requests)} STOP posts ({texts} texts "
            f"from {stops} numbers, each posted 2-3 times) over {CALLBACK_CLIENTS}+{STOP_CLIENTS} connections "
            f"to gunicorn 2x4 gthread: {elapsed:.1f} s, {total / elapsed:,.0f} requests/s"
        )

        codes = Counter(code for *_, code in callback_answers) + Counter(code for *_, code in stop_answers)
        result.say(f"answers by HTTP status: {dict(codes)}")
        if set(codes) != {200}:
            result.fail(f"requests not answered 200: {dict(codes)}")

        # Final statuses: the highest-ranked report of each message.
        actual = dict(
            Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN).values_list("provider_id", "status")
        )
        wrong = {sid: (actual.get(sid), want) for sid, want in expected.items() if actual.get(sid) != want}
        by_status = Counter(actual.values())
        undated = Message.objects.filter(
            tenant=tenant, kind=MessageKind.CAMPAIGN, status="delivered", delivered_at__isnull=True
        ).count()
        events = ProviderEvent.objects.filter(tenant=tenant, kind="status")
        n_events, unapplied = events.count(), events.filter(applied=False).count()
        result.say(
            f"messages by final status {dict(by_status)}; not at their highest report: {len(wrong)}"
            + (f" (e.g. {list(wrong.items())[:3]})" if wrong else "")
            + f"; delivered without a time: {undated}"
        )
        result.say(f"status events stored {n_events:,} (distinct reports {distinct:,}), unapplied {unapplied}")
        if wrong:
            result.fail(f"{len(wrong)} messages not in the status of their highest-ranked report")
        if undated:
            result.fail(f"{undated} delivered messages without a delivery time")
        if n_events != distinct or unapplied:
            result.fail(f"status events {n_events} ≠ distinct reports {distinct}, or {unapplied} unapplied")

        # STOPs: each number listed once, its consent withdrawn, each text stored once.
        phones = {f"+6141399{i:04d}" for i in range(stops)}
        listed = Counter(DoNotContact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
        missing, extra = phones - set(listed), set(listed) - phones
        twice = sum(1 for n in listed.values() if n > 1)
        still = Contact.objects.filter(tenant=tenant, phone_e164__in=phones).exclude(consent_status="withdrawn").count()
        inbound = Message.objects.filter(tenant=tenant, kind=MessageKind.INBOUND)
        inbound_twice = inbound.values("provider_id").annotate(n=Count("id")).filter(n__gt=1).count()
        result.say(
            f"do-not-contact: {len(listed)} numbers of {stops} ({len(missing)} missing, {twice} twice, "
            f"{len(extra)} others); consent not withdrawn {still}; inbound texts stored {inbound.count()} of "
            f"{texts} ({inbound_twice} twice)"
        )
        if missing or twice or extra or still:
            result.fail(
                f"STOPs: {len(missing)} numbers missing from the list, {twice} twice, {len(extra)} others, "
                f"{still} contacts still consenting"
            )
        if inbound.count() != texts or inbound_twice:
            result.fail(f"inbound texts stored {inbound.count()} ≠ {texts} sent ({inbound_twice} twice)")

        first_post = {}
        for phone, sent, _, _ in stop_answers:
            first_post[phone] = min(sent, first_post.get(phone, sent))
        created = dict(DoNotContact.objects.filter(tenant=tenant).values_list("phone_e164", "created_at"))
        to_row = [(created[p].timestamp() - t) * 1000 for p, t in first_post.items() if p in created]
        answered = [(done - sent) * 1000 for _, sent, done, _ in stop_answers]
        latency = {
            "dnc_row_p50_ms": round(common.percentile(to_row, 0.5), 1),
            "dnc_row_p99_ms": round(common.percentile(to_row, 0.99), 1),
            "answer_p50_ms": round(common.percentile(answered, 0.5), 1),
            "answer_p99_ms": round(common.percentile(answered, 0.99), 1),
        }
        result.say(
            f"STOP to do-not-contact (first post of a number to its row's created_at): p50 "
            f"{latency['dnc_row_p50_ms']} ms, p99 {latency['dnc_row_p99_ms']} ms; STOP answered (DNC committed "
            f"before the answer): p50 {latency['answer_p50_ms']} ms, p99 {latency['answer_p99_ms']} ms"
        )

        result.duplicates = n_events - distinct if n_events > distinct else 0
        result.duplicates += twice + inbound_twice
        result.lost = len(wrong) + len(missing) + max(0, texts - inbound.count())
        result.stuck = unapplied
        result.figures.update(
            callbacks=len(callbacks),
            distinct_reports=distinct,
            stop_posts=len(stop_requests),
            stop_texts=texts,
            seconds_storm=round(elapsed, 1),
            codes=dict(codes),
            final_statuses=dict(by_status),
            wrong_final=len(wrong),
            **latency,
        )
    finally:
        common.purge(Tenant.objects.get(pk=tenant.pk))
