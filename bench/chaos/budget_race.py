"""budget: four dispatchers race on a tenant whose cap allows only part of the audience.

Each round is a fresh tenant (rate limits and warmup lifted, so the workers collide as hard as
they can) whose daily cap, or in alternate rounds whose monthly cap (the month already partly
spent), leaves room for 35-45% of the campaign, plus a few cents that are not enough for one
more message. Four ``manage.py dispatch --loop`` processes (small batches, so reservations
collide) are started with the tenant paused; once all four are connected the kill switch is
lifted and they race.

Proves: spend never passes a cap by a cent (Spend rows and the live messages' cost, day and
month), the spend rows equal the live messages' cost, exactly the messages that fit are sent
(no room for another is left while jobs wait), and every job beyond the cap is deferred by the
budget gate to the next local day or month, not sent; no duplicate, loss or stuck job.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from bench.chaos import common

WORKERS = 4
BATCH = 50


def connected(prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s AND datname = current_database()",
            [prefix + "%"],
        )
        return cursor.fetchone()[0]


def race(
    n: int,
    binding: str,
    size: common.Size,
    children: common.Children,
    workdir: Path,
    rng: random.Random,
    result: common.Result,
) -> None:
    from django.db.models import Max, Min, Q
    from django.utils import timezone

    from campaigns.models import Gate, GateOutcome, JobStatus, SendJob
    from messaging import services as messaging_services
    from messaging.models import Message, Spend
    from tenants.models import Tenant
    from tenants.services import tenant_set_paused

    contacts = size.budget_contacts
    fit = round(contacts * rng.uniform(0.35, 0.45))
    slack = rng.randint(1, common.PRICE - 1)  # not enough for one more message
    room = fit * common.PRICE + slack
    if binding == "daily":
        daily, monthly, seed = room, room * 20, 0
    else:
        monthly = 10_000_000
        daily, seed = monthly, monthly - room  # the month is mostly spent already
    tenant = common.sending_tenant(
        f"budget{n}", groups={"a": contacts}, daily_cap=daily, monthly_cap=monthly, paused=True
    )
    log = workdir / f"budget-{n}-simulator.log"
    try:
        if seed:
            _, month = messaging_services.local_periods(tenant, timezone.now())
            Spend.objects.create(tenant=tenant, period="month", starts_on=month, cents=seed)
        campaign = common.campaign_for(tenant, "a")
        common.analyze()
        prefix = f"chaos-budget-{n}-"
        workers = [
            common.dispatcher(children, f"budget-{n}-{w}", log=log, idle_exit=5, batch=BATCH) for w in range(WORKERS)
        ]
        common.wait_for(lambda: connected(prefix) >= WORKERS, seconds=60, what=f"{WORKERS} dispatchers connected")
        tenant_set_paused(tenant=tenant, actor=None, paused=False, reason="chaos: go")
        if not children.wait(workers, timeout=120):
            result.fail(f"round {n}: dispatchers still running after 120 s")
        for worker in workers:
            if worker.popen.returncode != 0:
                result.fail(
                    f"round {n}: {worker.name} exited {worker.popen.returncode}: {common.tail(worker.stderr())}"
                )
        per_worker = []
        for worker in workers:
            lines = worker.stdout().strip().splitlines()
            per_worker.append(json.loads(lines[-1])["sent"] if lines else None)
        span = Message.objects.filter(tenant=tenant).aggregate(first=Min("created_at"), last=Max("handed_off_at"))
        raced = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0.0
        counts = common.reconcile(log)
        if any(counts.values()):
            result.say(f"round {n}: reconciler {counts}")
        deferred = Q(gate=Gate.BUDGET, outcome=GateOutcome.DEFER, next_attempt_at__gt=timezone.now())
        audit = common.audit(tenant, [campaign.pk], log, expected_pending=deferred, month_seed=seed)
        sent = audit.jobs.get(JobStatus.SENT, 0)
        cap_left = min(daily - audit.spend_day, monthly - audit.spend_month)
        reasons = sorted(
            SendJob.objects.filter(campaign=campaign).filter(deferred).values_list("reason", flat=True).distinct()
        )
        result.say(
            f"round {n} ({binding} cap binds): {contacts:,} contacts, room for {fit:,} messages of "
            f"{common.PRICE}¢ + {slack}¢; {WORKERS} dispatchers raced {raced:.1f} s: sent {sent:,} "
            f"({' + '.join(map(str, per_worker))} by worker), deferred by the budget gate "
            f"{audit.expected_pending:,} ({'; '.join(reasons)}), left under the cap "
            f"{cap_left}¢"
        )
        result.take(audit)
        if sent != fit:
            result.fail(f"round {n}: sent {sent} messages where exactly {fit} fit under the {binding} cap")
        if sent + audit.expected_pending != contacts:
            result.fail(
                f"round {n}: {contacts - sent - audit.expected_pending} jobs neither sent nor deferred "
                f"by the budget gate: {audit.jobs}"
            )
        result.figures.setdefault("rounds", []).append(
            {
                "binding": binding,
                "contacts": contacts,
                "fit": fit,
                "sent": sent,
                "sent_by_worker": per_worker,
                "deferred": audit.expected_pending,
                "spend_day": audit.spend_day,
                "spend_month": audit.spend_month,
                "daily_cap": daily,
                "monthly_cap": monthly,
                "overspend": audit.overspend,
                "cap_left": cap_left,
            }
        )
    finally:
        children.stop_all()
        common.purge(Tenant.objects.get(pk=tenant.pk))


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    rounds = size.budget_rounds
    result.begin(f"{rounds} races of {WORKERS} dispatchers on a cap that fits 35-45% of {size.budget_contacts:,}")
    result.injected = f"{rounds} races x {WORKERS} dispatchers on a cap"
    for n in range(1, rounds + 1):
        race(n, "daily" if n % 2 else "monthly", size, children, workdir, rng, result)
