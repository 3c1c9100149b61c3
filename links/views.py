"""The redirect: cache first, 302 to the stored destination, the click queued, never awaited.

Unknown token → 404; expired → 410 naming the business; a link of another tenant's domain →
404. The response can only ever point at the destination stored with the token.

Unknown tokens are remembered in this process only (bounded, 60 s), never in the shared cache:
a bot guessing tokens would otherwise fill the Redis that also holds the Celery queue. A
visitor (by hashed address) who asks for more than SHORT_LINK_MISSES_PER_MINUTE unknown tokens
gets 429 for the rest of the minute, before any database look-up.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string

from links import clicks
from links.models import ShortLink
from smscrm.clientip import client_ip, client_network

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


def _remember(token: str, data: dict, now: float) -> None:
    _local[token] = (now + LOCAL_SECONDS, data)
    _local.move_to_end(token)
    if len(_local) > LOCAL_SIZE:
        _local.popitem(last=False)


def link_data(token: str, *, ip: str = "") -> dict | None:
    """What the redirect needs: this process's recent links, the shared cache, or one query.

    None when ``ip`` has asked for too many unknown tokens this minute (no query is made)."""
    now = time.monotonic()
    hit = _local.get(token)
    if hit is not None and hit[0] > now:
        return hit[1]
    key = f"shortlink:{token}"
    data = cache.get(key)
    if data is None:
        if ip and _misses_exceeded(ip):
            return None
        data = _from_database(token)
        if data is _MISSING:
            if ip:
                _count_miss(ip)
        else:
            cache.set(key, data, CACHE_SECONDS)
    _remember(token, data, now)
    return data


def _from_database(token: str) -> dict:
    link = (
        ShortLink.objects.filter(token=token)
        .select_related("tenant")
        .only("id", "destination", "expires_at", "campaign_id", "contact_id", "tenant__business_name")
        .first()
    )  # fmt: skip
    if link is None:
        return _MISSING
    return {
        "id": link.id,
        "tenant": link.tenant_id,
        "campaign": link.campaign_id,
        "contact": link.contact_id,
        "to": link.destination,
        "expires": link.expires_at.timestamp(),
        "business": link.tenant.business_name,
    }


def _miss_key(ip: str) -> str:
    return f"shortlink-misses:{clicks.ip_hash(ip)}:{int(time.time() // 60)}"


def _misses_exceeded(ip: str) -> bool:
    return (cache.get(_miss_key(ip)) or 0) >= settings.SHORT_LINK_MISSES_PER_MINUTE


def _count_miss(ip: str) -> None:
    key = _miss_key(ip)
    cache.add(key, 0, 120)  # one small counter per visitor and minute, gone two minutes later
    try:
        cache.incr(key)
    except ValueError:  # expired between the two calls
        cache.add(key, 1, 120)


# The page a short domain shows for a missing or expired link. Short domains serve nothing but
# links (no /static/), so its few lines of style travel inside it, allowed by their hash alone.
GONE_STYLE = "body{font:16px/1.5 system-ui,sans-serif;margin:3rem auto;max-width:32rem;padding:0 1rem;color:#222}"
GONE_POLICY = (
    "default-src 'none'; style-src 'sha256-"
    + base64.b64encode(hashlib.sha256(GONE_STYLE.encode()).digest()).decode()
    + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _plain(status: int, title: str, text: str) -> HttpResponse:
    body = render_to_string("links/gone.html", {"title": title, "text": text, "style": GONE_STYLE})
    response = HttpResponse(body, status=status)
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = GONE_POLICY
    return response


def follow(request, token: str, *, only_tenant: int | None = None) -> HttpResponse:
    """Serve one short link. ``only_tenant``: asked on that tenant's own short domain, where
    another tenant's link does not exist."""
    ip = client_ip(request)
    data = link_data(token, ip=client_network(request))
    if data is None:
        response = _plain(429, "Too many requests", "Too many links that do not exist. Try again in a minute.")
        response["Retry-After"] = "60"
        return response
    if data.get("missing") or (only_tenant is not None and data["tenant"] != only_tenant):
        response = _plain(404, "Link not found", "This link does not exist. Check that it was copied in full.")
        response["X-Short-Link"] = "not-found"  # this service's miss, not any 404 (scripts/health-check.sh)
        return response
    if data["expires"] <= time.time():
        return _plain(410, "Link expired", f"This link from {data['business']} has expired.")
    clicks.enqueue(link=data, method=request.method, user_agent=request.META.get("HTTP_USER_AGENT", ""), ip=ip)
    response = Redirect(data["to"])
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def follow_view(request, token: str) -> HttpResponse:
    """``/s/<token>`` on the main host."""
    return follow(request, token)
