"""scripts/health-check.sh: checks a running SMS CRM from outside, one line per component.

Standard library only: it runs on a fresh machine, or on the host in front of the compose stack,
with no virtualenv. See `scripts/health-check.sh --help`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

USAGE = """\
Usage: scripts/health-check.sh [--timeout SECONDS] [BASE_URL]

Checks the SMS CRM at BASE_URL (default http://127.0.0.1:8000: `make run`, or the compose
stack from its host): GET BASE_URL/health, then from its answer the database, Redis, each
queue's worker heartbeat, beat, the Celery queue depths and the oldest due send job; then asks
the short-link host for a link that cannot exist (https://<short domain>/<token>, with BASE_URL's
scheme and port, when /health reports a short domain; else BASE_URL/s/<token>), which must
answer 404 from the short-link service itself (X-Short-Link: not-found) within 2 s.

Prints one line per component: OK|FAIL, component, latency, detail. Exit status: 0 when every
component is OK, 1 when any FAILs, 2 on bad usage. --timeout: seconds to wait for each answer
(default 5).
"""
COMPONENTS = (
    "database",
    "redis",
    "worker:dispatch",
    "worker:imports",
    "worker:default",
    "beat",
    "queues",
    "send_jobs",
)
# Well-formed (links.services.TOKEN_PATTERN: 8 to 16 letters and digits) but never issued: every
# token the application makes is TOKEN_LENGTH (10) characters long. One miss per run stays far
# below SHORT_LINK_MISSES_PER_MINUTE (30).
MISSING_TOKEN = "0healthcheck0404"  # noqa: S105 - not a secret
SLOW_MS = 2000


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (a short link that exists, an HTTPS redirect), not to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str, *, timeout: float) -> tuple[int, bytes, float, dict]:
    """(HTTP status, body, milliseconds, headers by lower-case name) of GET ``url`` within
    ``timeout`` in all; raises OSError (URLError, timeouts). In a daemon thread: urllib's
    timeout covers the connection, not the host's DNS lookup (getaddrinfo has none), and a
    resolver that never answers must not hold the script (a daemon thread does not keep it
    from exiting)."""
    outcome: dict = {}

    def get() -> None:
        try:
            outcome["answer"] = _fetch(url, timeout=timeout)
        except BaseException as error:  # handed to the caller's thread below
            outcome["error"] = error

    worker = threading.Thread(target=get, name="health-check-fetch", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError("timed out")  # an OSError, as urllib's own timeouts are
    if "error" in outcome:
        raise outcome["error"]
    return outcome["answer"]


def _fetch(url: str, *, timeout: float) -> tuple[int, bytes, float, dict]:
    request = urllib.request.Request(  # noqa: S310 - parse() allows http(s) URLs only
        url,
        headers={
            "User-Agent": "smscrm-health-check",
            "Accept": "application/json",
            # What the TLS proxy in front of web sends: straight to web's port (the compose stack
            # from its host), production settings would otherwise redirect /s/<token> to HTTPS.
            "X-Forwarded-Proto": "https",
        },
    )
    started = time.monotonic()
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, body, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:  # 3xx (not followed), 4xx, 5xx: an answer all the same
        status, body, headers = error.code, error.read(), error.headers
    ms = (time.monotonic() - started) * 1000
    return status, body, ms, {name.lower(): value for name, value in (headers or {}).items()}


def why(error: BaseException, url: str, timeout: float) -> str:
    """One line saying why ``url`` gave no answer."""
    reason = getattr(error, "reason", error)
    host = urlsplit(url).hostname
    if isinstance(reason, socket.gaierror):
        return f"DNS: cannot resolve {host} ({reason.strerror or reason})"
    # A tuple, not X | Y: the python3 of an older host (3.8, 3.9) runs this too.
    if isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason):
        return f"no answer from {url} within {timeout:g}s"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {urlsplit(url).netloc}"
    return f"{type(reason).__name__}: {reason} ({url})"


def line(ok: bool, component: str, ms: float | None, detail: str) -> str:
    latency = "-" if ms is None else f"{ms:.0f}ms"
    return f"{'OK' if ok else 'FAIL':<4} {component:<15} {latency:>7}  {detail}"


def summary(component: str, check: dict) -> str:
    """What an OK check is worth knowing; a failing one's error."""
    if check.get("status") != "ok":
        return str(check.get("error") or f"status {check.get('status')!r}")
    if component == "database":
        detail = f"{check.get('vendor', '')} answers"
    elif component.startswith("worker:") or component == "beat":
        detail = f"heartbeat {check.get('age_seconds')}s ago"
    elif component == "queues":
        depth = ", ".join(f"{queue} {n}" for queue, n in (check.get("depth") or {}).items())
        detail = f"waiting: {depth or 'not measured'} (limit {check.get('limit')})"
    elif component == "send_jobs":
        detail = f"{check.get('due')} due, oldest {check.get('oldest_due_seconds')}s (limit {check.get('limit')}s)"
    else:
        detail = "answers"
    return f"{detail}; {check['note']}" if check.get("note") else detail


def component_lines(body: dict) -> list[tuple[bool, str]]:
    """One (ok, line) per component /health reports on."""
    checks = body.get("checks") or {}
    lines = []
    for component in COMPONENTS:
        check = checks.get(component)
        if check is None and component == "redis":
            lines.append((True, line(True, "redis", None, "not configured (no REDIS_URL: file-system broker)")))
        elif check is None:
            lines.append((False, line(False, component, None, "not reported by /health")))
        elif not isinstance(check, dict):  # an older or foreign /health: a failing line, not a traceback
            lines.append((False, line(False, component, None, f"not a check in /health's answer: {check!r:.80}")))
        else:
            ok = check.get("status") == "ok"
            lines.append((ok, line(ok, component, check.get("ms"), summary(component, check))))
    return lines


def short_link_url(base_url: str, short_domain: str) -> str:
    """Where a missing link is asked for: the short domain with BASE_URL's scheme and port, or /s/."""
    base = urlsplit(base_url)
    if not short_domain:
        return f"{base_url}/s/{MISSING_TOKEN}"
    port = f":{base.port}" if base.port else ""
    return f"{base.scheme}://{short_domain}{port}/{MISSING_TOKEN}"


def short_link_line(base_url: str, short_domain: str, timeout: float) -> tuple[bool, str]:
    url = short_link_url(base_url, short_domain)
    try:
        status, _, ms, headers = fetch(url, timeout=timeout)
    except (OSError, ValueError) as error:
        return False, line(False, "short_links", None, why(error, url, timeout))
    if status != 404:
        extra = " (too many missing links asked for from here: the miss limit)" if status == 429 else ""
        return False, line(False, "short_links", ms, f"HTTP {status} for a missing link, expected 404{extra}: {url}")
    if headers.get("x-short-link") != "not-found":
        # Another server's 404 (the short domain's DNS or proxy points elsewhere), or the app's
        # generic one (the short-link route is broken): links in sent messages would not open.
        return False, line(False, "short_links", ms, f"404, but not from the short-link service: {url}")
    if ms > SLOW_MS:
        return False, line(False, "short_links", ms, f"404 but slower than {SLOW_MS}ms: {url}")
    return True, line(True, "short_links", ms, f"404 for a missing link: {url}")


def web(base_url: str, timeout: float) -> tuple[str, dict | str]:
    """(web's line, /health's body), or (web's failing line, why nothing else was checked)."""
    url = f"{base_url}/health"
    try:
        status, raw, ms, _ = fetch(url, timeout=timeout)
    except (OSError, ValueError) as error:
        return line(False, "web", None, why(error, url, timeout)), "not checked: web unreachable"
    try:
        body = json.loads(raw)
        if not isinstance(body, dict) or not isinstance(body.get("checks"), dict):
            raise ValueError("no checks")
    except ValueError:
        failed = line(False, "web", ms, f"HTTP {status} without /health's JSON: {url}")
        return failed, "not checked: web gave no /health answer"
    failing = ", ".join(body.get("failing") or [])
    detail = f"HTTP {status} from {url}" + (f" (failing: {failing})" if failing else "")
    return line(True, "web", ms, detail), body


def parse(argv: list[str]) -> tuple[str, float] | None:
    """(BASE_URL, timeout), or None on bad usage (after saying why)."""
    base_url, timeout, args = "http://127.0.0.1:8000", 5.0, list(argv)
    positional = []
    while args:
        arg = args.pop(0)
        if arg == "--timeout":
            try:
                timeout = float(args.pop(0) if args else "")
            except ValueError:
                timeout = 0
            if timeout <= 0:
                print("health-check.sh: --timeout takes a number of seconds above 0", file=sys.stderr)
                return None
        elif arg.startswith("-"):
            print(f"health-check.sh: unknown option {arg}", file=sys.stderr)
            return None
        else:
            positional.append(arg)
    if len(positional) > 1:
        print("health-check.sh: one BASE_URL at most", file=sys.stderr)
        return None
    if positional:
        base_url = positional[0].rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            print(f"health-check.sh: BASE_URL must be http(s)://host[:port], not {positional[0]!r}", file=sys.stderr)
            return None
    return base_url, timeout


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print(USAGE.replace("SLOW_MS", str(SLOW_MS)), end="")
        return 0
    parsed = parse(argv)
    if parsed is None:
        print(USAGE.splitlines()[0], file=sys.stderr)
        return 2
    base_url, timeout = parsed
    web_line, body = web(base_url, timeout)
    results = [(isinstance(body, dict), web_line)]
    if isinstance(body, str):
        results += [(False, line(False, name, None, body)) for name in (*COMPONENTS, "short_links")]
    else:
        results += component_lines(body)
        results.append(short_link_line(base_url, str(body.get("short_domain") or ""), timeout))
    for _, text in results:
        print(text, flush=True)
    return 0 if all(ok for ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
