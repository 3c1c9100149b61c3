"""manage.py demo_campaign: a whole campaign on the simulator, through the webhook path."""

import datetime as dt
import http.server
import io
import json
import threading

import pytest
import time_machine
from django.core.management import CommandError, call_command

from campaigns.models import JobStatus, SendJob
from contacts.models import DoNotContact
from messaging.keywords import Intent
from messaging.models import Message, MessageKind, MessageStatus


@pytest.mark.django_db(transaction=True)  # commits for real, so status callbacks follow at once
def test_demo_campaign_runs_through_gates_and_status_callbacks(tenant, settings, tmp_path):
    settings.SMS_BACKEND = "simulator"
    settings.SMS_SIMULATOR_LOG = tmp_path / "accepted.log"
    settings.SMS_SIMULATOR_MIX = "delivered=50,undelivered=25,failed=25"  # the pilot check fails it
    out = io.StringIO()
    # 14:00 in Sydney: every Australian zone is inside its sending window.
    with time_machine.travel(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=True):
        call_command("demo_campaign", tenant=tenant.slug, contacts=40, callbacks="inprocess", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["contacts"] == 40 and summary["duplicates"] == 0
    assert summary["sent"] == SendJob.objects.filter(status=JobStatus.SENT).count() == 40
    # Each message went through the signed status-callback view: none is left merely queued.
    finals = summary["delivered"] + summary["undelivered"] + summary["failed"]
    assert finals == 40 and summary["delivered"] > 0
    assert Message.objects.filter(status=MessageStatus.QUEUED).count() == 0
    assert summary["spend_cents"]["today"] == sum(Message.objects.values_list("cost_cents", flat=True))
    assert summary["status_callbacks"] == "inprocess"
    # Three recipients answered through the signed inbound webhook: two opted out, one asked.
    assert [answer["http"] for answer in summary["inbound"].values()] == [200, 200, 200]
    assert "unsubscribed from Acme Bakery" in summary["inbound"]["STOP"]["answered"]
    assert DoNotContact.objects.filter(tenant=tenant).count() == 2
    inbound = Message.objects.filter(kind=MessageKind.INBOUND).order_by("id")
    assert [m.intent for m in inbound] == [Intent.OPT_OUT, Intent.OPT_OUT_PHRASE, Intent.REPLY]
    assert {m.campaign_id for m in inbound} == {summary["campaign"]["id"]}
    # Preview fetchers, then people after the scanner window: both kinds are recorded.
    assert summary["clicks"]["recorded"]["human"] > 0 and summary["clicks"]["recorded"]["bot"] > 0
    # The pilot check passes what the demo got right and fails the 50% delivery mix, with exit 1.
    checked = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("pilot_check", tenant=tenant.slug, campaign=summary["campaign"]["id"], stdout=checked)
    assert exited.value.code == 1
    verdicts = {
        line[6:].split("  ")[0]: line[:4]
        for line in checked.getvalue().splitlines()
        if line.startswith(("PASS ", "FAIL ", "N/A "))
    }
    assert verdicts["Delivery rate ≥ 95%"] == "FAIL"
    assert [verdict for title, verdict in verdicts.items() if title != "Delivery rate ≥ 95%"] == ["PASS"] * 5


class HealthyServer(http.server.ThreadingHTTPServer):
    """A web server on a free local port answering 200 to everything, remembering the paths asked."""

    def __init__(self):
        self.paths = []
        paths = self.paths

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


@pytest.mark.django_db(transaction=True)
def test_demo_campaign_with_inprocess_callbacks_ignores_a_server_answering_at_public_base_url(
    tenant, settings, tmp_path
):
    """A web server answering at PUBLIC_BASE_URL (as `make run`'s does on :8000) changes nothing.

    The server here listens on a free port and PUBLIC_BASE_URL points at it: binding :8000 itself
    would make this test depend on that port being free, the very dependency it rules out.
    """
    from campaigns.management.commands.demo_campaign import server_running

    settings.SMS_BACKEND = "simulator"
    settings.SMS_SIMULATOR_LOG = tmp_path / "accepted.log"
    settings.SMS_SIMULATOR_MIX = "delivered=100"
    with HealthyServer() as server:
        settings.PUBLIC_BASE_URL = server.url
        assert server_running()  # the default (auto) would post the callbacks to this server
        out = io.StringIO()
        with time_machine.travel(dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC), tick=True):
            call_command("demo_campaign", tenant=tenant.slug, contacts=5, callbacks="inprocess", stdout=out)
        asked = list(server.paths)
    summary = json.loads(out.getvalue())
    assert summary["status_callbacks"] == "inprocess"
    assert summary["delivered"] == 5  # every report arrived, through the view in this process
    assert asked == ["/health/live"]  # the probe above; the demo itself sent nothing over HTTP


@pytest.mark.django_db
def test_demo_campaign_refuses_a_real_provider_and_unknown_tenants(tenant, settings):
    settings.SMS_BACKEND = "twilio"
    with pytest.raises(CommandError, match="simulator"):
        call_command("demo_campaign", tenant=tenant.slug, contacts=1)
    with pytest.raises(CommandError, match="No tenant"):
        call_command("demo_campaign", tenant="nope", contacts=1)


@pytest.mark.django_db(transaction=True)
def test_demo_campaign_drives_the_twilio_backend_against_the_fake_unthrottled(tenant, settings):
    from messaging.models import ProviderAccount
    from smscrm.testing.twilio_api import TwilioApiFake

    sid, token = "AC" + "7" * 32, "e" * 32
    with TwilioApiFake({sid: token}, latency=0.02, concurrency=100, seed=3) as fake:
        settings.TWILIO_API_BASE_URL = fake.url
        out = io.StringIO()
        call_command(
            "demo_campaign",
            tenant=tenant.slug,
            contacts=120,
            backend="twilio",
            account_sid=sid,
            auth_token=token,
            unthrottled=True,
            stdout=out,
        )
        received = fake.stats()
    summary = json.loads(out.getvalue())
    assert summary["backend"] == "twilio" and summary["sent"] == 120 and summary["duplicates"] == 0
    assert received["created"] == 120 and received["duplicate_to"] == 0 and received["unauthorized"] == 0
    assert summary["handoff_seconds"] > 0 and summary["messages_per_second"] > 0
    assert max(received["max_in_flight"].values()) > 1  # concurrent, through the production path
    account = ProviderAccount.objects.get(account_sid=sid)
    assert account.tenant == tenant and account.max_concurrent_requests == 100
    tenant.refresh_from_db()
    assert tenant.messages_per_second == 2000 and tenant.daily_budget_cents == 10**11
    assert summary["spend_cents"]["today"] == sum(Message.objects.values_list("cost_cents", flat=True)) >= 120 * 5


@pytest.mark.django_db
def test_demo_campaign_twilio_options_need_the_twilio_backend(tenant):
    with pytest.raises(CommandError, match="--backend twilio"):
        call_command("demo_campaign", tenant=tenant.slug, contacts=5, unthrottled=True)
    with pytest.raises(CommandError, match="--account-sid"):
        call_command("demo_campaign", tenant=tenant.slug, contacts=5, backend="twilio")


@pytest.mark.django_db
def test_the_demos_account_senders_and_price_are_made_by_the_services(tenant):
    """Issue 17, item 3: the command wrote them around the services, so nothing validated them
    and the activity log never showed them. A second run leaves what exists as it is."""
    from campaigns.management.commands.demo_campaign import DEMO_SENDERS, Command
    from messaging.services import MessagingAction
    from tenants.models import AuditEvent

    Command().ensure_sending_setup(tenant)
    Command().ensure_sending_setup(tenant)
    logged = sorted(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="messaging.").values_list("action", "target")
    )
    assert [action for action, _ in logged].count(MessagingAction.PROVIDER_ACCOUNT_SAVED) == 1
    assert (
        sorted(target for action, target in logged if action == MessagingAction.SENDING_NUMBER_CREATED) == DEMO_SENDERS
    )
    assert [action for action, _ in logged].count(MessagingAction.PRICE_SAVED) == 1
    assert len(logged) == 1 + len(DEMO_SENDERS) + 1
