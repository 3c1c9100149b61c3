"""scripts/health-check.sh against a real server (pytest-django's live_server, in this process:
the settings a test changes are the server's), one component down at a time."""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from campaigns.models import CampaignStatus, SendJob
from campaigns.tests.factories import CampaignFactory
from conftest import require_service
from contacts.tests.factories import ContactFactory
from links import middleware as link_hosts
from smscrm.heartbeats import BEAT, heartbeat_record, worker_components
from smscrm.models import Heartbeat
from smscrm.testing.services import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "health-check.sh"
COMPONENTS = [
    "web",
    "database",
    "redis",
    "worker:dispatch",
    "worker:imports",
    "worker:default",
    "beat",
    "queues",
    "send_jobs",
    "short_links",
]
MISSING = "0healthcheck0404"  # the script's token for a link that cannot exist


def script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def run(*args: str) -> tuple[int, dict[str, tuple[str, str]], subprocess.CompletedProcess]:
    """The script's exit status and {component: (OK|FAIL, detail)}, its lines in order."""
    result = script(*args)
    lines = {}
    for line in result.stdout.splitlines():
        status, component, latency, detail = line.split(None, 3)
        assert status in ("OK", "FAIL") and re.fullmatch(r"-|\d+ms", latency), line
        lines[component] = (status, detail)
    return result.returncode, lines, result


def port_of(live_server) -> int:
    return int(live_server.url.rsplit(":", 1)[1])


def base_url(live_server) -> str:
    return f"http://127.0.0.1:{port_of(live_server)}"


def failing(lines) -> list[str]:
    return [component for component, (status, _) in lines.items() if status != "OK"]


@pytest.fixture
def beating():
    for component in (*worker_components(), BEAT):
        heartbeat_record(component=component)


@pytest.fixture
def own_redis(tmp_path, settings):
    """A redis-server of this test's own as REDIS_URL (broker and metrics), killed at the end."""
    require_service("redis-server", RedisServer.available(), "not installed")
    server = RedisServer(tmp_path).start()
    settings.REDIS_URL = server.url
    yield server
    server.stop()


def test_everything_up_is_ok_line_by_line_and_exit_0(live_server, beating, settings):
    code, lines, result = run(base_url(live_server))
    assert code == 0, result.stdout + result.stderr
    assert list(lines) == COMPONENTS
    assert failing(lines) == []
    assert lines["web"][1] == f"HTTP 200 from {base_url(live_server)}/health"
    assert lines["short_links"][1] == f"404 for a missing link: {base_url(live_server)}/s/{MISSING}"
    assert lines["worker:dispatch"][1].startswith("heartbeat ")
    expected_redis = "answers" if settings.REDIS_URL else "not configured"
    assert lines["redis"][1].startswith(expected_redis)


def test_a_stopped_worker_fails_its_queue_and_exits_1(live_server, beating, settings):
    Heartbeat.objects.filter(component="worker:imports").delete()
    Heartbeat.objects.filter(component="worker:dispatch").update(
        beat_at=timezone.now() - timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS + 30)
    )
    code, lines, _ = run(base_url(live_server))
    assert code == 1
    assert failing(lines) == ["worker:dispatch", "worker:imports"]
    assert lines["worker:imports"][1] == "no worker (queue imports) heartbeat recorded yet"
    assert lines["worker:dispatch"][1].startswith("last worker (queue dispatch) heartbeat")
    assert "failing: worker:dispatch, worker:imports" in lines["web"][1]


def test_a_stale_beat_fails_beat_and_exits_1(live_server, beating, settings):
    Heartbeat.objects.filter(component=BEAT).update(
        beat_at=timezone.now() - timedelta(seconds=settings.HEALTH_HEARTBEAT_MAX_AGE_SECONDS + 30)
    )
    code, lines, _ = run(base_url(live_server))
    assert code == 1
    assert failing(lines) == ["beat"]
    assert lines["beat"][1].startswith("last beat heartbeat ")


def test_redis_going_down_fails_redis_quickly_and_exits_1(live_server, beating, own_redis):
    code, lines, result = run(base_url(live_server))
    assert code == 0, result.stdout
    assert lines["redis"][0] == lines["queues"][0] == "OK"

    own_redis.stop()
    started = time.monotonic()
    code, lines, _ = run(base_url(live_server))
    assert time.monotonic() - started < 10  # refused at once, never a hang
    assert code == 1
    # The broker is that Redis: how many tasks wait is unknown, which fails too.
    assert failing(lines) == ["redis", "queues"]
    assert lines["redis"][1].startswith("ConnectionError")
    assert lines["queues"][1].startswith("broker unreadable: ConnectionError")


def test_a_queue_longer_than_the_limit_fails_queues(live_server, beating, own_redis, settings):
    import redis

    redis.Redis.from_url(own_redis.url).rpush("dispatch", "a task", "another")
    settings.HEALTH_QUEUE_DEPTH_MAX = 1
    code, lines, _ = run(base_url(live_server))
    assert code == 1
    assert failing(lines) == ["queues"]
    assert lines["queues"][1] == "tasks waiting: dispatch 2 (limit 1)"


def test_a_due_send_job_waiting_too_long_fails_send_jobs(live_server, beating, settings):
    campaign = CampaignFactory(status=CampaignStatus.RUNNING)
    contact = ContactFactory(tenant=campaign.tenant, consent="express")
    waited = settings.HEALTH_OLDEST_DUE_MAX_SECONDS + 60
    SendJob.objects.create(
        tenant=campaign.tenant,
        campaign=campaign,
        contact=contact,
        next_attempt_at=timezone.now() - timedelta(seconds=waited),
    )
    code, lines, _ = run(base_url(live_server))
    assert code == 1
    assert failing(lines) == ["send_jobs"]
    assert lines["send_jobs"][1].startswith(f"the oldest of 1 due send jobs has waited {waited}s")


def test_a_short_domain_that_does_not_resolve_fails_short_links(live_server, beating, settings):
    settings.SHORT_DOMAIN = "nowhere.invalid"
    link_hosts.hosts_forget()
    code, lines, _ = run("--timeout", "5", base_url(live_server))
    assert code == 1
    assert failing(lines) == ["short_links"]
    assert lines["short_links"][1].startswith("DNS: cannot resolve nowhere.invalid")


def test_a_short_domain_serving_links_answers_404_for_the_missing_one(live_server, beating, settings):
    """localhost is the short domain and 127.0.0.1 the application: the miss is asked for at
    http://localhost:PORT/<token>, where only the short-link middleware answers."""
    port = port_of(live_server)
    settings.SHORT_DOMAIN = "localhost"
    settings.APP_HOSTS = ["127.0.0.1"]
    settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{port}"
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    link_hosts.hosts_forget()
    code, lines, result = run(base_url(live_server))
    assert code == 0, result.stdout
    assert lines["short_links"] == ("OK", f"404 for a missing link: http://localhost:{port}/{MISSING}")
    # localhost really is a short domain here: it serves links (and /health) and nothing else.
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"http://localhost:{port}/contacts/", timeout=5)  # noqa: S310 - a test URL
    assert answer.value.code == 404


# Loaded by the script's python3 (PYTHONPATH): a resolver that never answers for *.hang.test.
HANGING_RESOLVER = """
import socket, threading
_resolve = socket.getaddrinfo
def getaddrinfo(host, *args, **kwargs):
    if str(host).endswith(".hang.test"):
        threading.Event().wait()
    return _resolve(host, *args, **kwargs)
socket.getaddrinfo = getaddrinfo
"""


def test_a_resolver_that_never_answers_fails_short_links_after_the_timeout(live_server, beating, settings, tmp_path):
    """getaddrinfo has no timeout of its own (urllib's covers the connection only): a dead
    resolver must not hold the script past --timeout."""
    (tmp_path / "sitecustomize.py").write_text(HANGING_RESOLVER)
    settings.SHORT_DOMAIN = "go.hang.test"
    link_hosts.hosts_forget()
    result = subprocess.run(  # TimeoutExpired (a failure) if the script waits on the resolver
        ["bash", str(SCRIPT), "--timeout", "1", base_url(live_server)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stdout.splitlines()[-1].split(None, 3)
    assert (last[0], last[1], last[3]) == (
        "FAIL",
        "short_links",
        f"no answer from http://go.hang.test:{port_of(live_server)}/{MISSING} within 1s",
    )


def test_without_redis_as_under_make_run_the_file_broker_is_measured(live_server, beating, settings, tmp_path):
    settings.REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path), "data_folder_out": str(tmp_path)}
    (tmp_path / "1_a.default.msg").write_bytes(b"{}")
    code, lines, result = run(base_url(live_server))
    assert code == 0, result.stdout
    assert lines["redis"] == ("OK", "not configured (no REDIS_URL: file-system broker)")
    assert lines["queues"][1].startswith("waiting: dispatch 0, imports 0, default 1 (limit 10000)")


def test_any_answer_but_404_for_the_missing_link_fails_short_links(live_server, beating, settings):
    settings.SHORT_LINK_MISSES_PER_MINUTE = 0  # every unknown token is refused with 429
    code, lines, _ = run(base_url(live_server))
    assert code == 1
    assert failing(lines) == ["short_links"]
    assert lines["short_links"][1].startswith("HTTP 429 for a missing link, expected 404 (too many missing links")


@pytest.fixture
def health_answering():
    """A stand-in web whose /health answers ``body`` (set by the test), anything else the
    short-link service's 404 (``own_misses``: set False for a 404 from some other server)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answer: dict = {"own_misses": True}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            data = json.dumps(answer["body"]).encode() if self.path == "/health" else b"{}"
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.path != "/health" and answer["own_misses"]:
                self.send_header("X-Short-Link", "not-found")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answer["url"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield answer
    server.shutdown()
    server.server_close()


def test_a_component_missing_or_unreadable_in_the_health_answer_fails_and_every_line_is_printed(health_answering):
    """An older or foreign /health: what it does not report is not OK (redis excepted: /health
    leaves it out when the app has no REDIS_URL), and an answer that is not a check fails its line
    instead of stopping the script."""
    ok = {"status": "ok", "age_seconds": 1.0, "ms": 1.0}
    health_answering["body"] = {
        "status": "ok",
        "checks": {
            "database": {"status": "ok", "vendor": "postgresql", "ms": 1.0},
            **{name: ok for name in ("worker:dispatch", "worker:imports", "worker:default", "beat")},
            "send_jobs": "ok",
        },
        "short_domain": "",
    }
    code, lines, result = run(health_answering["url"])
    assert code == 1, result.stderr
    assert list(lines) == COMPONENTS
    assert failing(lines) == ["queues", "send_jobs"]
    assert lines["queues"] == ("FAIL", "not reported by /health")
    assert lines["send_jobs"] == ("FAIL", "not a check in /health's answer: 'ok'")
    assert lines["redis"] == ("OK", "not configured (no REDIS_URL: file-system broker)")


def test_a_web_that_never_answers_fails_after_the_timeout():
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts connections, says nothing
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        code, lines, _ = run("--timeout", "1", url)
        assert time.monotonic() - started < 10
    assert code == 1
    assert failing(lines) == COMPONENTS
    assert lines["web"][1] == f"no answer from {url}/health within 1s"


def test_an_unreachable_web_fails_every_line_and_exits_1():
    code, lines, _ = run(f"http://127.0.0.1:{free_port()}")
    assert code == 1
    assert list(lines) == COMPONENTS
    assert failing(lines) == COMPONENTS
    assert lines["web"][1].startswith("connection refused by 127.0.0.1:")
    assert {detail for component, (_, detail) in lines.items() if component != "web"} == {
        "not checked: web unreachable"
    }


def test_bad_usage_exits_2_and_help_exits_0():
    for args in (["--bogus"], ["http://a", "http://b"], ["ftp://example.com"], ["--timeout", "soon"]):
        code, lines, result = run(*args)
        assert (code, lines) == (2, {}), args
        assert "Usage: scripts/health-check.sh" in result.stderr
    result = script("--help")
    assert result.returncode == 0 and result.stdout.startswith(
        "Usage: scripts/health-check.sh [--timeout SECONDS] [BASE_URL]"
    )
    # The standard library only: it runs where no virtualenv is (no site-packages at all here).
    bare = subprocess.run(
        [sys.executable, "-S", "-I", str(ROOT / "scripts" / "health_check.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", "")},
    )
    assert bare.returncode == 0, bare.stderr


def test_a_404_from_anything_but_the_short_link_service_fails_short_links(health_answering):
    """A short domain whose DNS or proxy points at another server, or a broken short-link route,
    still answers 404 for a missing link: only the service's own miss (X-Short-Link) passes."""
    checks = {name: {"status": "ok", "ms": 1.0} for name in COMPONENTS if name not in {"web", "short_links"}}
    health_answering["body"] = {"status": "ok", "checks": checks, "short_domain": ""}
    health_answering["own_misses"] = False
    url = health_answering["url"]
    code, lines, result = run(url)
    assert code == 1, result.stdout
    assert failing(lines) == ["short_links"]
    assert lines["short_links"] == ("FAIL", f"404, but not from the short-link service: {url}/s/{MISSING}")
    health_answering["own_misses"] = True
    assert run(url)[0] == 0
