"""What a dispatcher run counts (``DispatchStats``: batches, jobs claimed, messages sent, each
decision by gate and outcome), and the decisions added to the campaign's report funnel
(``tally``, the GateTally rows)."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection

from campaigns.models import Gate, GateOutcome, GateTally
from smscrm import metrics


@dataclass
class DispatchStats:
    batches: int = 0
    claimed: int = 0
    sent: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.outcomes[key] = self.outcomes.get(key, 0) + n

    def merge(self, other: DispatchStats) -> None:
        self.batches += other.batches
        self.claimed += other.claimed
        self.sent += other.sent
        for key, n in other.outcomes.items():
            self.count(key, n)


# The gates' verdicts and the provider's answers the report's funnel counts (every decision,
# so a job deferred twice counts twice); "sent" and bookkeeping keys are counted elsewhere.
TALLIED = {f"{gate}:{outcome}" for gate in Gate.values for outcome in GateOutcome.values} | {
    "provider:retry",
    "provider:failed",
    "unknown",
}


def tally(campaign_id: int, stats: DispatchStats) -> None:
    """Add this batch's decisions to the campaign's GateTally rows in one statement."""
    counts = sorted((key, n) for key, n in stats.outcomes.items() if n and key in TALLIED)
    metrics.gate_decisions(counts)
    if not counts:
        return
    table, key = connection.ops.quote_name(GateTally._meta.db_table), connection.ops.quote_name("key")
    values = ", ".join(["(%s, %s, %s)"] * len(counts))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, {key}, n) VALUES {values} "  # noqa: S608 - our names, placeholders
            f"ON CONFLICT (campaign_id, {key}) DO UPDATE SET n = {table}.n + EXCLUDED.n",
            [value for key, n in counts for value in (campaign_id, key, n)],
        )
