"""The cutover check: each item passing and failing (and TO DO where it has one), the command's exit
codes and JSON, and the owners' page.

The provider is the local fake Twilio (messaging/tests/fake_twilio.py), DNS a stub resolver
(``smscrm.cutover.outside.resolve`` swapped for a table), and our own public URL the live server.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.urls import reverse
from django.utils import timezone

from campaigns import dispatch
from campaigns.tests.factories import ProviderAccountFactory, SendingNumberFactory, TemplateFactory
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from contacts.models import ConsentKind, ConsentRecord, ContactImport, DncReason, DoNotContact
from contacts.tests.factories import ContactFactory
from links import clicks
from messaging import inbound
from messaging.models import Message, MessageKind, MessageStatus, Provider, SenderIdStatus, SenderKind
from messaging.tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from reporting.tests.test_report import IPHONE, PREVIEW, click
from reporting.tests.test_report import callback as deliver
from smscrm import cutover
from smscrm.cutover import FAIL, PASS, TODO, operations, outside, records
from smscrm.management.commands.cutover_check import Command as CutoverCommand
from smscrm.tests.crawl_data import record_heartbeats
from tenants.testing import assert_roles, client_for

pytestmark = pytest.mark.django_db

INBOUND = "https://crm.example/webhooks/twilio/inbound"


@pytest.fixture(autouse=True)
def _quick(settings):
    settings.CUTOVER_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def closed_port_url():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def twilio(settings):
    """The fake Twilio, and the Twilio backend pointed at it."""
    server = FakeTwilio().start()
    settings.TWILIO_API_BASE_URL = server.url
    settings.SMS_BACKEND = "twilio"
    settings.PUBLIC_BASE_URL = "https://crm.example"
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def dns(monkeypatch):
    """A stub resolver: host → addresses; any other host does not resolve."""
    table: dict[str, set[str]] = {}

    def resolve(host):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return set(table[host])

    monkeypatch.setattr(outside, "resolve", resolve)
    return table


def twilio_account(tenant, *, token=AUTH_TOKEN):
    return ProviderAccountFactory(tenant=tenant, provider=Provider.TWILIO, account_sid=ACCOUNT_SID, auth_token=token)


# --- records ------------------------------------------------------------------------------------------------------


def test_migrations_pass_when_all_applied_and_fail_naming_one_that_is_not(tenant):
    assert records.migrations(tenant).status == PASS
    latest = MigrationRecorder(connection).migration_qs.filter(app="links").order_by("-id").first()
    MigrationRecorder(connection).record_unapplied("links", latest.name)
    result = records.migrations(tenant)
    assert result.status == FAIL
    assert f"links.{latest.name}" in result.evidence
    assert "manage.py migrate" in result.next


def test_seed_data_is_to_do_until_an_owner_and_a_template_exist(tenant):
    result = records.seed_data(tenant)
    assert result.status == TODO
    assert "owner" in result.next and "template" in result.next
    TemplateFactory(tenant=tenant)
    assert records.seed_data(tenant).status == TODO  # still no owner


def test_seed_data_passes_with_an_owner_and_a_template(tenant, owner):
    TemplateFactory(tenant=tenant)
    result = records.seed_data(tenant)
    assert result.status == PASS
    assert result.evidence == "tenant acme (Acme Bakery); 2 owner(s)/admin(s); 1 template(s)"


def test_sending_number_states(tenant):
    assert records.sending_number(tenant).status == TODO
    alpha = SendingNumberFactory(
        tenant=tenant, kind=SenderKind.ALPHA, sender="AcmeBakery", sender_id_status=SenderIdStatus.PENDING
    )
    assert records.sending_number(tenant).status == TODO  # registration under way
    alpha.sender_id_status = SenderIdStatus.UNREGISTERED
    alpha.save()
    result = records.sending_number(tenant)
    assert (result.status, "AcmeBakery" in result.evidence) == (FAIL, True)
    alpha.sender_id_status = SenderIdStatus.REGISTERED
    alpha.save()
    assert records.sending_number(tenant).status == PASS
    alpha.is_active = False
    alpha.save()
    assert records.sending_number(tenant).status == TODO  # inactive
    SendingNumberFactory(tenant=tenant, sender="+61400000099")
    result = records.sending_number(tenant)
    assert (result.status, result.evidence) == (PASS, "1 active: +61400000099 (number)")


def test_budgets_defaults_are_to_do_zero_fails_chosen_caps_pass(tenant):
    assert records.budgets(tenant).status == TODO
    tenant.daily_budget_cents = 0
    assert records.budgets(tenant).status == FAIL
    tenant.daily_budget_cents, tenant.monthly_budget_cents = 5_000, 80_000
    result = records.budgets(tenant)
    assert (result.status, result.evidence) == (PASS, "daily $50.00, monthly $800.00")


def committed_import(tenant, consented: int) -> ContactImport:
    imp = ContactImport.objects.create(
        tenant=tenant,
        status=ContactImport.Status.COMMITTED,
        file_path="imports/test.csv",
        original_name="test.csv",
        size_bytes=100,
        sha256="0" * 64,
        encoding="utf-8",
        delimiter=",",
        committed_rows=consented,
    )
    for contact in ContactFactory.create_batch(consented, tenant=tenant):
        ConsentRecord.objects.create(
            tenant=tenant,
            contact=contact,
            kind=ConsentKind.EXPRESS,
            source="test import",
            captured_at=timezone.now(),
            source_import=imp,
        )
    return imp


def test_test_import_needs_ten_contacts_with_consent(tenant):
    assert records.test_import(tenant).status == TODO
    committed_import(tenant, 9)
    result = records.test_import(tenant)
    assert (result.status, "9 contacts" in result.evidence) == (TODO, True)
    imp = committed_import(tenant, 10)
    result = records.test_import(tenant)
    assert (result.status, result.evidence) == (PASS, f"import #{imp.pk} (test.csv): 10 contacts with consent recorded")


@pytest.fixture
def test_run(tenant, clock, client):
    """A test campaign to three people: handed over by the dispatcher, its links in the messages."""
    sending_setup(tenant)
    contacts = sydney_contacts(tenant, 3)
    campaign = launched(tenant, contacts=contacts, bodies=("Sale: {{ link }}",), link_url="https://acme.example/s")
    dispatch.dispatch()
    return list(Message.objects.filter(campaign=campaign).order_by("id"))


def test_test_campaign_passes_once_a_delivery_receipt_arrives(tenant, test_run):
    result = records.test_campaign(tenant)
    assert (result.status, result.evidence) == (TODO, "3 campaign message(s) handed over, no delivery receipt yet")
    deliver(test_run[0], "sent")
    assert records.test_campaign(tenant).status == TODO
    deliver(test_run[0], "delivered")
    result = records.test_campaign(tenant)
    assert result.status == PASS
    assert result.evidence.startswith(f"message #{test_run[0].pk} delivered, receipt received")


def test_test_campaign_is_to_do_before_any_send_and_fails_when_no_callback_ever_came(tenant, clock):
    assert records.test_campaign(tenant).status == TODO
    Message.objects.create(
        tenant=tenant,
        kind=MessageKind.CAMPAIGN,
        to_phone="+61412000001",
        from_sender="+61400000001",
        body="Hi",
        status=MessageStatus.SENT,
        handed_off_at=timezone.now() - dt.timedelta(minutes=90),
    )
    result = records.test_campaign(tenant)
    assert (result.status, "no status callback ever arrived" in result.evidence) == (FAIL, True)


def test_stop_to_dnc_passes_when_a_texted_stop_reached_the_list(tenant, test_run):
    DoNotContact.objects.create(tenant=tenant, phone_e164="+61413000001", reason=DncReason.MANUAL)
    assert records.stop_to_dnc(tenant).status == TODO  # staff typing a number in is not a STOP
    message = test_run[1]
    inbound.inbound_receive(
        tenant=tenant,
        params={"MessageSid": "SM" + "5" * 32, "From": message.to_phone, "To": message.from_sender, "Body": "STOP"},
    )
    result = records.stop_to_dnc(tenant)
    assert result.status == PASS
    assert result.evidence.startswith(f"…{message.to_phone[-3:]} on the list (Replied STOP, inbound SM")
    assert message.to_phone not in result.evidence  # masked, as in the logs


def test_human_click_is_to_do_while_only_previews_clicked(tenant, test_run, client):
    assert records.human_click(tenant).status == TODO
    click(client, test_run[0], PREVIEW)
    clicks.flush()
    result = records.human_click(tenant)
    assert (result.status, result.evidence) == (TODO, "no human click yet (1 bot or preview click(s))")
    deliver(test_run[0], "delivered")
    # Read ten minutes after delivery: a tap then is a person, not a link scanner.
    Message.objects.filter(pk=test_run[0].pk).update(delivered_at=timezone.now() - dt.timedelta(minutes=10))
    click(client, test_run[0], IPHONE)
    clicks.flush()
    result = records.human_click(tenant)
    assert (result.status, result.evidence) == (PASS, "1 human click(s), 1 bot or preview click(s)")


# --- the provider -------------------------------------------------------------------------------------------------


def test_provider_credentials_simulator_passes_in_development_and_fails_in_production(tenant, settings):
    assert outside.provider_credentials(tenant).status == TODO  # no account yet
    ProviderAccountFactory(tenant=tenant)  # a simulator account
    result = outside.provider_credentials(tenant)
    assert result.status == PASS
    assert "simulator" in result.evidence
    settings.PRODUCTION = True
    assert outside.provider_credentials(tenant).status == FAIL


def test_provider_credentials_accepted_by_twilio(tenant, twilio):
    account = twilio_account(tenant)
    result = outside.provider_credentials(tenant)
    assert (result.status, result.evidence) == (PASS, f"1 Twilio account(s) accepted: {account}")
    [request] = twilio.requests
    assert (request.method, request.path) == ("GET", f"/2010-04-01/Accounts/{ACCOUNT_SID}.json")


def test_provider_credentials_refused_and_the_token_never_shown(tenant, twilio):
    twilio_account(tenant, token="wrong-token-0123456789")
    result = outside.provider_credentials(tenant)
    assert result.status == FAIL
    assert "credentials refused" in result.evidence
    assert "wrong-token" not in result.evidence + result.next


def test_a_suspended_account_fails(tenant, twilio):
    twilio_account(tenant)
    twilio.account_status[ACCOUNT_SID] = "suspended"
    result = outside.provider_credentials(tenant)
    assert (result.status, result.evidence.endswith("the account is suspended")) == (FAIL, True)


def test_provider_unreachable_fails(tenant, twilio, settings, closed_port_url):
    twilio_account(tenant)
    settings.TWILIO_API_BASE_URL = closed_port_url
    result = outside.provider_credentials(tenant)
    assert (result.status, "provider API unreachable (ConnectionError)" in result.evidence) == (FAIL, True)


def test_inbound_webhook_matching_passes(tenant, twilio):
    SendingNumberFactory(tenant=tenant, account=twilio_account(tenant), sender="+61400000001")
    twilio.add_number("+61400000001", sms_url=INBOUND)
    result = outside.inbound_webhooks(tenant)
    assert (result.status, result.evidence) == (PASS, f"1 number(s) post to {INBOUND}")
    assert twilio.requests[-1].path.endswith("/IncomingPhoneNumbers.json")


def test_inbound_webhook_elsewhere_fails_naming_the_number_and_both_urls(tenant, twilio):
    account = twilio_account(tenant)
    SendingNumberFactory(tenant=tenant, account=account, sender="+61400000001")
    SendingNumberFactory(tenant=tenant, account=account, sender="+61400000002")
    SendingNumberFactory(
        tenant=tenant, account=account, kind=SenderKind.ALPHA, sender="AcmeBakery", sender_id_status="registered"
    )
    twilio.add_number("+61400000001", sms_url="https://old-crm.example/sms")
    twilio.add_number("+61400000002", sms_url=INBOUND)
    result = outside.inbound_webhooks(tenant)
    assert result.status == FAIL
    assert result.evidence == (
        f"+61400000001 posts to https://old-crm.example/sms, not {INBOUND}; "
        "AcmeBakery: alphanumeric, cannot receive replies"
    )
    assert INBOUND in result.next


def test_inbound_webhook_elsewhere_never_shows_the_credentials_in_its_url(tenant, twilio):
    """The old system's webhook may carry its own credentials (Twilio sends user:password@ as HTTP
    basic auth, or a token parameter): the page and the command show where it points, not them."""
    SendingNumberFactory(tenant=tenant, account=twilio_account(tenant), sender="+61400000001")
    twilio.add_number("+61400000001", sms_url="https://olduser:oldpass@old-crm.example/sms?token=abc123&x=1")
    result = outside.inbound_webhooks(tenant)
    assert (result.status, result.evidence) == (
        FAIL,
        f"+61400000001 posts to https://[redacted]@old-crm.example/sms?token=[redacted]&x=1, not {INBOUND}",
    )


def test_inbound_webhook_of_a_number_not_in_the_account_fails(tenant, twilio):
    SendingNumberFactory(tenant=tenant, account=twilio_account(tenant), sender="+61400000001")
    result = outside.inbound_webhooks(tenant)
    assert (result.status, "+61400000001: not a number of the account" in result.evidence) == (FAIL, True)


def test_inbound_webhook_with_refused_credentials_fails(tenant, twilio):
    SendingNumberFactory(tenant=tenant, account=twilio_account(tenant, token="not-the-token"), sender="+61400000001")
    twilio.add_number("+61400000001", sms_url=INBOUND)
    result = outside.inbound_webhooks(tenant)
    assert (result.status, result.evidence) == (FAIL, "+61400000001: credentials refused (HTTP 401)")


def test_alphanumeric_only_cannot_receive_and_is_not_a_failure(tenant, twilio):
    SendingNumberFactory(
        tenant=tenant,
        account=twilio_account(tenant),
        kind=SenderKind.ALPHA,
        sender="AcmeBakery",
        sender_id_status="registered",
    )
    result = outside.inbound_webhooks(tenant)
    assert (result.status, result.evidence) == (
        PASS,
        "no phone numbers to receive texts; AcmeBakery: alphanumeric, cannot receive replies",
    )
    assert twilio.requests == []


def test_inbound_webhook_with_the_simulator(tenant):
    assert outside.inbound_webhooks(tenant).status == TODO
    SendingNumberFactory(tenant=tenant)
    assert outside.inbound_webhooks(tenant).evidence.startswith("simulator (1 number(s)")


# --- our own URL, DNS ---------------------------------------------------------------------------------------------


def test_status_callback_reachable_when_our_app_answers(tenant, settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url
    result = outside.status_callback(tenant)
    assert result.status == PASS
    assert (
        result.evidence
        == f"{live_server.url}/webhooks/twilio/status answers (HTTP 405 to an unsigned GET, as it should)"
    )


def test_status_callback_unreachable_or_someone_else_fails(tenant, settings, closed_port_url, twilio):
    settings.PUBLIC_BASE_URL = closed_port_url
    result = outside.status_callback(tenant)
    assert (result.status, "unreachable (ConnectionError)" in result.evidence) == (FAIL, True)
    settings.PUBLIC_BASE_URL = twilio.url  # a server that is not us: 404
    result = outside.status_callback(tenant)
    assert (result.status, "answered HTTP 404: not this app's webhook" in result.evidence) == (FAIL, True)


def test_status_callback_refused_before_our_view_fails(tenant, settings, live_server):
    """Only the webhook view itself proves the URL works: it answers a GET with 405. A 400 (here
    our own app refusing PUBLIC_BASE_URL's host, not in ALLOWED_HOSTS) or a 403 (a proxy's deny)
    is what the provider's POSTs would get too."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.ALLOWED_HOSTS = ["crm.example"]
    result = outside.status_callback(tenant)
    assert (result.status, result.evidence) == (
        FAIL,
        f"{live_server.url}/webhooks/twilio/status answered HTTP 400: not this app's webhook",
    )


def test_status_callback_that_never_answers_fails_saying_so(tenant, settings):
    settings.CUTOVER_TIMEOUT_SECONDS = 0.5
    with socket.socket() as silent:  # takes connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings.PUBLIC_BASE_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = outside.status_callback(tenant)
    assert (result.status, result.evidence.endswith("gave no answer within 0.5 s")) == (FAIL, True)


@pytest.fixture
def slow_resolver(monkeypatch):
    """The system resolver, except that names under .hang.test take 10 s to fail: far past the
    checks' timeout (0.5 s here). requests looks names up itself, with no timeout of its own."""
    resolve = socket.getaddrinfo
    released = threading.Event()

    def getaddrinfo(host, *args, **kwargs):
        if str(host).endswith(".hang.test"):
            released.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    released.set()


def test_requests_to_hosts_whose_lookup_never_ends_fail_within_the_timeout(tenant, settings, slow_resolver):
    settings.CUTOVER_TIMEOUT_SECONDS = 0.5
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_API_BASE_URL = "https://api.hang.test"
    settings.PUBLIC_BASE_URL = "https://crm.hang.test"
    twilio_account(tenant)
    for check, evidence in (
        (outside.status_callback, "https://crm.hang.test/webhooks/twilio/status unreachable (ConnectTimeout)"),
        (outside.provider_credentials, "provider API unreachable (ConnectTimeout)"),
    ):
        started = time.monotonic()
        result = check(tenant)
        assert time.monotonic() - started < 3, check
        assert (result.status, evidence in result.evidence) == (FAIL, True), result.evidence


def test_short_domain(tenant, settings, dns):
    settings.PUBLIC_BASE_URL = "https://crm.example"
    settings.SHORT_DOMAIN = ""
    result = outside.short_domain(tenant)
    assert (result.status, result.evidence) == (TODO, "none set: links live on https://crm.example/s/")
    settings.SHORT_DOMAIN = "go.example"
    settings.ALLOWED_HOSTS = ["crm.example"]
    assert outside.short_domain(tenant).evidence == "go.example (SHORT_DOMAIN) is not in ALLOWED_HOSTS"
    settings.ALLOWED_HOSTS = ["crm.example", "go.example"]
    dns["crm.example"] = {"203.0.113.7"}
    result = outside.short_domain(tenant)
    assert (result.status, result.evidence) == (FAIL, "go.example: does not resolve (gaierror)")
    dns["go.example"] = {"198.51.100.1"}
    result = outside.short_domain(tenant)
    assert (result.status, result.evidence) == (FAIL, "go.example resolves to 198.51.100.1; crm.example to 203.0.113.7")
    dns["go.example"] = {"203.0.113.7"}
    result = outside.short_domain(tenant)
    assert result.status == PASS
    tenant.short_domain = "acme.example"  # the business's own wins over SHORT_DOMAIN
    assert outside.short_domain(tenant).evidence == "acme.example (the business's own) is not in ALLOWED_HOSTS"


# A process that asks a resolver that never answers: the lookup gives up after the timeout, and the
# process (``manage.py cutover_check``) ends then, not whenever the resolver does.
HUNG_DNS = r"""
import django, json, threading, time
django.setup()
from django.conf import settings
from smscrm.cutover import outside
from tenants.models import Tenant
settings.CUTOVER_TIMEOUT_SECONDS = 0.5
settings.SHORT_DOMAIN, settings.ALLOWED_HOSTS = "go.example", ["go.example"]
outside.resolve = lambda host: threading.Event().wait() or set()
result = outside.short_domain(Tenant(short_domain=""))
print(json.dumps([result.status, result.evidence]), flush=True)
"""


def test_a_dns_lookup_that_never_answers_fails_after_the_timeout_and_does_not_hold_the_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"PYTEST_VERSION", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="smscrm.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    done = subprocess.run(  # TimeoutExpired (a failure) if the process waits on the lookup
        [sys.executable, "-c", HUNG_DNS],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [FAIL, "go.example: DNS lookup timed out"]


# --- operations -----------------------------------------------------------------------------------------------------


def make_backup(directory, age: dt.timedelta, *, checksum=True) -> str:
    name = f"smscrm_{(timezone.now() - age).astimezone(dt.UTC):%Y%m%d_%H%M%S}.dump"
    (directory / name).write_bytes(b"PGDMP")
    if checksum:
        (directory / f"{name}.sha256").write_text(f"abc  {name}\n")
    return name


def test_backup(tenant, settings, tmp_path):
    settings.BACKUP_DIR = ""
    assert operations.backup(tenant).status == TODO
    settings.BACKUP_DIR = str(tmp_path / "missing")
    assert operations.backup(tenant).status == FAIL
    settings.BACKUP_DIR = str(tmp_path)
    (tmp_path / "notes.dump").write_text("not ours")
    assert operations.backup(tenant).status == TODO
    old = make_backup(tmp_path, dt.timedelta(hours=30))
    result = operations.backup(tenant)
    assert (result.status, result.evidence) == (FAIL, f"newest backup {old} is 30.0 h old")
    fresh = make_backup(tmp_path, dt.timedelta(hours=2), checksum=False)
    result = operations.backup(tenant)
    assert (result.status, "has no" in result.evidence) == (FAIL, True)
    (tmp_path / f"{fresh}.sha256").write_text("x")
    result = operations.backup(tenant)
    assert (result.status, result.evidence) == (PASS, f"{fresh} in {tmp_path}, 2.0 h old, with its checksum")


def test_restore_drill(tenant, settings, tmp_path):
    log = tmp_path / "restore_drills.log"
    settings.RESTORE_DRILL_LOG = str(log)
    assert operations.restore_drill(tenant).status == TODO
    drill = {"at": "2026-12-01T02:00:00Z", "file": "/b/smscrm_20261201_010000.dump", "target": "postgres://x/y"}
    log.write_text(json.dumps({**drill, "result": "ok"}) + "\nnot json\n")
    result = operations.restore_drill(tenant)
    assert (result.status, result.evidence) == (
        PASS,
        "last drill 2026-12-01T02:00:00Z of smscrm_20261201_010000.dump: ok",
    )
    with log.open("a") as f:
        f.write(json.dumps({**drill, "result": "checksum mismatch"}) + "\n")
    result = operations.restore_drill(tenant)
    assert (result.status, result.evidence.endswith(": checksum mismatch")) == (FAIL, True)


def test_health(tenant):
    result = operations.health(tenant)
    assert (result.status, "no beat heartbeat recorded yet" in result.evidence) == (FAIL, True)
    record_heartbeats()
    assert operations.health(tenant).status == PASS


def test_a_check_that_crashes_is_a_fail_and_the_rest_still_run(tenant, monkeypatch, caplog):
    def broken(tenant):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(records, "budgets", broken)
    found = {item.key: item for item in cutover.run(tenant)}
    assert len(found) == len(cutover.items())
    assert found["budgets"].status == FAIL
    assert found["budgets"].evidence == "the check itself failed: ZeroDivisionError: division by zero"
    assert found["sending_number"].status == TODO  # the next one still ran


# --- the command ----------------------------------------------------------------------------------------------------


@pytest.fixture
def ready(tenant, owner, settings, live_server, tmp_path):
    """A business with nothing FAIL: our URL answers, the workers beat, the rest TO DO or PASS."""
    settings.PUBLIC_BASE_URL = live_server.url
    settings.BACKUP_DIR = ""
    settings.SHORT_DOMAIN = ""
    settings.RESTORE_DRILL_LOG = str(tmp_path / "drills.log")
    record_heartbeats()
    return tenant


def run_command(*args) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    command = CutoverCommand(stdout=out, stderr=err)
    try:
        command.run_from_argv(["manage.py", "cutover_check", *args])
    except SystemExit as exit:
        return exit.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_command_exits_0_with_only_pass_and_to_do(ready):
    code, out, _ = run_command("--tenant", "acme")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("PASS   migrations")
    assert any(line.startswith("TO DO  seed_data") for line in lines)
    assert any(line.strip().startswith("next: Write a first message template") for line in lines)
    assert any(line.startswith("PASS   status_callback") for line in lines)


def test_command_exits_1_with_a_fail_and_strict_fails_on_to_do(ready, settings, closed_port_url):
    code, _, err = run_command("--tenant", "acme", "--strict")
    assert code == 1
    assert "seed_data (TO DO)" in err
    settings.PUBLIC_BASE_URL = closed_port_url
    code, out, err = run_command("--tenant", "acme")
    assert code == 1
    assert any(line.startswith("FAIL   status_callback") for line in out.splitlines())
    assert "not ready: status_callback (FAIL)" in err


def test_command_json(ready):
    out = io.StringIO()
    call_command("cutover_check", "--tenant", "acme", "--json", stdout=out)
    found = json.loads(out.getvalue())
    assert [item["key"] for item in found] == [key for key, _title, _check in cutover.items()]
    assert all(set(item) == {"key", "title", "status", "evidence", "next"} for item in found)
    assert {item["status"] for item in found} == {PASS, TODO}
    assert all((item["next"] == "") == (item["status"] == PASS) for item in found)


def test_unknown_tenant_is_a_command_error_naming_it(tenant):
    with pytest.raises(CommandError, match="'nosuch'"):
        call_command("cutover_check", "--tenant", "nosuch")


# --- the page -------------------------------------------------------------------------------------------------------


@pytest.fixture
def offline(settings, closed_port_url):
    settings.PUBLIC_BASE_URL = closed_port_url


def test_the_owner_sees_every_item_and_its_status(tenant, owner, offline):
    response = client_for(owner).get(reverse("cutover"))
    assert response.status_code == 200
    page = response.content.decode()
    for item in cutover.run(tenant):
        assert f'id="item-{item.key}"' in page
        row = page.split(f'id="item-{item.key}"', 1)[1].split("</tr>", 1)[0]
        assert f">{item.status}</span>" in row
    assert "python manage.py cutover_check --tenant acme" in page


def test_only_owners_may_see_it(members, offline):
    assert_roles(reverse("cutover"), members=members, allowed={"owner"}, success=(200,))


def test_another_tenants_owner_sees_only_their_own_checklist(tenant, owner, other_owner, offline):
    TemplateFactory(tenant=tenant)
    page = client_for(other_owner).get(reverse("cutover")).content.decode()
    assert "tenant rival (Rival Florist); 1 owner(s)/admin(s); 0 template(s)" in page
    assert "Acme" not in page


def test_the_menu_shows_it_under_settings(owner, offline):
    page = client_for(owner).get(reverse("cutover")).content.decode()
    assert f'<a href="{reverse("tenants:settings")}" aria-current="true">Settings</a>' in page


def test_the_settings_page_links_it_for_owners_only(members):
    assert reverse("cutover") in client_for(members["owner"]).get(reverse("tenants:settings")).content.decode()
    assert reverse("cutover") not in client_for(members["admin"]).get(reverse("tenants:settings")).content.decode()
