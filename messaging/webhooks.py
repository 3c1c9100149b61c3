"""Provider webhooks: status callbacks, signature-verified.

The URL a signature covers is rebuilt from PUBLIC_BASE_URL and the request's path and query,
never from the Host header (a proxy sits in front in production). The token that validates a
request is the auth token of the account its AccountSid names; an unknown account or a bad
signature gets 403 and changes nothing.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging import services
from messaging.models import ProviderAccount

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_url(request: HttpRequest) -> str:
    return settings.PUBLIC_BASE_URL + request.get_full_path()


def verified_account(request: HttpRequest) -> ProviderAccount | None:
    """The account that signed the request, or None when the signature does not hold."""
    sid = request.POST.get("AccountSid", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not sid or not signature:
        return None
    account = ProviderAccount.objects.filter(account_sid=sid, is_active=True).first()
    if account is None:
        return None
    # The validator reads repeated keys through QueryDict.getlist and signs whatever was posted.
    if not RequestValidator(account.auth_token).validate(public_url(request), request.POST, signature):
        return None
    return account


@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    account = verified_account(request)
    if account is None:
        logger.warning("status callback refused: bad or missing signature (account %s)", request.POST.get("AccountSid"))
        return HttpResponse("Invalid signature", status=403, content_type="text/plain")
    services.message_status_apply(
        account=account,
        provider_id=request.POST.get("MessageSid", ""),
        status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
