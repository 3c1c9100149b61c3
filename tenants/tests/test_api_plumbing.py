"""Pieces of the API's shared plumbing (issue 18): a service's errors for the object as a whole
in the one error body, query-string filters read at the edge, times in the tenant's zone."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from rest_framework.exceptions import ValidationError as ApiValidationError

from tenants.api.errors import api_exception_handler
from tenants.api.query_filters import moment, object_id, one_of, read_filters

SYDNEY = ZoneInfo("Australia/Sydney")


def test_a_service_error_for_the_whole_object_is_the_message_and_field_errors_stay_fields():
    exc = ValidationError({NON_FIELD_ERRORS: ["No sender.", "No price."], "ends_at": ["The end has passed."]})
    response = api_exception_handler(exc, {})
    assert response.status_code == 400
    assert response.data == {
        "code": "validation_error",
        "message": "No sender. No price.",
        "fields": {"ends_at": ["The end has passed."]},
    }


def test_a_service_error_list_is_the_message():
    response = api_exception_handler(ValidationError(["One.", "Two."]), {})
    assert response.data == {"code": "validation_error", "message": "One. Two.", "fields": {}}


def test_filters_are_parsed_and_every_bad_one_named():
    parsers = {"campaign": object_id, "status": one_of(["sent", "failed"]), "since": moment(SYDNEY)}
    assert read_filters({"campaign": "12", "status": "", "cursor": "abc"}, parsers) == {"campaign": 12}
    with pytest.raises(ApiValidationError) as raised:
        read_filters({"campaign": "12a", "status": "lost", "since": "soon"}, parsers)
    assert set(raised.value.detail) == {"campaign", "status", "since"}
    assert str(raised.value.detail["status"][0]) == "Choose one of: sent, failed."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-01T09:00:00+11:00", dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)),
        ("2026-12-01T09:00:00 11:00", dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)),  # "+" unencoded
        ("2026-11-30T22:00:00Z", dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)),
        ("2026-12-01T09:00:00", dt.datetime(2026, 11, 30, 22, 0, tzinfo=dt.UTC)),  # no offset: the tenant's zone
        ("2026-12-01", dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC)),  # a date: its midnight there
    ],
)
def test_a_moment_is_any_iso_8601_time_read_in_the_tenants_zone_without_an_offset(raw, expected):
    assert moment(SYDNEY)(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2026-13-01", "2026-02-30T10:00:00", "0001-01-01T00:00:00+14:00"])
def test_a_moment_that_is_no_time_is_refused(raw):
    with pytest.raises(ValueError, match="ISO 8601"):
        moment(SYDNEY)(raw)
