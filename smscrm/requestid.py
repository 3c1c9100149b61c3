"""A request id on every log line of a request (issue 20).

The proxy's ``X-Request-ID`` is kept when it is at most 64 characters of ``[A-Za-z0-9._-]``;
otherwise a new one (uuid4 hex) is made. It is returned in the response's ``X-Request-ID``,
held in ``smscrm.logging.request_id`` for the log filter, and carried into the Celery tasks
the request enqueues (smscrm.celery).
"""

import re
import uuid

from django.core.signals import request_finished
from django.dispatch import receiver

from smscrm.logging import request_id, tenant_id

_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_from(header: str) -> str:
    """The proxy's id when it is well-formed, else a fresh one."""
    return header if _VALID.fullmatch(header or "") else uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Set, not reset on the way out: Django logs a 4xx response after the middleware has
        # returned, and that line belongs to this request too. request_finished clears it.
        request.request_id = request_id_from(request.headers.get("X-Request-ID", ""))
        request_id.set(request.request_id)
        tenant_id.set(None)
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


@receiver(request_finished)
def forget_request(**_kwargs) -> None:
    request_id.set(None)
    tenant_id.set(None)
