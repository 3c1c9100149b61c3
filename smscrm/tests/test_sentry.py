"""Optional error tracking (issue 20): off without SENTRY_DSN; on, an error in a view or a Celery
task reaches Sentry scrubbed like the logs (no bodies, cookies, secret headers or frame locals;
phone numbers masked, tokens redacted) and tagged with the request id."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from smscrm import sentry

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter: sentry-sdk patches Django and Celery process-wide when it starts, so
# the test suite's own process never starts it. Prints the captured events as JSON.
SCRIPT = r"""
import io, json, os, sys, types
os.environ["DJANGO_SETTINGS_MODULE"] = "smscrm.settings"
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
import sentry_sdk
from sentry_sdk.transport import Transport
from smscrm.celery import app
from smscrm.sentry import init_sentry

events = []

class Capture(Transport):
    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type in ("event", "transaction"):
                events.append(json.loads(item.payload.get_bytes()))

@csrf_exempt  # like a provider webhook
def broken(request):
    auth_token = "sk_live_do_not_leak"  # a frame local that must not be sent
    raise RuntimeError("hand-off to +61412345678 failed: token=abc123secret " + auth_token[:0])

urls = types.ModuleType("sentry_test_urls")
urls.urlpatterns = [path("broken/", broken)]
sys.modules["sentry_test_urls"] = urls

@app.task(name="sentry_test.fail")
def fail(phone):
    body = "Hi Olivia, 20% off today"  # a frame local holding a message body
    raise ValueError(f"cannot reach {phone}")

assert init_sentry(os.environ["TEST_DSN"], environment="test", transport=Capture)
# Through Django's WSGI handler, as gunicorn calls it: Sentry's request details come from there.
body = b"Body=STOP+please&From=%2B61400000123"
environ = {
    "REQUEST_METHOD": "POST", "PATH_INFO": "/broken/", "QUERY_STRING": "sesame=magiclinktoken",
    "SERVER_NAME": "testserver", "SERVER_PORT": "80", "HTTP_HOST": "testserver", "wsgi.url_scheme": "http",
    "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
    "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
    "HTTP_AUTHORIZATION": "Bearer apikey-secret", "HTTP_COOKIE": "remember=cookie-secret",
    "HTTP_X_REQUEST_ID": "req-sentry-1",
}
statuses = []
with override_settings(ROOT_URLCONF="sentry_test_urls", ALLOWED_HOSTS=["testserver"]):
    b"".join(WSGIHandler()(environ, lambda status, headers, exc_info=None: statuses.append(status)))
assert statuses == ["500 Internal Server Error"], statuses
try:
    fail.apply(args=["0412345999"], throw=True)
except ValueError:
    pass
sentry_sdk.flush()
print(json.dumps(events))
"""


def _captured_events():
    env = {
        **os.environ,
        "TEST_DSN": "https://publickey@sentry.example.invalid/1",
        "SENTRY_DSN": "",
        "DATABASE_URL": "sqlite://:memory:",
        "CELERY_TASK_ALWAYS_EAGER": "1",
    }
    env.pop("PYTEST_VERSION", None)  # a development process, not the test settings
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def events():
    return _captured_events()


def _by_exception(events, kind):
    found = [e for e in events if e.get("exception", {}).get("values", [{}])[-1].get("type") == kind]
    assert len(found) == 1, json.dumps([e.get("exception", {}).get("values", [{}])[-1].get("value") for e in events])
    return found[0]


def test_a_view_error_is_sent_without_bodies_secrets_or_full_numbers(events):
    event = _by_exception(events, "RuntimeError")
    text = json.dumps(event)
    assert event["exception"]["values"][-1]["value"] == "hand-off to *******678 failed: token=[redacted] "
    for secret in ("+61412345678", "abc123secret", "apikey-secret", "cookie-secret", "magiclinktoken", "sk_live"):
        assert secret not in text
    assert "STOP please" not in text and "+61400000123" not in text
    assert "data" not in event["request"] and "cookies" not in event["request"]
    assert event["request"]["headers"]["Authorization"] == "[redacted]"
    assert event["request"]["query_string"] == "sesame=[redacted]"
    assert event["tags"]["request_id"] == "req-sentry-1"
    frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert frames and all("vars" not in frame for frame in frames)


def test_a_task_error_is_sent_with_the_number_masked(events):
    event = _by_exception(events, "ValueError")
    text = json.dumps(event)
    assert event["exception"]["values"][-1]["value"] == "cannot reach *******999"
    assert "0412345999" not in text and "20% off" not in text
    assert all("vars" not in frame for frame in event["exception"]["values"][-1]["stacktrace"]["frames"])


def test_without_a_dsn_nothing_starts():
    assert sentry.init_sentry("", environment="test") is False


def test_scrub_walks_nested_values():
    event = {"extra": {"numbers": ["+61412345678", ("0498765432",)], "n": 3, "url": "/x?token=abc"}}
    expected = {"numbers": ["*******678", ["*******432"]], "n": 3, "url": "/x?token=[redacted]"}
    assert sentry.scrub(event) == {"extra": expected}


def test_a_number_searched_for_is_masked_in_the_query_string_and_referer():
    """A browser sends a searched-for "+61412345678" as "%2B61412345678": in the query string of the
    search (contacts, do-not-contact, inbox) and in the Referer of every page opened from it."""
    event = {
        "request": {
            "url": "https://crm.example/contacts/dnc/",
            "query_string": "q=%2B61412345678&after=5",
            "headers": {"Referer": "https://crm.example/inbox/?q=%2b61498765432"},
        }
    }
    request = sentry.before_send(event)["request"]
    assert request["query_string"] == "q=*******678&after=5"
    assert request["headers"]["Referer"] == "https://crm.example/inbox/?q=*******432"


def test_a_secret_given_on_the_command_line_is_redacted_from_sys_argv():
    """sentry-sdk's default Argv integration puts the process's sys.argv on every event: a
    ``manage.py demo_campaign --backend twilio --auth-token …`` that fails must not send the token."""
    argv = ["manage.py", "demo_campaign", "--backend", "twilio", "--auth-token", "abc123secret", "--password=pw1"]
    extra = sentry.before_send({"extra": {"sys.argv": [*argv, "--tenant", "acme"]}})["extra"]
    assert extra["sys.argv"] == [
        "manage.py",
        "demo_campaign",
        "--backend",
        "twilio",
        "--auth-token",
        "[redacted]",
        "--password=[redacted]",
        "--tenant",
        "acme",
    ]
