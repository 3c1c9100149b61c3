"""One error body for the whole API: ``{"code", "message", "fields"}``.

``code`` is a stable machine word (``validation_error``, ``not_authenticated``,
``authentication_failed``, ``permission_denied``, ``not_found``, ``method_not_allowed``,
``throttled``, ``idempotency_key_reused``, ``parse_error``, ``unsupported_media_type``, ...),
``message`` a sentence for people, ``fields`` the problems per field name (``{}`` when none).
A service's ``django.core.exceptions.ValidationError`` is a 400 like a serializer's, so the
rules that live in models and services answer the API in the same words as the pages.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.serializers import as_serializer_error
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used with a different request; use a new key for a new request."


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The object is not in a state that allows this."


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [text for value in detail.values() for text in _flatten(value)]
    if isinstance(detail, list):
        return [text for value in detail for text in _flatten(value)]
    return [str(detail)]


def _fields(detail) -> dict[str, list[str]]:
    return {name: _flatten(value) for name, value in detail.items() if name != "non_field_errors"}


def error_body(exc: exceptions.APIException) -> dict:
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail}
        general = _flatten(detail.get("non_field_errors", []))
        fields = _fields(detail)
        message = " ".join(general) or "Some fields are not valid: " + ", ".join(sorted(fields)) + "."
        return {"code": "validation_error", "message": message, "fields": fields}
    code = getattr(exc, "default_code", "error")
    if isinstance(detail, dict):
        return {"code": code, "message": " ".join(_flatten(detail)), "fields": _fields(detail)}
    return {"code": code, "message": " ".join(_flatten(detail)), "fields": {}}


def api_exception_handler(exc, context):
    """DRF's handler, with Django's own exceptions mapped first and the body in one shape."""
    if isinstance(exc, DjangoValidationError):
        detail = as_serializer_error(exc)
        if NON_FIELD_ERRORS in detail:  # a service's {"__all__": …, "field": …} (full_clean's shape)
            detail = {api_settings.NON_FIELD_ERRORS_KEY: detail.pop(NON_FIELD_ERRORS), **detail}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, SuspiciousOperation):
        # Too many fields or files, a body over DATA_UPLOAD_MAX_MEMORY_SIZE: refused at the edge.
        exc = exceptions.ParseError(f"The request is refused: {exc}")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is not None:
        response.data = error_body(exc)
    return response
