"""A cheap, realistic local Twilio Messages API (2010-04-01) on aiohttp, for the throughput
benchmark and the concurrency tests: latency, a per-account concurrency cap (429, code 20429),
5xx errors and hung requests (the message is created, the answer never comes).

Same wire format as ``messaging/tests/fake_twilio.py`` (paths, basic auth, error JSON, resource).
Never imports Django: the benchmark runs it as a bare process, with its own GIL.

In process (its own event loop in a daemon thread)::

    with TwilioApiFake(latency=0.01, concurrency=5, seed=1) as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        ...
        fake.stats()["created"], fake.log(), fake.created_to(), fake.configure(error_share=0.1)

As a process::

    python -m smscrm.testing.twilio_api --port 0 --latency 0.2 --concurrency 100 [--account SID:TOKEN ...]
    # prints "listening http://127.0.0.1:PORT", serves until SIGTERM/SIGINT, exits 0
    remote_stats(url), remote_reset(url), remote_configure(url, latency=0.5)   # or FakeProcess(...)

Control endpoints (no auth): ``GET /_fake/stats``, ``POST /_fake/reset``, ``POST /_fake/config``
(a JSON object of any of CONFIG_KEYS, applied live).

In flight: an account's request counts from its arrival until its answer is written, or until the
fake drops the connection of a hung request. A client that gives up early does not free its slot:
like Twilio, the fake finishes the request (and creates the message) anyway.

The package: ``wire`` (settings, counters, routes and canned answers), ``server`` (the aiohttp
fake, TwilioApiFake), ``remote`` (the benchmark's side: control calls and FakeProcess, stdlib
only) and ``__main__`` (the command line).
"""

from smscrm.testing.twilio_api.remote import FakeProcess, remote_configure, remote_reset, remote_stats
from smscrm.testing.twilio_api.server import TwilioApiFake
from smscrm.testing.twilio_api.wire import CONFIG_KEYS, COUNTERS, LISTENING

__all__ = [
    "CONFIG_KEYS",
    "COUNTERS",
    "LISTENING",
    "FakeProcess",
    "TwilioApiFake",
    "remote_configure",
    "remote_reset",
    "remote_stats",
]
