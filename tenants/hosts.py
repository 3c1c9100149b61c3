"""Host names: how they are compared, and which ones belong to the application itself.

A request's Host header, a tenant's short domain and the hosts in settings are compared only
after ``normalize_host``: lower case, no port, no trailing dot (``go.acme.example.`` is the same
host as ``go.acme.example``; DNS and browsers accept both, and Django's ALLOWED_HOSTS check
strips the dot too).

The application's own hosts (``app_hosts``) are the host of PUBLIC_BASE_URL and every entry of
APP_HOSTS. No tenant's short domain may equal one of them or fall under one (a tenant who set
the application's host as its short domain would turn every page, the sign-in and the provider
webhooks into short-link 404s for everybody), and the short-link middleware never treats one of
them as a short domain, whatever the database says.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings


def normalize_host(value: str) -> str:
    """``Go.Acme.Example.:8443`` → ``go.acme.example``; an IPv6 literal keeps its brackets."""
    host = (value or "").strip().lower()
    if host.startswith("["):  # [::1]:8000
        end = host.find("]")
        return host[: end + 1] if end != -1 else host
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return host.rstrip(".")


def app_hosts() -> frozenset[str]:
    """The hosts the application itself answers on (never a short domain)."""
    hosts = {normalize_host(urlsplit(settings.PUBLIC_BASE_URL).netloc)}
    hosts.update(normalize_host(host) for host in settings.APP_HOSTS)
    hosts.discard("")
    return frozenset(hosts)


def is_within(host: str, parent: str) -> bool:
    """True when ``host`` is ``parent`` or a name under it (``a.b.example`` is within ``b.example``)."""
    return host == parent or host.endswith("." + parent)


def app_host_containing(host: str) -> str | None:
    """The application host that ``host`` equals or falls under, else None."""
    host = normalize_host(host)
    return next((app for app in sorted(app_hosts()) if is_within(host, app)), None)
