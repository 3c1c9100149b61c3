"""The seven gates, evaluated for a whole batch of jobs right before hand-off.

In order: 1 kill switch, 2 budget, 3 do-not-contact, 4 suppression, 5 quiet hours, 6 rate
limit, 7 warmup; the first gate a job fails is the one recorded. Gate 1 is checked by the
dispatcher when it claims a batch and again under a share lock before every hand-off chunk.
Everything here reads the batch's data with a fixed number of queries, whatever its size.

How the order is kept while computing set-wise: gates 3-5 are per-job facts. Gates 6-7 are
computed next for the jobs that pass 3-5 (a sender with warmup room is chosen first, then a
rate-limit slot is reserved for that sender, so no slot is spent on a job without a sender;
a job with no sender room reports gate 7). Budget (gate 2) is decided last, walking the jobs
in order with a running total of what the ones that go will cost, and it wins over every
later gate's verdict: only messages that actually go consume budget.

Where each part lives: ``evaluation`` (``evaluate``, the order above), ``contact`` (gates
3-5), ``senders`` (gates 7 and 6), ``budget`` (gate 2, and the messages of the jobs that go),
``facts`` (what a batch reads, once), ``verdicts`` (what is decided), ``rules`` and ``prices``
(the final rules and prices, shared with ``screen``, the launch screen).
"""

from campaigns.gates.evaluation import evaluate
from campaigns.gates.prices import country_prices, price_for
from campaigns.gates.screen import launch_screen

__all__ = ["country_prices", "evaluate", "launch_screen", "price_for"]
