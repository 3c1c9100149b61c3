"""The client's address, the same way for every rate limit and every click.

Behind TRUSTED_PROXY_COUNT proxies (compose expects one TLS-terminating proxy in front of the
web container), the client is the address those proxies appended last to X-Forwarded-For:
counting from the right, so an address a client wrote into the header itself is never used.
With no proxy (0, the default outside compose) it is REMOTE_ADDR.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def _address(value: str) -> str | None:
    """An address from "203.0.113.7", "203.0.113.7:5123", "[2001:db8::1]:443" or "2001:db8::1"."""
    value = value.strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"  # noqa: S104 (a unix socket with no proxy)
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if hops <= 0 or not forwarded:
        return remote
    chain = [part.strip() for part in forwarded.split(",") if part.strip()]
    candidate = chain[-hops] if len(chain) >= hops else (chain[0] if chain else remote)
    return _address(candidate) or remote


def client_network(request) -> str:
    """The client's address for counting: an IPv6 client's /64 (one home, one phone), as
    django-ratelimit counts them; an IPv4 address as it is."""
    address = client_ip(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address)
    return address
