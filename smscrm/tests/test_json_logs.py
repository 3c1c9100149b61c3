"""Log lines (issue 20): JSON in production, a request id on every line of a request and of
the tasks it enqueues, and no phone number or token in full."""

import io
import json
import logging

import pytest

from smscrm.celery import app, carry_request_id
from smscrm.logging import ContextFilter, JsonFormatter, RedactSecretsFilter, logging_config, mask_phones, request_id
from smscrm.requestid import request_id_from


@pytest.fixture
def lines():
    """Captures the JSON lines of every logger, through the handler production uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactSecretsFilter())
    loggers = [logging.getLogger(name) for name in (None, "django", "django.server")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@pytest.mark.django_db
def test_every_line_of_a_request_carries_its_request_id_and_the_response_returns_it(client, lines):
    response = client.get("/metrics", HTTP_X_REQUEST_ID="edge-abc.123_x")  # a 404, logged by Django
    assert response.status_code == 404
    assert response["X-Request-ID"] == "edge-abc.123_x"
    logged = [line for line in lines() if line["logger"] == "django.request"]
    assert logged and all(line["request_id"] == "edge-abc.123_x" for line in logged)
    assert logged[0]["level"] == "WARNING" and logged[0]["message"] == "Not Found: /metrics"
    assert request_id.get() is None  # nothing leaks into the next request


@pytest.mark.parametrize("header", ["", "x" * 65, "bad id", "a/b", "é"])
def test_a_malformed_request_id_is_replaced_by_a_fresh_one(header):
    made = request_id_from(header)
    assert made != header and len(made) == 32 and made.isalnum()


def log_inside_a_task():
    logging.getLogger("smscrm.tests").warning("inside the task")


def test_a_tasks_lines_carry_the_id_of_the_request_that_enqueued_it(lines):
    headers: dict = {}
    token = request_id.set("req-7")
    try:
        carry_request_id(headers=headers)  # what Celery's before_task_publish does at enqueue
    finally:
        request_id.reset(token)
    assert headers == {"request_id": "req-7"}
    # A task for this test only, gone afterwards (every real task must be routed to a queue).
    task = app.task(name="smscrm.tests.log_something", shared=False)(log_inside_a_task)
    try:
        task.apply(headers=headers)  # the worker's side: task_prerun reads the header
    finally:
        app.tasks.pop(task.name, None)
    assert [line["request_id"] for line in lines() if line["message"] == "inside the task"] == ["req-7"]
    assert request_id.get() is None


def test_phone_numbers_are_masked_to_their_last_three_digits(lines):
    logging.getLogger("smscrm.tests").warning("sent to %s and %s", "+61412345678", "0412345678")
    assert lines()[-1]["message"] == "sent to *******678 and *******678"
    assert mask_phones("order 12345678 at 10:30") == "order 12345678 at 10:30"


@pytest.mark.parametrize(
    "written",
    ["0412 345 678", "+61 412 345 678", "0412-345-678", "0412+345+678", "%2B61+412+345+678", "0412%20345%20678"],
)
def test_numbers_written_in_groups_are_masked_too(written):
    """As people type them into a search box, and as the browser puts that in a URL."""
    assert mask_phones(f"GET /contacts/?q={written}&page=2") == "GET /contacts/?q=*******678&page=2"


@pytest.mark.parametrize(
    "text", ["2026-12-05 18:40:25", "v0.26.0", "10.0.0.5:5432", "took 0 12 345 ms", "0.5 1.25 3.75", "AC0123 456 789"]
)
def test_times_versions_and_addresses_are_not_phone_numbers(text):
    assert mask_phones(text) == text


def test_a_grouped_number_ending_a_sentence_is_masked():
    """An exception's or a message's text ends its sentence after the number: the full stop is no
    version number's next group."""
    assert mask_phones("No contact has the number 0412 345 678.") == "No contact has the number *******678."
    assert mask_phones("Refused: +61 412 345 678. Try again") == "Refused: *******678. Try again"


@pytest.mark.parametrize("uuid", ["1b4e28ba-0123-4567-8901-234567890abc", "d3b07384-d9a0-0123-4567-890123456789"])
def test_uuids_are_not_phone_numbers(uuid):
    """Celery task ids and request ids: a run of digit groups inside a UUID starting with 0 is no
    number written in groups, and a masked one could no longer be searched for."""
    assert mask_phones(f"Task campaigns.dispatch[{uuid}] succeeded") == f"Task campaigns.dispatch[{uuid}] succeeded"


def test_tokens_are_redacted(lines):
    logging.getLogger("django.server").info('"GET /login/?sesame=AbC123secret HTTP/1.1" 200')
    logging.getLogger("smscrm.tests").info("key %s", "api_key=sk_live_123")
    text = json.dumps(lines())
    assert "AbC123secret" not in text and "sk_live_123" not in text
    assert "sesame=[redacted]" in text


def test_production_writes_json_and_development_writes_lines_for_people():
    assert logging_config(level="INFO", json_lines=True, twilio_level="WARNING")["formatters"]["main"] == {
        "()": "smscrm.logging.JsonFormatter"
    }
    assert (
        "request_id"
        in logging_config(level="INFO", json_lines=False, twilio_level="WARNING")["formatters"]["main"]["format"]
    )


@pytest.mark.django_db
def test_a_signed_in_members_lines_carry_their_tenant(client, tenant, owner, lines):
    client.force_login(owner)
    assert client.get("/metrics").status_code == 404
    logged = [line for line in lines() if line["logger"] == "django.request"]
    assert logged and logged[-1]["tenant_id"] == tenant.id


@pytest.mark.django_db
def test_an_api_keys_lines_carry_its_tenant_and_never_the_key(client, tenant, api_keys, lines):
    key = api_keys["admin"]
    response = client.get("/api/v1/contacts/999999999/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 404
    logged = [line for line in lines() if line["logger"] == "django.request"]
    assert logged and logged[-1]["tenant_id"] == tenant.id
    assert key not in json.dumps(lines())


def test_a_real_worker_logs_the_request_id_of_the_request_that_enqueued_the_task():
    """Through a broker and a worker thread (a thread starts with no context of its own): the id
    travels only in the message's headers (before_task_publish), and task_prerun puts it back."""
    from celery import Celery
    from celery.contrib.testing.worker import start_worker

    elsewhere = Celery("request_id_test", broker="memory://", backend="cache+memory://")
    task = elsewhere.task(name="smscrm.tests.log_inside_a_task", shared=False)(log_inside_a_task)
    with start_worker(elsewhere, perform_ping_check=False, pool="solo"):
        stream = io.StringIO()  # attached once the worker has set its logging up
        handler = logging.StreamHandler(stream)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(ContextFilter())
        logging.getLogger("smscrm.tests").addHandler(handler)
        token = request_id.set("req-9")
        try:
            result = task.apply_async()
        finally:
            request_id.reset(token)
        try:
            result.get(timeout=30)
        finally:
            logging.getLogger("smscrm.tests").removeHandler(handler)
    assert [json.loads(line)["request_id"] for line in stream.getvalue().splitlines()] == ["req-9"]
