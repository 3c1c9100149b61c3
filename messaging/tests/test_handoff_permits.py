"""The hand-off's permit rule and its quiet logging, without a provider."""

import asyncio
import logging

from messaging import handoff, handoff_permits
from messaging.backends.base import Outcome, SendResult


def exchange(permits, ask: handoff_permits.Exchange, cap: int = 10):
    return asyncio.run(permits.exchange("AC1", cap, ask))


def test_each_429_takes_one_off_the_cap_and_accepted_answers_let_it_creep_back():
    permits = handoff_permits.LocalPermits()
    granted, eff, _cut, over = exchange(permits, handoff_permits.Exchange(want=10))
    assert (granted, eff, over) == (10, 10.0, 0)
    _granted, eff, cut, over = exchange(permits, handoff_permits.Exchange(give=3, limited=3))
    assert eff == 7.0 and cut and over == 0  # 10 held, 3 given back: 7 in flight, the new cap
    _granted, eff, _cut, _over = exchange(permits, handoff_permits.Exchange(grow=7))
    assert eff == 8.0  # one more per n accepted at n allowed
    granted, _eff, _cut, over = exchange(permits, handoff_permits.Exchange(want=5))
    assert (granted, over) == (1, 0)  # 7 held, room for one
    _granted, eff, _cut, over = exchange(permits, handoff_permits.Exchange(limited=4))
    assert eff == 4.0 and over == 4  # more in flight than allowed: give back, do not pass on


def test_an_answer_at_the_cap_by_the_providers_count_does_not_let_the_cap_creep_back():
    async def run():
        engine = type("E", (), {"permits": handoff_permits.LocalPermits(), "lease": 30.0})()
        account = handoff._Account(engine, "AC1", cap=10)
        accepted = SendResult("r", Outcome.ACCEPTED, provider_id="SM1", concurrent_requests=10)
        roomy = SendResult("r", Outcome.ACCEPTED, provider_id="SM2", concurrent_requests=6)
        account.release(accepted)
        account.release(roomy)
        grow = account.pending.grow
        account.task.cancel()
        return grow

    assert asyncio.run(run()) == 1


def test_the_twilio_sdk_logs_warnings_only():
    assert logging.getLogger("twilio").getEffectiveLevel() == logging.WARNING
    assert not logging.getLogger("twilio.http_client").isEnabledFor(logging.INFO)
