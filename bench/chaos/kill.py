"""kill: dispatchers SIGKILLed at random during a campaign send nothing twice and lose nothing.

Three ``manage.py dispatch --loop`` processes share one campaign (rate-limited so it lasts
several seconds). Every 0.3-1.0 s one of them, chosen at random, is SIGKILLed (mid-decision,
mid-hand-off, mid-commit: wherever it is) and a replacement is started. Then the reconciler
(``reconcile_sending``, older_than=0, reading the same simulator log) settles the jobs the dead
left ``sending`` and a final dispatch sends what it requeued.

Proves: a job is handed to the provider at most once whatever instant its worker dies (the
provider's own log and the messages table agree), every job ends sent, none is left
``unknown`` (the simulator's log can always tell), and the spend rows equal the live messages.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.chaos import common


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    from tenants.models import Tenant

    jobs, rate = size.kill_jobs, size.kill_rate
    result.begin(f"3 dispatchers SIGKILLed at random during a {jobs:,}-message campaign at {rate}/s")
    log = workdir / "kill-simulator.log"
    tenant = common.sending_tenant("kill", groups={"a": jobs}, rate=rate)
    try:
        campaign = common.campaign_for(tenant, "a")
        common.analyze()
        target = rng.randint(*size.kill_count)
        names = iter(f"kill-dispatcher-{n}" for n in range(1000))
        workers = [common.dispatcher(children, next(names), log=log) for _ in range(3)]
        everyone = list(workers)
        started = time.monotonic()
        common.wait_for(lambda: common.accepted(log) >= jobs * 0.03, seconds=60, what="the first hand-offs")
        kills: list[tuple[float, int]] = []  # (seconds since start, messages accepted when it died)
        while len(kills) < target:
            time.sleep(rng.uniform(0.3, 1.0))
            if common.accepted(log) >= jobs * 0.85:
                break  # leave the rest to the survivors: the log must move on after the last kill
            alive = [w for w in workers if w.alive()]
            if not alive:
                break
            victim = rng.choice(alive)
            children.kill(victim)
            kills.append((time.monotonic() - started, common.accepted(log)))
            workers.remove(victim)
            workers.append(common.dispatcher(children, next(names), log=log))
            everyone.append(workers[-1])
        finished = children.wait(workers, timeout=180)
        handoff_s = time.monotonic() - started
        result.injected = f"{len(kills)} SIGKILLs of 3 dispatchers ({jobs:,} jobs)"
        result.say(
            f"injected: {len(kills)} SIGKILLs of 3 running dispatchers (target {target}), each replaced at "
            f"once; at {', '.join(f'{t:.1f}s/{n}' for t, n in kills[:15])}{' …' if len(kills) > 15 else ''} "
            "(time/accepted)"
        )
        if len(kills) < size.kill_count[0]:
            result.fail(f"only {len(kills)} kills landed before 85% of the campaign was sent (wanted {target})")
        crashed = [w for w in everyone if not w.killed and w.popen.returncode not in (0, None)]
        if not finished:
            result.fail("dispatchers still running 180 s after the last kill")
        for worker in crashed:
            result.fail(f"{worker.name} exited {worker.popen.returncode}: {common.tail(worker.stderr())}")
        before = common.accepted(log)
        counts = common.reconcile(log)
        resent = common.settle([campaign.pk], log)
        result.say(f"hand-off with kills: {handoff_s:.1f} s, {before:,} accepted by the provider")
        result.say(
            f"reconciler: found {counts['found']} (accepted, recorded as sent), requeued {counts['requeued']} "
            f"(never reached the provider), unknown {counts['unknown']}; final dispatch sent {resent}"
        )
        audit = common.audit(tenant, [campaign.pk], log)
        result.take(audit)
        result.figures.update(
            kills=len(kills),
            reconciler=counts,
            final_dispatch_sent=resent,
            jobs=audit.jobs,
            accepted=audit.accepted,
            handoff_seconds=round(handoff_s, 1),
        )
    finally:
        common.purge(Tenant.objects.get(pk=tenant.pk))
