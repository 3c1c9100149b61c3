"""bench/segments: how long counting one message's segments takes (messaging.segments).

    python -m bench.segments [--calls 2000] [--rounds 5]

Every preview, estimate and send counts segments, so a plain 160-character GSM-7 message must
take well under 20 µs. Three messages are timed: plain GSM-7, GSM-7 with extension characters,
and UCS-2 with emoji; each as ``calls`` different texts (a number appended, the cache emptied
first: what a campaign's personalised messages cost) and as one text repeated (answered from
messaging.segments' cache, as a preview re-rendered is), the best of the rounds, per call.
No database needed. Exit status 1 when the plain message misses its target.
"""

from __future__ import annotations

import argparse
import sys
import time

from messaging import segments
from messaging.segments import segment_info

TARGET_US = 20.0
PLAIN = ("Hi Sam, your table at Acme Bakery is booked for 7pm Fri. Reply STOP to opt out. " * 2)[:160]
MESSAGES = {
    "plain GSM-7, 160 chars": PLAIN,
    "GSM-7 with extension chars": ("Deal [today] {only}: 20€ off ~ reply STOP | " * 4)[:150],
    "UCS-2 with emoji": ("Zoë, 🇦🇺 spring blend ☕ is in! 👨‍👩‍👧‍👦 20% off: " * 3)[:120],
}


def per_call_us(texts: list[str], *, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        segments._segment_info.cache_clear()
        started = time.perf_counter()
        for text in texts:
            segment_info(text)
        best = min(best, (time.perf_counter() - started) / len(texts))
    return best * 1e6


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.segments")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'message':30} {'segments':>8} {'different texts':>16} {'one text repeated':>18}")
    plain = 0.0
    for name, text in MESSAGES.items():
        different = per_call_us([f"{text[:-6]}{n:06d}" for n in range(args.calls)], rounds=args.rounds)
        repeated = per_call_us([text] * args.calls, rounds=args.rounds)
        plain = plain or different
        print(f"{name:30} {segment_info(text).segments:>8} {different:>13.2f} µs {repeated:>15.2f} µs")
    if plain >= TARGET_US:
        print(f"FAIL plain GSM-7 takes {plain:.1f} µs per call (target < {TARGET_US:.0f} µs)")
        return 1
    print(f"PASS plain GSM-7 under {TARGET_US:.0f} µs per call")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
