"""The benchmark's side of the fake Twilio API, stdlib only: its control endpoints over HTTP
(remote_stats, remote_reset, remote_configure) and FakeProcess, the fake as a child process
(smscrm.testing.twilio_api)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from smscrm.testing.twilio_api.wire import LISTENING


def _control(url: str, path: str, payload: dict | None = None, method: str = "POST", timeout: float = 10) -> dict:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http URL: {url!r}")
    data = json.dumps(payload).encode() if payload is not None else b""
    request = urllib.request.Request(  # noqa: S310 (http only, checked above)
        url.rstrip("/") + path,
        data=data if method == "POST" else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http only, checked above)
        return json.loads(response.read())


def remote_stats(url: str, timeout: float = 10) -> dict:
    return _control(url, "/_fake/stats", method="GET", timeout=timeout)


def remote_reset(url: str, timeout: float = 10) -> dict:
    return _control(url, "/_fake/reset", timeout=timeout)


def remote_configure(url: str, timeout: float = 10, **values) -> dict:
    """Change settings live (any of CONFIG_KEYS); returns the whole config."""
    return _control(url, "/_fake/config", values, timeout=timeout)["config"]


class FakeProcess:
    """``python -m smscrm.testing.twilio_api`` as a child process: url, cpu_seconds(), stop().

    FakeProcess(latency=0.2, concurrency=100, accounts={"AC..": "token"}) takes the CLI's options."""

    def __init__(self, accounts: dict[str, str] | None = None, *, startup_timeout: float = 30, **options):
        argv = [sys.executable, "-m", "smscrm.testing.twilio_api"]
        options.setdefault("port", 0)
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        for sid, token in (accounts or {}).items():
            argv += ["--account", f"{sid}:{token}"]
        root = Path(__file__).resolve().parents[3]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, text=True)
        self.url = self._await_listening(startup_timeout)

    def _await_listening(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        line = result[0] if result else ""
        if not line.startswith(LISTENING):
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"the fake did not start: {line!r} (exit code {self.process.returncode})")
        return line[len(LISTENING) :].strip()

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the fake has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict:
        return remote_stats(self.url)

    def reset(self) -> dict:
        return remote_reset(self.url)

    def configure(self, **values) -> dict:
        return remote_configure(self.url, **values)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; returns the exit code (0 on a clean stop)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
