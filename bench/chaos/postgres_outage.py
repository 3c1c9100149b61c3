"""postgres: PostgreSQL unreachable mid-campaign, then back.

Three ``manage.py dispatch --loop`` processes reach PostgreSQL through a TCP proxy
(smscrm.testing.services.TcpProxy, in a process of its own). A quarter of the way through the
campaign the proxy is cut: every connection drops mid-whatever (a decision, a hand-off chunk
between the provider call and its commit) and new ones are refused. After ~4 s it lets them
through again. The reconciler (reading the provider's log) settles the chunks that reached the
provider but whose results never committed, and a final dispatch sends what it requeued.

Proves: the dispatch loops outlive the outage (exit 0, one "unavailable" and one "back after"
line each), nothing new is handed over without the database (at most the chunks already in
flight), and no duplicate, loss or stuck job.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.chaos import common

OUTAGE_SECONDS = 4.0
BATCH = 100


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    from tenants.models import Tenant

    jobs = size.postgres_jobs
    result.begin(f"PostgreSQL cut for {OUTAGE_SECONDS:.0f} s under 3 dispatchers ({jobs:,} messages)")
    log = workdir / "postgres-simulator.log"
    proxy = common.Proxy(children)
    tenant = common.sending_tenant("postgres", groups={"a": jobs}, rate=300)
    try:
        campaign = common.campaign_for(tenant, "a")
        common.analyze()
        via = common.database_url_via(proxy.port)
        workers = [
            common.dispatcher(children, f"postgres-dispatcher-{n}", log=log, idle_exit=4, batch=BATCH, database_url=via)
            for n in range(3)
        ]
        common.wait_for(lambda: common.accepted(log) >= jobs // 4, seconds=60, what="a quarter of the campaign")
        proxy.cut()
        cut_at, started = common.accepted(log), time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        during = common.accepted(log) - cut_at
        alive = sum(w.alive() for w in workers)
        proxy.restore()
        outage = time.monotonic() - started
        result.injected = f"PostgreSQL cut {outage:.1f} s under 3 dispatchers"
        result.say(
            f"injected: every connection through the proxy dropped at {cut_at:,} of {jobs:,} accepted, new "
            f"ones refused for {outage:.1f} s; {alive} of 3 loops alive at the end of it"
        )
        result.say(f"handed to the provider during the cut: {during} (chunks already in flight: at most {3 * BATCH})")
        if during > 3 * BATCH:
            result.fail(f"{during} messages handed over while the database was unreachable (more than in flight)")

        if not children.wait(workers, timeout=180):
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

        counts = common.reconcile(log)
        resent = common.settle([campaign.pk], log)
        result.say(
            f"reconciler: found {counts['found']} (reached the provider, results lost with the connection), "
            f"requeued {counts['requeued']}, unknown {counts['unknown']}; final dispatch sent {resent}"
        )
        audit = common.audit(tenant, [campaign.pk], log)
        result.take(audit)
        result.figures.update(
            outage_seconds=round(outage, 1),
            during_cut=during,
            reconciler=counts,
            jobs=audit.jobs,
            accepted=audit.accepted,
            final_dispatch_sent=resent,
        )
    finally:
        common.purge(Tenant.objects.get(pk=tenant.pk))
