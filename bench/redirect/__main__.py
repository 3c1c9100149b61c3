"""bench/redirect: short-link redirects under gunicorn, clicks recorded, against a bare Django 302.

    python -m bench.redirect [--links 10000] [--seconds 10] [--connections 32] [--workers 2] [--keep]

1. Setup (not timed): a fresh tenant with its own short domain, N short links whose messages
   were delivered an hour ago (COPY).
2. The app under gunicorn (2 sync workers, as gunicorn.conf.py runs it), PostgreSQL and Redis (the click queue) as in
   production; the load generator is wrk (Debian's `wrk`; `apt-get install wrk`) in its own
   process, one thread, keep-alive connections, each request a random link on the short domain
   with a phone's user agent. A warm-up pass first (every link once: caches filled).
3. Floor, same run, same server: a bare Django view (full middleware stack) that answers a
   fixed 302 (bench/redirect/urls.py).
4. Verification: every redirect answered 302; the click queue drained by the same flush the
   beat task runs; clicks stored = requests made (warm-up included), each once.

Exit status 1 only when a verification fails; a missed target prints FAIL.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cleanup import tenant_purge

ROOT = Path(__file__).resolve().parents[2]
common = importlib.import_module("bench.import.__main__")
webhooks = importlib.import_module("bench.webhooks.__main__")

TARGET_RATE = 2_000
TARGET_P99_MS = 25.0
TARGET_RATIO = 0.7
DOMAIN = "go.bench.example"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.6 Mobile/15E148 Safari/604.1"
)


def setup(count: int):
    import uuid
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from links.services import new_token
    from messaging.models import ProviderAccount, SendingNumber
    from tenants.models import Tenant
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = f"bench-redirect-{stamp}-{os.getpid()}"
    tenant = tenant_create(
        name=f"Bench redirect {stamp}", slug=slug, business_name="Bench Redirect", owner_email=f"{slug}@example.invalid"
    )
    Tenant.objects.filter(short_domain=DOMAIN).update(short_domain="")  # a leftover of a kept run
    Tenant.objects.filter(pk=tenant.pk).update(short_domain=DOMAIN)
    account = ProviderAccount.objects.create(tenant=tenant, account_sid=f"AC{uuid.uuid4().hex}", auth_token="x" * 32)
    number = SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485999101")
    now = timezone.now()
    delivered = now - timedelta(hours=1)
    tokens = [new_token() for _ in range(count)]
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY messaging_message (tenant_id, reference, kind, to_phone, from_sender, body, encoding, segments,"
            " status, provider_id, dedupe_key, error_code, error_message, cost_cents, created_at, handed_off_at,"
            " delivered_at, sending_number_id) FROM STDIN"
        ) as copy:
            for i in range(count):
                copy.write_row(
                    (tenant.id, uuid.uuid4(), "campaign", f"+61412{i:06d}", number.sender, "Sale", "GSM-7", 1,
                     "delivered", f"SM{uuid.uuid4().hex}", "", "", "", 5, delivered, delivered, delivered, number.id)
                )  # fmt: skip
        cursor.execute(
            "SELECT id FROM messaging_message WHERE tenant_id = %s ORDER BY id", [tenant.id]
        )  # fmt: skip
        message_ids = [row[0] for row in cursor.fetchall()]
        with cursor.copy(
            "COPY links_shortlink (tenant_id, token, destination, send_job_id, campaign_id, message_id, created_at,"
            " expires_at) FROM STDIN"
        ) as copy:
            for i, (token, message_id) in enumerate(zip(tokens, message_ids, strict=True)):
                copy.write_row(
                    (tenant.id, token, f"https://shop.example/sale?c={i}", None, None, message_id, now,
                     now + timedelta(days=60))
                )  # fmt: skip
        cursor.execute("ANALYZE links_shortlink")
    return tenant, tokens


def wrk_script(tokens: list[str], path: Path, *, bare: bool) -> None:
    if bare:
        body = (
            f'wrk.headers["User-Agent"] = "{PHONE_UA}"\n'
            'request = function() return wrk.format("GET", "/bench/bare-302") end\n'
        )
    else:
        listing = ",".join(f'"{t}"' for t in tokens)
        body = (
            f"local tokens = {{{listing}}}\n"
            f'wrk.headers["Host"] = "{DOMAIN}"\n'
            f'wrk.headers["User-Agent"] = "{PHONE_UA}"\n'
            "math.randomseed(7)\n"
            'request = function() return wrk.format("GET", "/" .. tokens[math.random(#tokens)]) end\n'
        )
    path.write_text(body)


def run_wrk(port: int, script: Path, *, seconds: int, connections: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def ms(label: str) -> float:
        value, unit = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "requests": requests,
        "rate": rate,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "bad": int(bad.group(1)) if bad else 0,
        "errors": errors.group(1) if errors else "",
    }


def warm(port: int, tokens: list[str]) -> int:
    """Every link once over keep-alive connections: fills the caches; these clicks count too."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answered = 0
    for token in tokens:
        conn.request("GET", f"/{token}", headers={"Host": DOMAIN, "User-Agent": PHONE_UA})
        response = conn.getresponse()
        response.read()
        answered += response.status == 302
    conn.close()
    return answered


def drain() -> tuple[int, float]:
    from links import clicks

    time.sleep(clicks.PUSH_SECONDS * 10)  # the web processes hand over their last buffered clicks
    started = time.perf_counter()
    recorded = 0
    while clicks.pending():
        recorded += clicks.flush()
    return recorded, time.perf_counter() - started


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.redirect")
    parser.add_argument("--links", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    # As production runs it (gunicorn.conf.py): sync workers, one request at a time each.
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync", choices=["gthread", "sync"])
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/redirect needs wrk, the HTTP load generator: apt-get install wrk", file=sys.stderr)
        return 2
    common._environment()
    common.ensure_database(os.environ["DATABASE_URL"])
    common.setup_django()
    from django.conf import settings

    from links import clicks
    from links.models import Click

    if not settings.REDIS_URL:
        print("bench/redirect measures with the Redis click queue: set REDIS_URL", file=sys.stderr)
        return 2
    clicks._redis().delete(clicks.queue_key())
    tenant, tokens = setup(args.links)
    print(f"tenant {tenant.slug} (#{tenant.id}); {len(tokens):,} short links on {DOMAIN}", flush=True)
    port = webhooks.free_port()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.redirect.settings"
    server = webhooks.start_server(port, args.workers, args.threads, args.worker_class)
    workdir = Path(tempfile.mkdtemp(prefix="bench-redirect-"))
    try:
        warmed = warm(port, tokens)
        redirect_lua, bare_lua = workdir / "redirect.lua", workdir / "bare.lua"
        wrk_script(tokens, redirect_lua, bare=False)
        wrk_script(tokens, bare_lua, bare=True)
        run_wrk(port, bare_lua, seconds=2, connections=args.connections)  # warm the bare path too
        redirect = run_wrk(port, redirect_lua, seconds=args.seconds, connections=args.connections)
        bare = run_wrk(port, bare_lua, seconds=args.seconds, connections=args.connections)
        recorded, drain_s = drain()
        stored = Click.objects.filter(tenant=tenant).count()
        distinct = Click.objects.filter(tenant=tenant).values("request_id").distinct().count()
        humans = Click.objects.filter(tenant=tenant, is_human=True).count()
        expected = warmed + redirect["requests"]
        ratio = redirect["rate"] / bare["rate"]
        print()
        print(
            f"load: wrk, 1 thread, {args.connections} keep-alive connections, {args.seconds} s per run; server: "
            f"gunicorn {args.workers} workers x {args.threads} threads; {os.cpu_count()} cores shared"
        )
        print(f"{'':28} {'requests':>9} {'per second':>11} {'p50 ms':>8} {'p99 ms':>8}")
        for label, run in (("redirects + click queue", redirect), ("floor: bare Django 302", bare)):
            print(f"{label:28} {run['requests']:9,} {run['rate']:11,.0f} {run['p50']:8.2f} {run['p99']:8.2f}")
        print(f"ratio redirect / bare: {ratio:.2f}x")
        print(f"click queue drained in {drain_s:.2f} s: {recorded:,} records")
        print()
        verdict = {True: "PASS", False: "FAIL"}
        print(f"{'target':40} {'measured':>12}  status")
        print(f"{'redirects >= 2,000/s':40} {redirect['rate']:12,.0f}  {verdict[redirect['rate'] >= TARGET_RATE]}")
        print(f"{'p99 <= 25 ms':40} {redirect['p99']:10.2f}ms  {verdict[redirect['p99'] <= TARGET_P99_MS]}")
        print(f"{'>= 0.7x the bare view':40} {ratio:11.2f}x  {verdict[ratio >= TARGET_RATIO]}")
        # wrk counts the answers that arrived before its clock stopped; the requests still in
        # flight then (at most one per connection) were served and clicked all the same.
        in_flight = stored - expected
        checks = [
            (warmed == len(tokens), f"warm-up: {warmed:,} of {len(tokens):,} links answered 302"),
            (
                redirect["bad"] == 0 and not redirect["errors"],
                f"redirect run: non-3xx {redirect['bad']}, socket errors {redirect['errors'] or 'none'}",
            ),
            (
                stored == distinct and 0 <= in_flight <= args.connections,
                f"clicks stored {stored:,} (each once) = requests wrk counted {expected:,} (warm-up included)"
                f" + {in_flight} in flight when wrk stopped (at most {args.connections})",
            ),
            (humans == stored, f"clicks counted human (a phone's agent, an hour after delivery): {humans:,}"),
        ]
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
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep:
            tenant_purge(tenant.id)
            print(f"cleaned up tenant #{tenant.id}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
