"""Provider webhooks: status callbacks and inbound texts, signature first.

``POST /webhooks/provider`` takes both kinds (told apart by their parameters);
``/webhooks/twilio/status`` and ``/webhooks/twilio/inbound`` take one each and are the URLs the
backends and the numbers page give out.

Every request is checked in this order, and a refusal stores nothing:

1. size: a body over WEBHOOK_MAX_BYTES (64 KB) gets 413 before it is parsed;
2. signature: ``X-Twilio-Signature`` validated by twilio's RequestValidator with the auth token
   of the account its AccountSid names. The URL it covers is rebuilt from PUBLIC_BASE_URL (or,
   with WEBHOOK_TRUST_PROXY_HEADERS, from the proxy's X-Forwarded-* headers), never from the
   Host header; the validator accepts it with and without the default port. A missing or wrong
   signature or an unknown account gets 403 and one log line naming the account, never a token;
3. tenant: the account's, confirmed by OUR number (a status callback's From, an inbound To)
   among that account's senders; a number of another account or tenant never matches.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.request_validator import RequestValidator

from messaging import events, inbound
from messaging.models import ProviderAccount, SendingNumber
from smscrm import metrics
from smscrm.edge import nul_free, strips_nul
from tenants.models import Tenant

logger = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
INBOUND_STATUSES = {"received", "receiving"}


def twiml(reply: str) -> HttpResponse:
    if not reply:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    body = f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{escape(reply)}</Message></Response>'
    return HttpResponse(body, content_type="text/xml")


def refuse(request: HttpRequest, status: int, reason: str) -> HttpResponse:
    logger.warning(
        "webhook refused (%s): %s from account %s", request.path, reason, request.POST.get("AccountSid", "?")[:64]
    )
    return HttpResponse(reason, status=status, content_type="text/plain")


def public_url(request: HttpRequest) -> str:
    """The URL the provider called, as it signed it."""
    if settings.WEBHOOK_TRUST_PROXY_HEADERS and request.headers.get("X-Forwarded-Host"):
        proto = request.headers.get("X-Forwarded-Proto", "https").split(",")[0].strip()
        host = request.headers["X-Forwarded-Host"].split(",")[0].strip()
        port = request.headers.get("X-Forwarded-Port", "").split(",")[0].strip()
        if port and ":" not in host:
            host = f"{host}:{port}"
        return f"{proto}://{host}{request.get_full_path()}"
    return settings.PUBLIC_BASE_URL + request.get_full_path()


@dataclass(frozen=True)
class Signer:
    """What a webhook needs to know about an account: its token and whose numbers are whose."""

    account_id: int
    tenant_id: int
    token: str = field(repr=False)
    numbers: dict[str, int]  # our sender → its tenant, among this account's senders

    def tenant_id_of(self, our_number: str) -> int:
        return self.numbers.get(our_number, self.tenant_id)


# Accounts by AccountSid for a few seconds: a busy webhook would otherwise spend two of its
# three database round trips finding the same account again. Saving an account or a number
# clears it in this process; other processes see a change within SIGNER_TTL seconds.
SIGNER_TTL = 10.0
_signers: dict[str, tuple[float, Signer | None]] = {}


def signers_forget(**_kwargs) -> None:
    _signers.clear()


def signer_for(sid: str) -> Signer | None:
    now = time.monotonic()
    cached = _signers.get(sid)
    if cached is not None and cached[0] > now:
        return cached[1]
    account = ProviderAccount.objects.filter(account_sid=sid, is_active=True).first()
    signer = None
    if account is not None:
        numbers = dict(SendingNumber.objects.filter(account=account).values_list("sender", "tenant_id"))
        signer = Signer(account.id, account.tenant_id, account.token, numbers)
    if len(_signers) > 10_000:
        _signers.clear()
    _signers[sid] = (now + SIGNER_TTL, signer)
    return signer


def verified_signer(request: HttpRequest) -> tuple[Signer | None, str]:
    """The account that signed the request, or (None, why not)."""
    sid = request.POST.get("AccountSid", "")
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return None, "missing signature"
    if not sid:
        return None, "no AccountSid"
    signer = signer_for(sid[:64])
    if signer is None:
        return None, "unknown account"
    # The validator reads repeated keys through QueryDict.getlist and signs whatever was posted.
    if not signer.token or not RequestValidator(signer.token).validate(public_url(request), request.POST, signature):
        return None, "invalid signature"
    return signer, ""


def is_inbound(request: HttpRequest) -> bool:
    status = (request.POST.get("MessageStatus") or request.POST.get("SmsStatus") or "").lower()
    if status and status not in INBOUND_STATUSES:
        return False
    return "Body" in request.POST or status in INBOUND_STATUSES


def _checked(request: HttpRequest):
    """(signer, None) for a request that may be handled, else (None, the refusal)."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.WEBHOOK_MAX_BYTES:
        return None, HttpResponse("Request body too large", status=413, content_type="text/plain")
    if len(request.body) > settings.WEBHOOK_MAX_BYTES:
        return None, HttpResponse("Request body too large", status=413, content_type="text/plain")
    signer, why = verified_signer(request)
    if signer is None:
        return None, refuse(request, 403, f"Forbidden: {why}")
    if not request.POST.get("MessageSid"):
        return None, refuse(request, 400, "Bad request: no MessageSid")
    return signer, None


def _status(request: HttpRequest, signer: Signer) -> HttpResponse:
    params = nul_free(request.POST.dict())  # signed as sent; stored without NUL (PostgreSQL refuses it)
    tenant_id = signer.tenant_id_of(params.get("From", ""))  # our number sent it
    events.status_callback_record(tenant_id=tenant_id, account_id=signer.account_id, params=params)
    return twiml("")


def _inbound(request: HttpRequest, signer: Signer) -> HttpResponse:
    params = nul_free(request.POST.dict())  # "STOP\x00" is still an opt-out
    # Read afresh: the replies and phrases it uses may have just been edited.
    tenant = Tenant.objects.get(pk=signer.tenant_id_of(params.get("To", "")))  # our number received it
    received = inbound.inbound_receive(tenant=tenant, account_id=signer.account_id, params=params)
    return twiml(received.reply)


@metrics.webhook("provider")
@strips_nul
@csrf_exempt
@require_POST
def provider(request: HttpRequest) -> HttpResponse:
    """Status callbacks and inbound texts at one URL."""
    signer, refusal = _checked(request)
    if refusal is not None:
        return refusal
    return _inbound(request, signer) if is_inbound(request) else _status(request, signer)


@metrics.webhook("status")
@strips_nul
@csrf_exempt
@require_POST
def status_callback(request: HttpRequest) -> HttpResponse:
    signer, refusal = _checked(request)
    if refusal is not None:
        return refusal
    return _status(request, signer)


@metrics.webhook("inbound")
@strips_nul
@csrf_exempt
@require_POST
def inbound_message(request: HttpRequest) -> HttpResponse:
    signer, refusal = _checked(request)
    if refusal is not None:
        return refusal
    return _inbound(request, signer)
