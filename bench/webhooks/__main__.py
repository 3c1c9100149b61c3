"""bench/webhooks: signed status callbacks through the real server, and STOP-to-DNC latency under that load.

    python -m bench.webhooks [--messages 20000] [--web-workers 2] [--threads 4] [--clients 8] [--stops 200] [--keep]

1. Setup (not timed): a fresh tenant with an account, a number, M queued messages with provider
   ids (COPY) and S contacts who will text STOP.
2. Pre-signed requests (not timed): for every message a ``sent`` and a ``delivered`` callback
   (with RawDlrDoneDate), each signed with the account's token exactly as Twilio signs; one in
   ten messages gets its ``delivered`` before its ``sent``, and one callback in fifty is
   replayed, as Twilio does.
3. Load: gunicorn (the production server, gthread workers, DB connections kept as production
   keeps them) serves the app on PostgreSQL; C keep-alive client connections post every
   callback as fast as the server answers → callbacks/s (wall, first request to last answer)
   and per-request latency.
4. STOP latency, same run: while the load runs, one more connection posts a signed inbound
   STOP from a different contact every 1/20 s; the time from sending it to the answer (the
   do-not-contact row commits before the answer is sent) → p50/p99.
5. Verification: every request answered 200, one event per (MessageSid, MessageStatus), every
   message delivered with its receipt time, every STOP number on the do-not-contact list.

Exit status 1 only when a verification fails; a missed target prints FAIL.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from bench.cleanup import tenant_purge

ROOT = Path(__file__).resolve().parents[2]
common = importlib.import_module("bench.import.__main__")

TARGET_RATE = 1_000
TARGET_STOP_P99_MS = 200.0
TOKEN = "b" * 32
PATH_STATUS = "/webhooks/twilio/status"
PATH_INBOUND = "/webhooks/twilio/inbound"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup(messages: int, stops: int):
    import uuid

    from django.db import connection
    from django.utils import timezone

    from contacts.models import Contact
    from messaging.models import ProviderAccount, SendingNumber
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = f"bench-webhooks-{stamp}-{os.getpid()}"
    tenant = tenant_create(
        name=f"Bench webhooks {stamp}", slug=slug, business_name="Bench Webhooks",
        owner_email=f"{slug}@example.invalid",
    )  # fmt: skip
    account = ProviderAccount.objects.create(
        tenant=tenant, provider="twilio", account_sid=f"AC{os.getpid():08d}{int(time.time()):024d}", auth_token=TOKEN
    )
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485999001")
    Contact.objects.bulk_create(
        [
            Contact(tenant=tenant, phone_e164=f"+6141399{i:04d}", consent_status="express", consent_at=timezone.now())
            for i in range(stops)
        ]
    )
    now = timezone.now()
    sids = [f"SM{uuid.uuid4().hex}" for _ in range(messages)]
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY messaging_message (tenant_id, reference, kind, to_phone, from_sender, body, encoding, segments,"
            " status, provider_id, dedupe_key, error_code, error_message, cost_cents, created_at, handed_off_at,"
            " sending_number_id) FROM STDIN"
        ) as copy,
    ):
        for i, sid in enumerate(sids):
            copy.write_row(
                (tenant.id, uuid.uuid4(), "campaign", f"+614{12 + i // 1_000_000}{i % 1_000_000:06d}", number.sender,
                 "Hi, 20% off today. Reply STOP to opt out", "GSM-7", 1, "queued", sid, "", "", "", 5, now, now,
                 number.id)
            )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE messaging_message")
    return tenant, account, number, sids


def signed_request(path: str, params: dict, port: int) -> bytes:
    from twilio.request_validator import RequestValidator

    url = f"http://127.0.0.1:{port}{path}"
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    body = urllib.parse.urlencode(params).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


def build_callbacks(account, number, sids: list[str], port: int, rng: random.Random) -> tuple[list[bytes], int]:
    """Pre-signed callbacks in arrival order; returns (requests, distinct events)."""
    requests, distinct = [], 0
    pending: list[tuple[str, str]] = []
    for sid in sids:
        pair = [(sid, "sent"), (sid, "delivered")]
        if rng.random() < 0.1:
            pair.reverse()
        pending.extend(pair)
    for sid, status in pending:
        params = {
            "MessageSid": sid, "SmsSid": sid, "AccountSid": account.account_sid, "From": number.sender,
            "To": "+61412000000", "MessageStatus": status, "SmsStatus": status, "ApiVersion": "2010-04-01",
        }  # fmt: skip
        if status == "delivered":
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        request = signed_request(PATH_STATUS, params, port)
        requests.append(request)
        distinct += 1
        if rng.random() < 0.02:
            requests.append(request)  # a replay
    return requests, distinct


def build_stops(account, number, stops: int, port: int) -> list[bytes]:
    import uuid

    return [
        signed_request(
            PATH_INBOUND,
            {
                "MessageSid": f"SM{uuid.uuid4().hex}",
                "AccountSid": account.account_sid,
                "From": f"+6141399{i:04d}",
                "To": number.sender,
                "Body": "STOP",
                "NumMedia": "0",
                "NumSegments": "1",
                "SmsStatus": "received",
            },
            port,
        )  # fmt: skip
        for i in range(stops)
    ]


async def _exchange(reader, writer, request: bytes) -> int:
    writer.write(request)
    status_line = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return int(status_line.split()[1]) if status_line else 0


async def _load(port: int, callbacks: list[bytes], stops: list[bytes], clients: int, stop_every: float):
    queue = list(reversed(callbacks))
    codes: dict[int, int] = {}
    latencies: list[float] = []
    stop_latencies: list[float] = []
    stop_codes: dict[int, int] = {}
    done = asyncio.Event()

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while queue:
            request = queue.pop()
            started = time.perf_counter()
            try:
                code = await _exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                code = await _exchange(reader, writer, request)
            latencies.append(time.perf_counter() - started)
            codes[code] = codes.get(code, 0) + 1
        writer.close()

    async def stopper():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.5)  # into the steady state
        for request in stops:
            if done.is_set():
                break
            started = time.perf_counter()
            try:
                code = await _exchange(reader, writer, request)
            except (ConnectionError, asyncio.IncompleteReadError):
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                code = await _exchange(reader, writer, request)
            stop_latencies.append(time.perf_counter() - started)
            stop_codes[code] = stop_codes.get(code, 0) + 1
            await asyncio.sleep(max(0.0, stop_every - (time.perf_counter() - started)))
        writer.close()

    started = time.perf_counter()
    stopping = asyncio.create_task(stopper())
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    done.set()
    await stopping
    return elapsed, codes, latencies, stop_latencies, stop_codes


def start_server(port: int, workers: int, threads: int, worker_class: str = "gthread") -> subprocess.Popen:
    env = {
        **os.environ,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DB_CONN_MAX_AGE": "60",  # what production keeps (settings: 60 s in production)
        "GUNICORN_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--threads", str(threads), "--worker-class", worker_class],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.2)
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited: {proc.stderr.read()[-2000:]}")
    raise SystemExit("gunicorn did not come up in 30 s")


def warm_up(port: int, clients: int) -> None:
    """A few requests per worker thread: imports, URL resolver and DB connections, not timed."""

    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(5):
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
        writer.close()

    async def many():
        await asyncio.gather(*(one() for _ in range(clients)))

    asyncio.run(many())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def verify(tenant, sids: list[str], distinct: int, codes: dict, stop_codes: dict, stops_sent: int):
    from django.db.models import Count

    from contacts.models import DoNotContact
    from messaging.models import Message, MessageKind, ProviderEvent

    by_status = dict(
        Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    events = ProviderEvent.objects.filter(tenant=tenant, kind="status").count()
    unapplied = ProviderEvent.objects.filter(tenant=tenant, applied=False).count()
    receipts = Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN, delivered_at__isnull=False).count()
    dnc = DoNotContact.objects.filter(tenant=tenant).count()
    total = sum(codes.values())
    return [
        (set(codes) == {200}, f"callbacks answered: {total:,}, by HTTP status {codes}"),
        (events == distinct, f"status events stored {events:,} = distinct (MessageSid, MessageStatus) {distinct:,}"),
        (unapplied == 0, f"events left unapplied: {unapplied}"),
        (by_status == {"delivered": len(sids)}, f"messages by final status {by_status} (all {len(sids):,} delivered)"),
        (receipts == len(sids), f"messages with a delivery time: {receipts:,}"),
        (set(stop_codes) <= {200} and dnc == stops_sent, f"STOPs answered {stop_codes}; numbers listed {dnc}"),
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.webhooks")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--stops", type=int, default=400)
    parser.add_argument("--stops-per-second", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    common._environment()
    common.ensure_database(os.environ["DATABASE_URL"])
    common.setup_django()

    tenant, account, number, sids = setup(args.messages, args.stops)
    print(f"tenant {tenant.slug} (#{tenant.id}); {len(sids):,} queued messages, {args.stops} contacts to text STOP")
    port = free_port()
    server = start_server(port, args.web_workers, args.threads)
    try:
        rng = random.Random(5)
        callbacks, distinct = build_callbacks(account, number, sids, port, rng)
        stops = build_stops(account, number, args.stops, port)
        warm_up(port, args.clients)
        elapsed, codes, latencies, stop_latencies, stop_codes = asyncio.run(
            _load(port, callbacks, stops, args.clients, 1.0 / args.stops_per_second)
        )
        rate = len(callbacks) / elapsed
        stop_p50 = percentile(stop_latencies, 0.50) * 1000
        stop_p99 = percentile(stop_latencies, 0.99) * 1000
        print()
        print(
            f"server: gunicorn, {args.web_workers} workers x {args.threads} threads (gthread); {args.clients} "
            f"keep-alive clients; {os.cpu_count()} cores shared by server, PostgreSQL, client"
        )
        print(f"{'signed status callbacks':34} {len(callbacks):>10,} in {elapsed:6.2f} s = {rate:8,.0f}/s "
              f"(incl. {len(callbacks) - distinct:,} replays)")  # fmt: skip
        print(f"{'  latency p50 / p99 / max':34} {percentile(latencies, .5) * 1000:7.1f} / "
              f"{percentile(latencies, .99) * 1000:.1f} / {max(latencies) * 1000:.1f} ms")  # fmt: skip
        print(f"{'STOP -> DNC committed (answered)':34} {len(stop_latencies):>10,} STOPs: p50 {stop_p50:.1f} ms, "
              f"p99 {stop_p99:.1f} ms, max {max(stop_latencies) * 1000:.1f} ms")  # fmt: skip
        print()
        print(f"{'target':44} {'measured':>12}  status")
        print(f"{'status callbacks >= 1,000/s':44} {rate:12,.0f}  {'PASS' if rate >= TARGET_RATE else 'FAIL'}")
        print(f"{'STOP to DNC p99 < 200 ms under that load':44} {stop_p99:10.1f}ms  "
              f"{'PASS' if stop_p99 < TARGET_STOP_P99_MS else 'FAIL'}")  # fmt: skip
        checks = verify(tenant, sids, distinct, codes, stop_codes, len(stop_latencies))
        print("\nverification")
        for ok, text in checks:
            print(f"  {'OK  ' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        if not args.keep:
            tenant_purge(tenant.id)
            print(f"cleaned up tenant #{tenant.id}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
