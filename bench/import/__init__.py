"""Contact import benchmark: a realistic million-row CSV through the real dry run and commit on PostgreSQL.

Run ``python -m bench.import [--rows N] [--keep]`` (or ``make bench BENCH_ARGS=import``). See ``__main__.py``.
"""
