"""``Idempotency-Key`` for the API's POSTs: the same key and body within 24 hours answers the
first response again and does nothing; the same key with another body is a 422.

The record is inserted in the same transaction as the work. A second request with the key,
arriving while the first is still working, blocks on the record's unique index (PostgreSQL
waits for the first transaction) and then reads the finished response: two requests at once
make one object, and both callers get its answer. Only success is kept: a 4xx or 5xx rolls
the record back with the work, so the caller may fix the request and retry with the key.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from tenants.api.errors import IdempotencyKeyReused
from tenants.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEEP_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255


def _scope(request) -> str:
    api_key = getattr(request._request, "api_key", None)
    if api_key is not None:
        return f"key:{api_key.pk}"
    return f"user:{request.user.pk}:tenant:{request._request.tenant.pk}"


def _fingerprint(request) -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.content_type.startswith("multipart/"):
        for name in sorted(request.data):
            digest.update(f"{name}={request.data.getlist(name)}\n".encode())
        for name in sorted(request.FILES):
            upload = request.FILES[name]
            for chunk in upload.chunks():
                digest.update(chunk)
            upload.seek(0)
    else:
        digest.update(request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.body, status=record.status_code)
    response["Idempotent-Replayed"] = "true"
    return response


def idempotent(method=None, *, unkept: tuple[str, ...] = ()):
    """Decorate a view's POST handler. Without the header the handler runs as usual.

    ``unkept`` names response fields never stored for a replay (a secret shown once): a replay
    answers them as null, so the secret exists only in the first response."""
    if method is None:
        return lambda handler: idempotent(handler, unkept=unkept)

    @functools.wraps(method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return method(self, request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationError({HEADER: [f"At most {MAX_KEY_LENGTH} printable characters."]})
        scope, fingerprint = _scope(request), _fingerprint(request)
        with transaction.atomic():
            record = _claim(tenant=request._request.tenant, scope=scope, key=key, fingerprint=fingerprint)
            if record.status_code is not None:
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                return _replay(record)
            response = method(self, request, *args, **kwargs)
            if not 200 <= response.status_code < 300:
                transaction.set_rollback(True)
                return response
            body = json.loads(JSONRenderer().render(response.data) or b"null")
            if isinstance(body, dict):
                body.update({name: None for name in unkept if name in body})
            record.status_code = response.status_code
            record.body = body
            record.save(update_fields=["status_code", "body"])
        return response

    return wrapper


def _claim(*, tenant, scope: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """The record for the key: a new, unfinished one (ours to finish), or the finished one."""
    cutoff = timezone.now() - KEEP_FOR
    IdempotencyRecord.objects.filter(scope=scope, key=key, created_at__lt=cutoff).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(tenant=tenant, scope=scope, key=key, fingerprint=fingerprint)
    except IntegrityError:
        # Another request with the key committed first (we waited for it on the unique index).
        return IdempotencyRecord.objects.get(scope=scope, key=key)


def idempotency_purge() -> int:
    """Delete records older than 24 hours (beat, daily)."""
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - KEEP_FOR).delete()
    return deleted
