"""``python -m smscrm.testing.twilio_api``: the fake Twilio API as a bare process; prints
"listening URL" once bound and serves until SIGTERM/SIGINT (smscrm.testing.twilio_api)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import smscrm.testing.twilio_api as package
from smscrm.testing.twilio_api.server import TwilioApiFake
from smscrm.testing.twilio_api.wire import LISTENING


def _account(value: str) -> tuple[str, str]:
    sid, sep, token = value.partition(":")
    if not sep or not sid or not token:
        raise argparse.ArgumentTypeError("expected SID:TOKEN")
    return sid, token


def main(argv: list[str] | None = None) -> int:
    description = package.__doc__.split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m smscrm.testing.twilio_api", description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--latency-jitter", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--error-share", type=float, default=0.0)
    parser.add_argument("--timeout-share", type=float, default=0.0)
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    parser.add_argument("--deliver-after", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--account", type=_account, action="append", help="SID:TOKEN (repeatable; none: any)")
    args = parser.parse_args(argv)
    try:
        fake = TwilioApiFake(
            dict(args.account) if args.account else None,
            latency=args.latency,
            latency_jitter=args.latency_jitter,
            concurrency=args.concurrency,
            error_share=args.error_share,
            timeout_share=args.timeout_share,
            hang_seconds=args.hang_seconds,
            deliver_after=args.deliver_after,
            seed=args.seed,
            host=args.host,
            port=args.port,
        )
    except ValueError as exc:
        parser.error(str(exc))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        url = await fake.serve()
        print(LISTENING + url, flush=True)
        try:
            await stop.wait()
        finally:
            await fake.shutdown()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
