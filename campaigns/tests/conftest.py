"""Fixtures of the dispatcher tests."""

import datetime as dt

import pytest
import time_machine

from messaging.backends import locmem

# 14:00 in Sydney (daylight saving, UTC+11) and 11:00 in Perth: inside the sending window everywhere.
NOON_SYDNEY = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _outbox():
    """The locmem provider's outbox, empty for every test."""
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def clock():
    with time_machine.travel(NOON_SYDNEY, tick=True) as traveller:
        yield traveller
