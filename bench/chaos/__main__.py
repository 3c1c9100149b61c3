"""bench/chaos: fault injection against the real processes, judged on what must never happen.

    python -m bench.chaos [--size ci|full] [--only NAME ...] [--seed N] [--keep-logs]
    make bench BENCH_ARGS=chaos

Scenarios (one module each; the docstring of each says what it proves):

  kill      dispatchers SIGKILLed at random mid-campaign, replaced; reconciler; final dispatch
  redis     the dispatchers' Redis stopped mid-campaign and started empty; a launch while the
            broker is down and a queued job-making task lost with it, both finished by the sweep
  postgres  the dispatchers' PostgreSQL cut (a TCP proxy) mid-campaign and restored
  import    an import's commit SIGKILLed twice mid-transaction, resumed by the stalled-import sweep
  webhooks  shuffled, replayed status callbacks of every message plus concurrent STOPs over HTTP
  budget    4 dispatchers racing on a tenant whose cap allows only part of the audience

Each prints what it injected and what it counted (a readable block and one JSON line), and
fails on any duplicate (by the simulator's own receipt log and by the messages table), lost job,
stuck job or overspend. The exit status is 1 when any scenario failed, with the reasons.

PostgreSQL: DATABASE_URL (default: the ``smscrm_chaos`` database on 127.0.0.1, created and
migrated when missing). Redis: REDIS_URL (default database 13 of the machine's server, used but
never broken); every Redis that is stopped is a redis-server of the suite's own on a free port.
Every tenant is purged, every process and server stopped, the temporary directory removed.

``--size ci`` (the default, for CI after the unit tests) took 107-132 s on the 2-core development
machine; ``--size full`` is several times bigger (25,000-message kill run, 200,000-row import …).
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.chaos import common

SCENARIOS = {
    "kill": "bench.chaos.kill",
    "redis": "bench.chaos.redis_outage",
    "postgres": "bench.chaos.postgres_outage",
    "import": "bench.chaos.import_kill",
    "webhooks": "bench.chaos.webhook_storm",
    "budget": "bench.chaos.budget_race",
}


def environment(workdir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "smscrm.settings")
    os.environ.setdefault("DATABASE_URL", common.DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", common.DEFAULT_REDIS_URL)
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the outage lines the loops log are warnings
    # Rate-limit and cache keys of our own in a shared Redis: tenant ids repeat across databases.
    os.environ.setdefault("CACHE_KEY_PREFIX", "smscrm-chaos")
    os.environ["DJANGO_ENV"] = "development"
    # This process: tasks run in place (a launch makes its jobs here; nothing is left queued in a
    # shared broker). Child processes get their own settings (common.child_env).
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")  # stored import files: the run's own
    os.environ.update(
        SMS_BACKEND="simulator", SMS_SIMULATOR_CALLBACKS="off", SMS_SIMULATOR_LOG=str(workdir / "suite-simulator.log")
    )
    path = os.environ.get("PYTHONPATH", "")
    if str(common.ROOT) not in path.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(common.ROOT), path) if p)


def prepare_database() -> None:
    bench_import = importlib.import_module("bench.import.__main__")
    bench_import.ensure_database(os.environ["DATABASE_URL"])  # creates it when missing
    bench_import.setup_django()  # django.setup() and migrate


def vacuum() -> float:
    """VACUUM ANALYZE the tables every run fills and purges, so each run starts alike.

    Where autovacuum is off (it is on this development machine), each run's purged rows would
    otherwise stay behind as dead tuples and bloated indexes, and every run would be slower
    than the one before it (the webhook storm measurably so). Plain VACUUM: nothing is locked.
    """
    from django.db import connection

    from bench.cleanup import ORDER

    started = time.monotonic()
    with connection.cursor() as cursor:
        for table in ORDER:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(table)}")
    return time.monotonic() - started


def purge_abandoned(older_than_minutes: int = 30) -> None:
    """Tenants a killed run (SIGKILL: no finally) left behind, once they are clearly not a live run's."""
    from django.utils import timezone

    from tenants.models import Tenant

    cutoff = timezone.now() - timezone.timedelta(minutes=older_than_minutes)
    for tenant in Tenant.objects.filter(slug__startswith="chaos-", created_at__lt=cutoff):
        common.purge(tenant)
        print(f"purged tenant {tenant.slug}, left by an earlier run that was killed", flush=True)


def _interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def run_one(name: str, size: common.Size, children: common.Children, workdir: Path, seed: int) -> common.Result:
    from django.db import close_old_connections

    module = importlib.import_module(SCENARIOS[name])
    result = common.Result(name)
    rng = random.Random(f"{seed}:{name}")
    print(f"\n=== chaos/{name} ===", flush=True)
    started = time.monotonic()
    try:
        module.run(size, children, workdir, rng, result)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - the scenario fails with its reason; the next one runs
        result.fail(f"the scenario itself failed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    finally:
        children.stop_all()
        close_old_connections()
    result.seconds = time.monotonic() - started
    print(f"  verdict: {result.verdict} in {result.seconds:.1f} s", flush=True)
    print(result.json(), flush=True)
    return result


def summary(results: list[common.Result], wall: float) -> None:
    def cell(value) -> str:
        return "-" if value is None else f"{value:,}"

    print()
    print(f"chaos summary ({wall:.0f} s)")
    header = (
        f"{'scenario':10} {'injected':48} {'duplicates':>10} {'lost':>5} {'stuck':>5} {'overspend':>9} "
        f"{'verdict':>7} {'seconds':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        over = "-" if r.overspend is None else f"{r.overspend}¢"
        print(
            f"{r.name:10} {r.injected[:48]:48} {cell(r.duplicates):>10} {cell(r.lost):>5} {cell(r.stuck):>5} "
            f"{over:>9} {r.verdict:>7} {r.seconds:7.1f}"
        )
    for r in results:
        for reason in r.failures:
            print(f"FAIL {r.name}: {reason}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(common.SIZES), default="ci")
    parser.add_argument(
        "--only", nargs="+", choices=list(SCENARIOS), metavar="NAME", help=f"run only these ({', '.join(SCENARIOS)})"
    )
    parser.add_argument("--seed", type=int, default=None, help="random choices (kill times, orders); printed")
    parser.add_argument("--keep-logs", action="store_true", help="keep the run's directory (child processes' logs)")
    args = parser.parse_args(argv)
    size = common.SIZES[args.size]
    seed = args.seed if args.seed is not None else int(time.time())
    names = args.only or list(SCENARIOS)

    workdir = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    environment(workdir)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    children = common.Children(workdir / "logs")
    results: list[common.Result] = []
    started = time.monotonic()
    try:
        prepare_database()
        purge_abandoned()
        vacuumed = vacuum()
        db = os.environ["DATABASE_URL"].rsplit("/", 1)[-1]
        print(
            f"bench/chaos: size {size.name}, seed {seed}, database {db}, {os.cpu_count()} CPUs; "
            f"scenarios {', '.join(names)}; tables vacuumed in {vacuumed:.1f} s; logs in {workdir}",
            flush=True,
        )
        for name in names:
            results.append(run_one(name, size, children, workdir, seed))
    except KeyboardInterrupt as exc:
        print(f"\ninterrupted ({str(exc) or 'Ctrl-C'}): stopping every process the suite started", file=sys.stderr)
        return 130
    finally:
        children.stop_all()
        if args.keep_logs:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if results:
            summary(results, time.monotonic() - started)
    return 1 if any(r.failures for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
