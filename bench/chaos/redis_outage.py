"""redis: Redis stopped mid-campaign and started empty; a launch while the broker is down.

A redis-server of the suite's own is the dispatchers' REDIS_URL (rate limiter and cache) and
the broker of two launches:

- campaign C is launched while it runs: its job-making task waits in Redis, no worker takes it;
- three ``manage.py dispatch --loop`` processes send campaign A; a quarter of the way in,
  Redis is SIGKILLed (it keeps nothing on disk), so C's queued task is gone;
- campaign B is launched (``campaign_launch`` in a process of its own, Celery's broker that
  stopped Redis, not eager) while it is down: the launch commits, its task cannot be queued;
- after ~3 s Redis starts again, empty; ``campaigns_prepare_pending`` (the beat sweep, asked
  with ``now`` past PREPARE_GRACE_SECONDS) makes the jobs of B and C; the loops, still
  running, send all three; reconciler and final dispatch settle the rest.

Proves: the dispatch loops outlive the outage (exit 0, one "unavailable" and one "back after"
line each), nothing is decided without a rate-limit slot while Redis is down (no message was
created during the outage), a launch survives a broker outage and a lost task (all jobs made,
each contact sent exactly once), and no duplicate, loss or stuck job.
"""

from __future__ import annotations

import json
import random
import time
from datetime import timedelta
from pathlib import Path

from bench.chaos import common

OUTAGE_SECONDS = 3.0


def launch_child(children, name: str, campaign, redis_url: str) -> dict:
    """campaign_launch in its own process with Celery's broker at ``redis_url`` (not eager)."""
    child = common.helper(
        children, name, "launch", {"campaign_id": campaign.pk}, REDIS_URL=redis_url, CELERY_TASK_ALWAYS_EAGER="false"
    )
    if not children.wait([child], timeout=60):
        raise RuntimeError(f"{name}: the launch did not return in 60 s")
    if child.popen.returncode != 0:
        raise RuntimeError(f"{name}: the launch exited {child.popen.returncode}: {common.tail(child.stderr())}")
    return {"answer": json.loads(child.stdout().strip().splitlines()[-1]), "log": child.stderr()}


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, CampaignStatus
    from messaging.models import Message
    from tenants.models import Tenant

    jobs, side = size.redis_jobs, size.redis_side
    result.begin(
        f"Redis killed for {OUTAGE_SECONDS:.0f} s under 3 dispatchers ({jobs:,} messages), "
        f"restarted empty; launches with the broker down / task lost"
    )
    log = workdir / "redis-simulator.log"
    (workdir / "redis").mkdir(exist_ok=True)
    redis = common.PrivateRedis(workdir / "redis", children).start()
    tenant = common.sending_tenant("redis", groups={"a": jobs, "b": side, "c": side}, rate=300)
    try:
        a = common.campaign_for(tenant, "a")
        b = common.campaign_for(tenant, "b", launch=False)
        c = common.campaign_for(tenant, "c", launch=False)
        common.analyze()

        launched_c = launch_child(children, "redis-launch-c", c, redis.url)
        queued = redis.client().llen("imports")
        result.say(
            f"campaign C launched with the broker up: {launched_c['answer']['status']}, its task queued "
            f"({queued} message(s) in Redis's 'imports' list, no worker)"
        )
        if not queued:
            result.fail("campaign C's job-making task was not in the broker")

        workers = [
            common.dispatcher(children, f"redis-dispatcher-{n}", log=log, idle_exit=4, REDIS_URL=redis.url)
            for n in range(3)
        ]
        common.wait_for(lambda: common.accepted(log) >= jobs // 4, seconds=60, what="a quarter of campaign A")
        redis.stop()
        stopped_at, accepted_at_stop = timezone.now(), common.accepted(log)
        launched_b = launch_child(children, "redis-launch-b", b, redis.url)
        b.refresh_from_db()
        result.say(
            f"campaign B launched with the broker down: {b.status}, jobs made: {bool(b.jobs_created_at)}; "
            f"the launch logged: {common.tail(launched_b['log'], 1) or '(nothing)'}"
        )
        if b.status != CampaignStatus.RUNNING:
            result.fail(f"campaign B launched with the broker down ended {b.status}, not running")
        time.sleep(max(0.0, OUTAGE_SECONDS - (timezone.now() - stopped_at).total_seconds()))
        restarted_at = timezone.now()
        redis.start()
        outage = (restarted_at - stopped_at).total_seconds()
        left = sum(redis.client().llen(queue) for queue in ("dispatch", "imports", "default"))
        result.say(
            f"injected: Redis SIGKILLed at {accepted_at_stop:,} of {jobs:,} accepted, down {outage:.1f} s, "
            f"started empty ({left} queued tasks survived)"
        )
        result.injected = f"Redis down {outage:.1f} s, back empty; 2 launches"

        swept = services.campaigns_prepare_pending(
            now=timezone.now() + timedelta(seconds=services.PREPARE_GRACE_SECONDS + 1)
        )
        for campaign in (b, c):
            campaign.refresh_from_db()
        result.say(
            f"prepare_pending (now + {services.PREPARE_GRACE_SECONDS + 1} s) made the jobs of "
            f"{sorted(swept)}: B {b.jobs_total} jobs, C {c.jobs_total} jobs (audience {side} each)"
        )
        for label, campaign in (("B", b), ("C", c)):
            if campaign.pk not in swept or campaign.jobs_total != side:
                result.fail(f"campaign {label}: swept {campaign.pk in swept}, {campaign.jobs_total} jobs of {side}")

        finished = children.wait(workers, timeout=180)
        if not finished:
            result.fail("dispatchers still running 180 s after the outage")
        for worker in workers:
            down, back = common.outage_lines(worker.stderr())
            code = worker.popen.returncode
            result.say(f"{worker.name}: exit {code}, {down} 'unavailable' and {back} 'back after' lines")
            if code != 0:
                result.fail(f"{worker.name} exited {code} (it must outlive the outage): {common.tail(worker.stderr())}")
            elif (down, back) != (1, 1):
                result.fail(
                    f"{worker.name} logged {down} outage / {back} recovery lines, not one each: "
                    f"{common.tail(worker.stderr(), 6)}"
                )
        decided_during = Message.objects.filter(
            tenant=tenant, created_at__gte=stopped_at, created_at__lt=restarted_at
        ).count()
        first_after = Message.objects.filter(tenant=tenant, created_at__gte=restarted_at).order_by("created_at").first()
        resumed_in = (first_after.created_at - restarted_at).total_seconds() if first_after else None
        result.say(
            f"messages decided while Redis was down (no rate-limit slot to be had): {decided_during}; first "
            f"decision after the restart: " + (f"+{resumed_in:.1f} s" if first_after else "none")
        )
        if decided_during:
            result.fail(f"{decided_during} messages were decided while the rate limiter could not answer")

        counts = common.reconcile(log)
        resent = common.settle([a.pk, b.pk, c.pk], log)
        result.say(
            f"reconciler: found {counts['found']}, requeued {counts['requeued']}, unknown {counts['unknown']}; "
            f"final dispatch sent {resent}"
        )
        audit = common.audit(tenant, [a.pk, b.pk, c.pk], log)
        result.take(audit)
        statuses = dict(Campaign.objects.filter(pk__in=[a.pk, b.pk, c.pk]).values_list("name", "status"))
        result.say(f"campaigns: {statuses}")
        if set(statuses.values()) != {CampaignStatus.COMPLETED}:
            result.fail(f"campaigns not all completed: {statuses}")
        result.figures.update(
            outage_seconds=round(outage, 1),
            swept=swept,
            reconciler=counts,
            jobs=audit.jobs,
            accepted=audit.accepted,
            decided_during_outage=decided_during,
            resumed_after_seconds=resumed_in,
            final_dispatch_sent=resent,
        )
    finally:
        redis.stop()
        common.purge(Tenant.objects.get(pk=tenant.pk))
