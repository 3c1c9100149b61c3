"""The client's address, the same way for every rate limit and every click.

Behind TRUSTED_PROXY_COUNT proxies (compose expects one TLS-terminating proxy in front of the
web container), the client is the address those proxies appended last to X-Forwarded-For:
counting from the right, so an address a client wrote into the header itself is never used.
With no proxy (0, the default outside compose) it is REMOTE_ADDR.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 (a unix socket with no proxy)
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    candidate = chain[-hops] if len(chain) >= hops else (chain[0] if chain else remote)
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
