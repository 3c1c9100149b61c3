"""Run the benchmarks: `make bench` runs all, `make bench BENCH_ARGS=import` runs one.

Each benchmark is a package `bench/<name>/` with a `__main__.py`, run as its own process so
that one's memory and connections do not colour the next. Benchmarks measure on PostgreSQL and
Redis (DATABASE_URL / REDIS_URL, defaulting to this machine's) and print their own figures.
"""

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def available() -> list[str]:
    return sorted(p.name for p in BENCH.iterdir() if (p / "__main__.py").exists())


def main(argv: list[str]) -> int:
    names = argv or available()
    if not names:
        print("No benchmarks yet: each issue that sets a performance target adds one under bench/.")
        return 0
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"Unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/smscrm_bench",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        **os.environ,
        "PYTHONPATH": str(ROOT),
    }
    failed = 0
    for name in names:
        print(f"=== bench/{name} ===", flush=True)
        failed |= subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=ROOT, env=env) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
