"""bench/dispatch: a 100,000-contact campaign through launch and all seven gates, against a floor.

    python -m bench.dispatch [--contacts N] [--workers 2] [--keep]

1. Setup (not timed): a fresh tenant with N consenting contacts in a zone where it is afternoon
   now (so quiet hours let them through), rate limits and warmup lifted (tenant and senders at
   30,000/s, warmup curve 10M/day), caps far above the spend, the simulator in instant mode
   (no status callbacks).
2. Launch: ``campaign_launch`` + ``campaign_create_jobs`` (one INSERT … SELECT) → jobs/s.
3. Hand-off: W worker processes (``manage.py dispatch --loop``) claim batches with SKIP LOCKED,
   run the seven gates and hand every message to the simulator. Timed from the workers' start
   to the last job sent → messages/s; also the steady rate between the first and last hand-off.
4. Floor, same run: a bare ``UPDATE … SET status`` of the same rows in batches of the same size.
5. Verification: every job sent, each simulator reference once, one live message per contact.

Exit status 1 only when a verification fails; a missed target prints FAIL.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import seed
from bench.cleanup import tenant_purge

ROOT = Path(__file__).resolve().parents[2]
common = importlib.import_module("bench.import.__main__")

TARGET_LAUNCH = 50_000
TARGET_HANDOFF = 2_000


def afternoon_zone() -> str:
    return seed.daytime_zone()


def setup(contacts: int):
    from datetime import date, timedelta

    from campaigns import services
    from messaging.models import Price, ProviderAccount, SendingNumber
    from tenants.models import Tenant
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = f"bench-dispatch-{stamp}-{os.getpid()}"
    zone = afternoon_zone()
    tenant = tenant_create(
        name=f"Bench dispatch {stamp}",
        slug=slug,
        business_name="Bench Dispatch",
        owner_email=f"{slug}@example.invalid",
        timezone=zone,
    )
    Tenant.objects.filter(pk=tenant.pk).update(
        messages_per_second=30_000, daily_budget_cents=10**12, monthly_budget_cents=10**12
    )
    tenant.refresh_from_db()
    account = ProviderAccount.objects.create(
        tenant=tenant,
        provider="simulator",
        account_sid=f"AC{os.getpid():08d}{int(time.time()):024d}",
        auth_token="x" * 32,
    )
    for n in range(10):
        SendingNumber.objects.create(
            tenant=tenant,
            account=account,
            sender=f"+614850{n:05d}",
            messages_per_second=30_000,
            warmup_started_on=date.today() - timedelta(days=30),
            warmup_curve=[10_000_000],
        )
    Price.objects.create(tenant=tenant, provider="simulator", country="AU", cents_per_segment=5,
                         effective_from=date(2020, 1, 1))  # fmt: skip
    seed.copy_contacts(tenant.id, zone, contacts)
    template = services.template_save(
        tenant=tenant, actor=None, name="Bench",
        bodies=["Hi {{ first_name|there }}, spring sale: 20% off today {{ link }}",
                "{{ first_name|Hello }}, our spring range is in. 20% off today only {{ link }}"],
    )  # fmt: skip
    campaign = services.campaign_create(
        tenant=tenant, actor=None, name="Bench campaign", template=template, link_url="https://example.com/s"
    )
    return tenant, campaign


def launch(campaign) -> float:
    from campaigns import services

    started = time.perf_counter()
    services.campaign_launch(campaign=campaign, actor=None)
    services.campaign_create_jobs(campaign_id=campaign.pk)  # the task the launch queued, run here
    return time.perf_counter() - started


def hand_off(campaign, workers: int, env: dict) -> float:
    from campaigns.models import JobStatus, SendJob

    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", "1.5"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    # Poll cheaply (an EXISTS on the partial index of pending jobs, four times a second): a
    # count over all the campaign's jobs every few milliseconds would eat a core of its own.
    open_jobs = SendJob.objects.filter(campaign=campaign, status__in=(JobStatus.PENDING, JobStatus.SENDING))
    while True:
        time.sleep(0.25)
        if not open_jobs.exists() or all(p.poll() is not None for p in procs):
            break
    elapsed = time.perf_counter() - started
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            print(f"worker failed ({proc.returncode}):\n{err[-3000:]}", flush=True)
    return elapsed


def floor(campaign, batch: int) -> float:
    from django.db import connection, transaction

    from campaigns.models import SendJob

    ids = list(SendJob.objects.filter(campaign=campaign).order_by("id").values_list("id", flat=True))
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE campaigns_sendjob SET status = 'sent' WHERE id = ANY(%s)", [ids[start : start + batch]]
            )
    return time.perf_counter() - started


def verify(campaign, log: Path) -> list[tuple[bool, str]]:
    from django.db.models import Count

    from campaigns.models import JobStatus
    from messaging.models import Message, MessageStatus

    total = campaign.jobs_total
    statuses = dict(campaign.jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    references = [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []
    live = Message.objects.filter(tenant=campaign.tenant).exclude(status=MessageStatus.REJECTED)
    per_contact = live.values("contact_id").annotate(n=Count("id")).filter(n__gt=1).count()
    return [
        (statuses.get(JobStatus.SENT, 0) == total, f"jobs sent {statuses.get(JobStatus.SENT, 0):,} of {total:,}"),
        (len(references) == len(set(references)) == total,
         f"simulator accepted {len(references):,} messages, {len(set(references)):,} distinct references"),
        (per_contact == 0, f"contacts with more than one live message: {per_contact}"),
        (live.count() == total, f"live messages {live.count():,} = jobs {total:,}"),
    ]  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.dispatch")
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    common._environment()
    common.ensure_database(os.environ["DATABASE_URL"])
    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    log = workdir / "simulator.log"
    os.environ.update(
        SMS_BACKEND="simulator", SMS_SIMULATOR_CALLBACKS="off", SMS_SIMULATOR_LOG=str(log),
        DISPATCH_BATCH_SIZE=str(args.batch),
    )  # fmt: skip
    common.setup_django()
    from django.db import connection

    tenant, campaign = setup(args.contacts)
    print(f"tenant {tenant.slug} (#{tenant.id}), zone {tenant.timezone}; {args.contacts:,} contacts", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    try:
        launch_s = launch(campaign)
        campaign.refresh_from_db()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE campaigns_sendjob")
        handoff_s = hand_off(campaign, args.workers, os.environ.copy())
        from django.db.models import Max, Min

        from messaging.models import Message

        span = Message.objects.filter(tenant=tenant).aggregate(first=Min("created_at"), last=Max("handed_off_at"))
        steady = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0.0
        checks = verify(campaign, log)
        floor_s = floor(campaign, args.batch)
        total = campaign.jobs_total
        launch_rate, handoff_rate = total / launch_s, total / handoff_s
        print()
        print(f"{'phase':34} {'seconds':>8} {'per second':>12}")
        print(f"{'launch (jobs created)':34} {launch_s:8.2f} {launch_rate:12,.0f}")
        print(f"{'gated hand-off, ' + str(args.workers) + ' workers (wall)':34} {handoff_s:8.2f} {handoff_rate:12,.0f}")
        if steady:
            print(f"{'  first to last hand-off':34} {steady:8.2f} {total / steady:12,.0f}")
        print(f"{'floor: bare UPDATE in batches':34} {floor_s:8.2f} {total / floor_s:12,.0f}")
        print(f"ratio hand-off / floor: {handoff_s / floor_s:.1f}x")
        duplicates = 0 if all(ok for ok, _ in checks[1:3]) else "see verification"
        print(f"duplicates: {duplicates}")
        print()
        print(f"{'target':40} {'measured':>12}  status")
        print(
            f"{'launch >= 50,000 jobs/s':40} {launch_rate:12,.0f}  {'PASS' if launch_rate >= TARGET_LAUNCH else 'FAIL'}"
        )
        print(
            f"{'gated hand-off >= 2,000 messages/s':40} {handoff_rate:12,.0f}  "
            f"{'PASS' if handoff_rate >= TARGET_HANDOFF else 'FAIL'}"
        )
        print(f"{'zero duplicates':40} {str(duplicates):>12}  {'PASS' if duplicates == 0 else 'FAIL'}")
        print("\nverification")
        for ok, text in checks:
            print(f"  {'OK  ' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        if not args.keep:
            tenant_purge(tenant.id)
            log.unlink(missing_ok=True)
            workdir.rmdir()
            print(f"cleaned up tenant #{tenant.id}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
