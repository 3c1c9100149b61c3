"""GET /metrics (issue 20): never public, and it counts what the dispatcher, the provider's
webhooks and the redirects did, whichever process did it."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from campaigns import dispatch
from campaigns.models import Gate, GateOutcome
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from conftest import require_service
from contacts.models import DoNotContact
from links import clicks
from links.tests.test_links import IMESSAGE_PREVIEW, IPHONE, a_link
from messaging.models import Message, MessageStatus
from messaging.tests.signing import inbound_params, signed, status_params
from smscrm import metrics

TOKEN = "metrics-token-for-tests"
REQUIRED = (
    "smscrm_messages_handed_over_total",
    "smscrm_gate_decisions_total",
    "smscrm_send_jobs_due",
    "smscrm_webhook_requests_total",
    "smscrm_stop_to_dnc_seconds",
    "smscrm_redirects_total",
)


@pytest.fixture(autouse=True)
def _fresh_metrics(settings):
    settings.METRICS_TOKEN = TOKEN
    metrics.reset()
    yield
    metrics.reset()


def scrape(client, token=TOKEN):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")


def sample(text: str, line_start: str) -> float:
    """The value of the first sample line starting with ``line_start``."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {line_start!r} in:\n{text}")


@pytest.mark.django_db
def test_metrics_are_not_found_without_a_token_configured(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert scrape(client, token="").status_code == 404


@pytest.mark.django_db
def test_a_wrong_or_missing_token_is_not_found(client):
    assert client.get("/metrics").status_code == 404
    assert scrape(client, token="guess").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=TOKEN).status_code == 404


@pytest.mark.django_db
def test_the_right_token_gets_prometheus_text(client):
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert sample(text, "smscrm_redirects_total ") == 0
    assert sample(text, "smscrm_send_jobs_due ") == 0
    for name in ("smscrm_messages_handed_over", "smscrm_gate_decisions", "smscrm_stop_to_dnc_seconds"):
        assert f"# TYPE {name}" in text


@pytest.mark.django_db
def test_a_campaign_a_status_callback_and_a_stop_are_counted(client, tenant, clock):
    numbers = sending_setup(tenant)
    contacts = sydney_contacts(tenant, 3)
    launched(tenant, contacts=contacts)
    text = scrape(client).content.decode()
    assert sample(text, "smscrm_send_jobs_due ") == 3
    assert dispatch.dispatch().sent == 3

    message = Message.objects.filter(status=MessageStatus.QUEUED).first()
    account_sid, token = numbers[0].account.account_sid, numbers[0].account.auth_token
    params = status_params(message, "undelivered", error_code="30003", account_sid=account_sid)
    assert signed(client, "messaging:status_callback", params, token=token).status_code == 200
    params = inbound_params("STOP", phone=message.to_phone, to=message.from_sender, account_sid=account_sid)
    assert signed(client, "messaging:inbound_webhook", params, token=token).status_code == 200
    assert signed(client, "messaging:inbound_webhook", params, token="wrong").status_code == 403

    text = scrape(client).content.decode()
    for name in REQUIRED:
        assert name in text
    assert sample(text, "smscrm_send_jobs_due ") == 0
    assert sample(text, 'smscrm_messages_handed_over_total{outcome="accepted"}') == 3
    assert sample(text, 'smscrm_message_status_total{error_code="30003",status="undelivered"}') == 1
    assert sample(text, 'smscrm_webhook_requests_total{kind="status",result="200"}') == 1
    assert sample(text, 'smscrm_webhook_requests_total{kind="inbound",result="200"}') == 1
    assert sample(text, 'smscrm_webhook_requests_total{kind="inbound",result="403"}') == 1
    assert sample(text, "smscrm_stop_to_dnc_seconds_count ") == 1
    assert sample(text, "smscrm_handoff_seconds_count ") == 1
    assert "smscrm_heartbeat_age_seconds" in text
    for line in text.splitlines():  # bounded labels: no phone number, no tenant
        assert message.to_phone not in line and "tenant" not in line


def test_counters_never_fail_the_caller_when_redis_is_down(monkeypatch):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):  # nothing listens there
        metrics.counter_inc("smscrm_redirects_total")
        with monkeypatch.context() as patched:
            patched.setattr(metrics, "_redis", lambda: pytest.fail("Redis was asked again at once"))
            metrics.histogram_observe("smscrm_stop_to_dnc_seconds", None, 0.2)  # dropped without asking


@pytest.mark.django_db
def test_without_redis_the_counts_live_in_this_process(client, settings):
    settings.REDIS_URL = ""
    metrics.reset()
    metrics.counter_inc("smscrm_redirects_total", n=2)
    metrics.histogram_observe("smscrm_stop_to_dnc_seconds", None, 0.03)
    text = scrape(client).content.decode()
    assert sample(text, "smscrm_redirects_total ") == 2
    assert sample(text, 'smscrm_stop_to_dnc_seconds_bucket{le="0.05"}') == 1
    assert sample(text, 'smscrm_stop_to_dnc_seconds_bucket{le="0.025"}') == 0
    metrics.reset()


@pytest.mark.django_db
def test_what_another_process_counts_is_scraped_here(client):
    require_service("Redis", bool(django_settings.REDIS_URL), "REDIS_URL is not set")
    code = (
        "import django; django.setup(); from smscrm import metrics; "
        "metrics.counter_inc('smscrm_redirects_total', n=7); "
        "metrics.record(counters=[('smscrm_gate_decisions_total', {'gate': 'quiet', 'outcome': 'defer'}, 4)])"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smscrm.settings"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    text = scrape(client).content.decode()
    assert sample(text, "smscrm_redirects_total ") == 7
    assert sample(text, 'smscrm_gate_decisions_total{gate="quiet",outcome="defer"}') == 4


@pytest.mark.django_db
def test_redirects_and_recorded_clicks_are_counted_by_human_or_bot(client, tenant):
    a_link(tenant)
    client.get("/s/Tok3nAbcDe", HTTP_USER_AGENT=IPHONE, REMOTE_ADDR="203.0.113.9")
    client.get("/s/Tok3nAbcDe", HTTP_USER_AGENT=IMESSAGE_PREVIEW)
    client.get("/s/nope")  # not a link: no redirect
    assert clicks.flush() == 2
    text = scrape(client).content.decode()
    assert sample(text, "smscrm_redirects_total ") == 2
    assert sample(text, 'smscrm_link_clicks_total{kind="human"}') == 1
    assert sample(text, 'smscrm_link_clicks_total{kind="bot"}') == 1


@pytest.mark.django_db
def test_gate_decisions_are_counted_by_gate_and_outcome(client, tenant, clock):
    sending_setup(tenant)
    listed, fine = sydney_contacts(tenant, 2)
    DoNotContact.objects.create(tenant=tenant, phone_e164=listed.phone_e164, reason="stop_keyword")
    launched(tenant, contacts=[listed, fine])
    assert dispatch.dispatch().sent == 1
    text = scrape(client).content.decode()
    assert sample(text, f'smscrm_gate_decisions_total{{gate="{Gate.DNC}",outcome="{GateOutcome.SKIP}"}}') == 1
