"""Short domains serve short links at their root, and nothing else.

First in the stack: a request whose Host is a short domain (SHORT_DOMAIN or a tenant's own)
is answered here, before sessions, CSRF or tenancy run: ``/<token>`` redirects, anything else
is a 404 (but ``/health``, answered on every host and never asking the database for short
domains). ``/s/<token>`` on the main host is answered here too, for the same speed; the URLconf
names it as well, for reverse(). Short domains must be in ALLOWED_HOSTS.

Hosts are compared after ``tenants.hosts.normalize_host`` (``go.acme.example.`` is
``go.acme.example``), and the application's own hosts are never short domains here, whatever a
tenant row says: the application cannot be shadowed by a setting a tenant controls.
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponseNotFound

from links.services import TOKEN_PATTERN
from links.views import follow
from tenants.hosts import app_host_containing, normalize_host
from tenants.models import Tenant

logger = logging.getLogger(__name__)
ROOT_TOKEN = re.compile(rf"^/({TOKEN_PATTERN})/?$")
MAIN_TOKEN = re.compile(rf"^/s/({TOKEN_PATTERN})/?$")
HOSTS_TTL = 60.0
# Exactly these (smscrm/urls.py): a prefix would let "/healthz" on a short domain into the
# application, and a link whose token starts with "health" would never open.
HEALTH_PATHS = frozenset({"/health", "/health/live"})
_hosts: tuple[float, dict[str, int | None]] = (0.0, {})


def short_hosts() -> dict[str, int | None]:
    """{short domain: its tenant's id}, SHORT_DOMAIN → None (every tenant's), re-read once a minute."""
    global _hosts
    now = time.monotonic()
    if _hosts[0] <= now:
        ttl = HOSTS_TTL
        try:
            domains: dict[str, int | None] = {
                normalize_host(domain): tenant_id
                for domain, tenant_id in Tenant.objects.exclude(short_domain="").values_list("short_domain", "id")
            }
        except DatabaseError:
            # The database is down: every other page (and /health, which must say so) still
            # answers; tenants' own domains are looked for again in a few seconds.
            logger.warning("short domains unavailable: the database did not answer")
            domains, ttl = {}, 5.0
        if settings.SHORT_DOMAIN:
            domains[normalize_host(settings.SHORT_DOMAIN)] = None
        # Rows written before the rule, or behind its back: the application's hosts always win.
        shadowing = [domain for domain in domains if app_host_containing(domain) is not None]
        for domain in shadowing:
            logger.error("short domain %s is an application host: ignored", domain)
            del domains[domain]
        _hosts = (now + ttl, domains)
    return _hosts[1]


def hosts_forget(**_kwargs) -> None:
    global _hosts
    _hosts = (0.0, {})


class ShortLinkMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path in HEALTH_PATHS:
            # Never a short link, on any host: and with the database hanging, /health must say so
            # within a monitor's timeout rather than wait here on the short domains' lookup first.
            return self.get_response(request)
        host = normalize_host(request.META.get("HTTP_HOST", ""))
        hosts = short_hosts()
        if host and host in hosts:
            found = ROOT_TOKEN.match(path)
            if found is None:
                return HttpResponseNotFound("Not found", content_type="text/plain")
            return follow(request, found.group(1), only_tenant=hosts[host])
        found = MAIN_TOKEN.match(path)
        if found is not None:
            return follow(request, found.group(1))
        return self.get_response(request)
