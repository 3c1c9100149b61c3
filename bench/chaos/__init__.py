"""bench/chaos: a repeatable fault-injection suite for the sending engine, imports and webhooks.

    python -m bench.chaos [--size ci|full] [--only NAME ...] [--seed N] [--keep-logs]

Each scenario breaks something on purpose (SIGKILLs, a Redis or PostgreSQL outage, a killed
import, a webhook storm, a budget race), then counts what the product promises never happens:
duplicates (by the simulator's own receipt log and by the messages table), lost jobs, stuck
jobs and overspend. See ``__main__`` for the list and ``common`` for the shared checks.
"""
