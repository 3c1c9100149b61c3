"""TwilioBackend against a local fake of Twilio's Messages API (messaging/tests/fake_twilio.py).

The real SDK builds and sends real HTTP requests; only the host differs.
"""

import json
import logging
import socket
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from twilio.base.exceptions import TwilioException

from messaging.backends.base import (
    Consequence,
    OutboundSMS,
    Outcome,
    ProviderCredentials,
    get_backend,
)
from messaging.backends.twilio import BaseUrlHttpClient, TwilioBackend, price_cents, retry_after
from messaging.tests.fake_twilio import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    Reply,
    accept,
    close,
    error,
    hang,
    rate_limited,
    server_error,
)

ACCOUNT = ProviderCredentials(ACCOUNT_SID, AUTH_TOKEN)
OTHER_SID = "AC99999999999999999999999999999999"
OTHER_TOKEN = "0ddba11c0ffee0ddba11c0ffee000000"
OTHER = ProviderCredentials(OTHER_SID, OTHER_TOKEN)
CALLBACK = "https://crm.example.com.au/webhooks/twilio/status/"


def sms(n: int = 1, *, account: ProviderCredentials = ACCOUNT, **overrides) -> OutboundSMS:
    fields = {
        "reference": f"ref-{n}",
        "to": f"+6141200{n:04d}",
        "sender": "+61480000000",
        "body": f"Hi #{n}, 20% off this week. Reply STOP to opt out",
        "account": account,
    }
    return OutboundSMS(**(fields | overrides))


@pytest.fixture
def backend(fake_twilio):
    return TwilioBackend()


def test_get_backend_returns_the_twilio_backend():
    backend = get_backend("twilio")
    assert isinstance(backend, TwilioBackend)
    assert backend.name == "twilio"
    assert backend.can_lookup is False


def test_lookup_cannot_tell(backend):
    assert backend.lookup(sms()) is None


def test_send_passes_every_field_and_authenticates(fake_twilio, backend):
    [result] = backend.send([sms(status_callback=CALLBACK, validity_period=14400)])

    [request] = fake_twilio.sends
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth == (ACCOUNT_SID, AUTH_TOKEN)
    assert request.form == {
        "To": "+61412000001",
        "From": "+61480000000",
        "Body": "Hi #1, 20% off this week. Reply STOP to opt out",
        "StatusCallback": CALLBACK,
        "ValidityPeriod": "14400",
    }
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"

    assert result.outcome == Outcome.ACCEPTED
    assert result.reference == "ref-1"
    assert result.provider_id in fake_twilio.messages
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    assert result.status == "queued"
    assert result.price_cents is None
    assert (result.error_code, result.error_message, result.consequence) == ("", "", Consequence.NONE)


def test_optional_fields_are_left_out_when_unset(fake_twilio, backend):
    backend.send([sms()])
    assert set(fake_twilio.sends[0].form) == {"To", "From", "Body"}


def test_the_created_message_can_be_fetched_through_the_same_client(fake_twilio, backend):
    [result] = backend.send([sms()])
    fetched = backend.client(ACCOUNT_SID, AUTH_TOKEN).messages(result.provider_id).fetch()
    assert (fetched.sid, fetched.to, fetched.status) == (result.provider_id, "+61412000001", "queued")


def test_price_reported_at_once_is_positive_cents(fake_twilio, backend):
    fake_twilio.queue(accept(price="-0.0750", price_unit="AUD"))
    [result] = backend.send([sms()])
    assert result.outcome == Outcome.ACCEPTED
    assert result.price_cents == 8


@pytest.mark.parametrize(
    ("price", "cents"),
    [("-0.0500", 5), ("-0.0750", 8), ("-0.0749", 7), ("-0.0515", 5), ("-0.10", 10), ("0.0550", 6), (None, None)],
)
def test_price_cents_rounds_half_up(price, cents):
    assert price_cents(price) == cents


def test_retry_after_reads_seconds_or_an_http_date():
    assert retry_after("7") == 7.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after(later) <= 30


def test_21610_is_rejected_and_means_do_not_contact(fake_twilio, backend):
    fake_twilio.script_to("+61412000001", error(21610))
    [result] = backend.send([sms()])
    assert result.outcome == Outcome.REJECTED
    assert result.consequence == Consequence.DO_NOT_CONTACT
    assert result.error_code == "21610"
    assert result.error_message == "Attempt to send to unsubscribed recipient"
    assert result.provider_id == ""


@pytest.mark.parametrize("code", [21211, 21614])
def test_invalid_or_non_mobile_number_is_undeliverable(fake_twilio, backend, code):
    fake_twilio.script_to("+61412000001", error(code))
    [result] = backend.send([sms()])
    assert (result.outcome, result.consequence, result.error_code) == (
        Outcome.REJECTED,
        Consequence.UNDELIVERABLE,
        str(code),
    )


def test_a_number_twilio_itself_finds_invalid_is_undeliverable(fake_twilio, backend):
    [result] = backend.send([sms(to="0412 000 001")])
    assert (result.outcome, result.consequence, result.error_code) == (
        Outcome.REJECTED,
        Consequence.UNDELIVERABLE,
        "21211",
    )
    assert "0412 000 001" in result.error_message


@pytest.mark.parametrize("code", [30007, 21606, 21408])
def test_other_api_errors_are_rejected_without_consequence(fake_twilio, backend, code):
    fake_twilio.queue(error(code, "Twilio says no"))
    [result] = backend.send([sms()])
    assert result.outcome == Outcome.REJECTED
    assert result.consequence == Consequence.NONE
    assert result.error_code == str(code)
    assert result.error_message == "Twilio says no"


def test_429_is_retried_after_what_twilio_says(fake_twilio, backend):
    fake_twilio.queue(rate_limited(retry_after="7"))
    [result] = backend.send([sms()])
    assert result.outcome == Outcome.RETRY
    assert result.retry_after == 7.0
    assert result.error_code == "20429"
    assert result.error_message != "timeout"


def test_429_without_retry_after(fake_twilio, backend):
    fake_twilio.queue(rate_limited(retry_after=None))
    [result] = backend.send([sms()])
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, None)


def test_code_20429_on_another_status_is_still_a_retry(fake_twilio, backend):
    fake_twilio.queue(error(20429, status=400, headers={"Retry-After": "3"}))
    [result] = backend.send([sms()])
    assert (result.outcome, result.retry_after) == (Outcome.RETRY, 3.0)


@pytest.mark.parametrize("reply", [server_error(500), server_error(503, raw_body="<html>Service Unavailable</html>")])
def test_server_errors_are_retried(fake_twilio, backend, reply):
    fake_twilio.queue(reply)
    [result] = backend.send([sms()])
    assert result.outcome == Outcome.RETRY
    assert result.error_message != "timeout"
    assert result.retry_after is None


def test_connection_refused_is_retried(settings):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"
    [result] = TwilioBackend(timeout=2).send([sms()])
    assert result.outcome == Outcome.RETRY
    assert result.error_message.startswith("connection error")  # never reached Twilio: not "timeout"


def test_a_timeout_after_sending_is_retry_with_timeout_as_it_may_have_been_taken(fake_twilio):
    fake_twilio.queue(hang(seconds=3))
    [result] = TwilioBackend(timeout=0.5).send([sms()])
    assert result.outcome == Outcome.RETRY
    assert result.error_message == "timeout"
    assert len(fake_twilio.sends) == 1  # the request did reach "Twilio"


def test_a_connection_dropped_after_sending_is_treated_like_a_timeout(fake_twilio, backend):
    fake_twilio.queue(close())
    [result] = backend.send([sms()])
    assert (result.outcome, result.error_message) == (Outcome.RETRY, "timeout")
    assert len(fake_twilio.messages) == 1  # and Twilio did take it: exactly why it must not be resent blindly


def test_a_mixed_batch_answers_in_input_order(fake_twilio, backend):
    fake_twilio.script_to("+61412000002", error(21610))
    fake_twilio.script_to("+61412000004", server_error())
    fake_twilio.script_to("+61412000005", rate_limited(retry_after="2"))
    fake_twilio.script_to("+61412000006", error(21614))
    batch = [sms(n) for n in range(1, 8)]

    results = backend.send(batch)

    assert [r.reference for r in results] == [m.reference for m in batch]
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
        Outcome.RETRY,
        Outcome.RETRY,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
    ]
    assert [r.consequence for r in results][1::4] == [Consequence.DO_NOT_CONTACT, Consequence.UNDELIVERABLE]
    assert [r.form["To"] for r in fake_twilio.sends] == [m.to for m in batch]
    accepted = [r for r in results if r.outcome == Outcome.ACCEPTED]
    assert [fake_twilio.messages[r.provider_id]["to"] for r in accepted] == [
        "+61412000001",
        "+61412000003",
        "+61412000007",
    ]


def test_one_connection_is_kept_alive_across_a_batch(fake_twilio, backend):
    backend.send([sms(n) for n in range(1, 4)])
    assert len({r.peer for r in fake_twilio.sends}) == 1


def test_each_account_uses_its_own_credentials(fake_twilio, backend):
    fake_twilio.add_account(OTHER_SID, OTHER_TOKEN)

    results = backend.send([sms(1), sms(2, account=OTHER), sms(3)])

    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 3
    assert [(r.account_sid, r.auth) for r in fake_twilio.sends] == [
        (ACCOUNT_SID, (ACCOUNT_SID, AUTH_TOKEN)),
        (OTHER_SID, (OTHER_SID, OTHER_TOKEN)),
        (ACCOUNT_SID, (ACCOUNT_SID, AUTH_TOKEN)),
    ]
    assert fake_twilio.messages[results[1].provider_id]["account_sid"] == OTHER_SID
    assert backend.client(ACCOUNT_SID, AUTH_TOKEN) is backend.client(ACCOUNT_SID, AUTH_TOKEN)
    assert backend.client(ACCOUNT_SID, AUTH_TOKEN) is not backend.client(OTHER_SID, OTHER_TOKEN)


def test_a_rotated_token_replaces_the_cached_client(fake_twilio, backend):
    backend.send([sms()])
    fake_twilio.add_account(ACCOUNT_SID, OTHER_TOKEN)
    [result] = backend.send([sms(2, account=ProviderCredentials(ACCOUNT_SID, OTHER_TOKEN))])
    assert result.outcome == Outcome.ACCEPTED
    assert fake_twilio.sends[-1].auth == (ACCOUNT_SID, OTHER_TOKEN)


def test_wrong_credentials_are_rejected_by_twilio(fake_twilio, backend):
    [result] = backend.send([sms(account=ProviderCredentials(ACCOUNT_SID, "0" * 32))])
    assert (result.outcome, result.error_code) == (Outcome.REJECTED, "20003")


def test_the_auth_token_never_reaches_a_result_or_a_log(fake_twilio, caplog, settings):
    caplog.set_level(logging.DEBUG)
    fake_twilio.script_to("+61412000002", error(21610))
    fake_twilio.script_to("+61412000003", rate_limited())
    fake_twilio.script_to("+61412000004", server_error())
    fake_twilio.script_to("+61412000005", close())
    wrong = ProviderCredentials(ACCOUNT_SID, "badbadbadbadbadbadbadbadbadbad00")
    batch = [sms(n) for n in range(1, 6)] + [sms(6, account=wrong)]

    results = TwilioBackend().send(batch)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TWILIO_API_BASE_URL = f"http://127.0.0.1:{port}"
    results += TwilioBackend().send([sms(7)])

    assert len({r.outcome for r in results}) == 3  # every path was taken
    assert caplog.records, "the SDK and the backend do log: the check below must mean something"
    for token in (AUTH_TOKEN, wrong.auth_token):
        assert token not in caplog.text
        for result in results:
            assert all(token not in str(value) for value in astuple(result))
            assert token not in repr(result)
    assert AUTH_TOKEN not in repr(ACCOUNT)


def test_requests_only_ever_go_to_the_configured_base_url():
    client = BaseUrlHttpClient(base_url="http://127.0.0.1:9")
    assert (
        client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?PageSize=1")
        == "http://127.0.0.1:9/2010-04-01/Accounts/AC1/Messages.json?PageSize=1"
    )
    for url in ("https://messaging.twilio.com/v1/Services", "https://api.twilio.com.evil.example/x"):
        with pytest.raises(TwilioException):
            client.rewrite(url)
    production = BaseUrlHttpClient(base_url="https://api.twilio.com")
    assert production.rewrite("https://api.twilio.com/2010-04-01/x.json") == "https://api.twilio.com/2010-04-01/x.json"


def test_rfc_9457_error_bodies_are_understood_too(fake_twilio, backend):
    problem = {
        "type": "https://www.twilio.com/docs/errors/21610",
        "title": "Attempt to send to unsubscribed recipient",
        "status": 400,
        "code": 21610,
        "detail": "The recipient replied STOP.",
    }
    fake_twilio.queue(Reply("error", status=400, code=21610, raw_body=json.dumps(problem)))
    [result] = backend.send([sms()])
    assert (result.outcome, result.consequence, result.error_code) == (
        Outcome.REJECTED,
        Consequence.DO_NOT_CONTACT,
        "21610",
    )
    assert "unsubscribed" in result.error_message
