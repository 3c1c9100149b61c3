"""The redirect: cache first, 302 to the stored destination, the click queued, never awaited.

Unknown token → 404; expired → 410 naming the business; a link of another tenant's domain →
404. The response can only ever point at the destination stored with the token.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from links import clicks
from links.models import ShortLink

CACHE_SECONDS = 3600
_MISSING = {"missing": True}


class Redirect(HttpResponseRedirect):
    # Stored destinations are http(s) only (URLField); nothing else is ever redirected to.
    allowed_schemes = ["http", "https"]


# Links never change once stored, so each process also keeps the ones it served lately: a
# repeat visit (a person's second tap, a preview then a tap) costs no round trip for them.
LOCAL_SECONDS = 60.0
LOCAL_SIZE = 20_000
_local: OrderedDict[str, tuple[float, dict]] = OrderedDict()


def link_data(token: str) -> dict:
    """What the redirect needs: this process's recent links, the shared cache, or one query."""
    now = time.monotonic()
    hit = _local.get(token)
    if hit is not None and hit[0] > now:
        return hit[1]
    data = _shared_link_data(token)
    _local[token] = (now + LOCAL_SECONDS, data)
    if len(_local) > LOCAL_SIZE:
        _local.popitem(last=False)
    return data


def _shared_link_data(token: str) -> dict:
    """From the cache or one query (cached for an hour, also when unknown)."""
    key = f"shortlink:{token}"
    data = cache.get(key)
    if data is None:
        link = (
            ShortLink.objects.filter(token=token)
            .select_related("tenant")
            .only("id", "destination", "expires_at", "campaign_id", "contact_id", "tenant__business_name")
            .first()
        )  # fmt: skip
        data = _MISSING
        if link is not None:
            data = {
                "id": link.id,
                "tenant": link.tenant_id,
                "campaign": link.campaign_id,
                "contact": link.contact_id,
                "to": link.destination,
                "expires": link.expires_at.timestamp(),
                "business": link.tenant.business_name,
            }
        cache.set(key, data, CACHE_SECONDS)
    return data


def client_ip(request) -> str:
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


def _plain(status: int, title: str, text: str) -> HttpResponse:
    body = render_to_string("links/gone.html", {"title": title, "text": text})
    response = HttpResponse(body, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


def follow(request, token: str, *, only_tenant: int | None = None) -> HttpResponse:
    """Serve one short link. ``only_tenant``: asked on that tenant's own short domain, where
    another tenant's link does not exist."""
    data = link_data(token)
    if data.get("missing") or (only_tenant is not None and data["tenant"] != only_tenant):
        return _plain(404, "Link not found", "This link does not exist. Check that it was copied in full.")
    if data["expires"] <= time.time():
        return _plain(410, "Link expired", f"This link from {data['business']} has expired.")
    clicks.enqueue(
        link=data, method=request.method, user_agent=request.META.get("HTTP_USER_AGENT", ""), ip=client_ip(request)
    )
    response = Redirect(data["to"])
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def follow_view(request, token: str) -> HttpResponse:
    """``/s/<token>`` on the main host."""
    return follow(request, token)
