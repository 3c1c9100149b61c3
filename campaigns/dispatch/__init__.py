"""The dispatcher: claims due send jobs, runs the seven gates, hands messages to the provider.

One batch is one campaign's due jobs, claimed with ``FOR UPDATE SKIP LOCKED`` so that any
number of workers share the work without waiting on each other. A batch goes in two steps:

1. **Decide** (one transaction): lock the jobs and their contacts (so two campaigns cannot
   both slip a message to one contact past suppression). Evaluate the gates for the whole
   batch with a handful of set-based queries (campaigns.gates), reading the tenant's spend for
   its local day and month and its senders' warmup counts *without* locks, so workers of one
   tenant decide side by side. Jobs that pass become ``sending`` with a Message row; the last
   statements before commit reserve their cost and their senders' counts with conditional
   updates that succeed only while every cap still holds. If another worker used the room in
   the meantime, the reservation fails, the transaction rolls back, and the batch is decided
   again with the spend and warmup rows locked from the start (``process_batch``). Once the
   transaction commits, a job is never handed over again without a person deciding.
2. **Hand off**, in chunks, each chunk its own transaction that first holds the kill switch's
   lock shared (tenants.killswitch) and reads whether tenant and campaign still run. A pause
   takes that lock exclusively, so it waits for the chunks under way and every later chunk
   sees it: no provider call starts after a pause commits. Held jobs go back to pending with
   their reservation released. Each message waits for its rate-limit slot, then goes to the
   provider. With a backend that keeps many calls in flight (Twilio, messaging.handoff) a chunk
   closes once all its calls have started; the answers in by then are written in the chunk and
   later ones by the same worker as they arrive (``_Flight``). Otherwise, one call at a time,
   the results are written in the same chunk.

A worker that dies between the two steps or mid-chunk leaves jobs ``sending``; the
reconciler (``reconcile_sending``) asks the provider about them by our reference where it
can, and marks the rest ``unknown`` for a person. Nothing is ever sent twice automatically;
the database refuses a second live message per campaign and contact besides.

Where each part lives: ``loop`` (``dispatch``, the round-robin over campaigns, and
``campaigns_advance``), ``batch`` (step 1: claim, decide, write the decisions), ``chunks``
(step 2, a chunk at a time under the kill switch's lock), ``flights`` (concurrent hand-off:
``_Flight`` and the seats at a campaign), ``results`` (what the provider's answers mean, written
set-wise), ``stats`` (what a run counts, the report's tallies), ``reconcile``
(``reconcile_sending``).
"""

from campaigns.dispatch.batch import process_batch
from campaigns.dispatch.loop import campaigns_advance, dispatch
from campaigns.dispatch.reconcile import reconcile_sending
from campaigns.dispatch.stats import DispatchStats

__all__ = ["DispatchStats", "campaigns_advance", "dispatch", "process_batch", "reconcile_sending"]
