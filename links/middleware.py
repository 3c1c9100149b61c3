"""Short domains serve short links at their root, and nothing else.

First in the stack: a request whose Host is a short domain (SHORT_DOMAIN or a tenant's own)
is answered here, before sessions, CSRF or tenancy run: ``/<token>`` redirects, anything else
is a 404. ``/s/<token>`` on the main host is answered here too, for the same speed; the URLconf
names it as well, for reverse(). Short domains must be in ALLOWED_HOSTS.
"""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.http import HttpResponseNotFound

from links.services import TOKEN_PATTERN
from links.views import follow
from tenants.models import Tenant

ROOT_TOKEN = re.compile(rf"^/({TOKEN_PATTERN})/?$")
MAIN_TOKEN = re.compile(rf"^/s/({TOKEN_PATTERN})/?$")
HOSTS_TTL = 60.0
_hosts: tuple[float, frozenset[str]] = (0.0, frozenset())


def short_hosts() -> frozenset[str]:
    """SHORT_DOMAIN and every tenant's short domain, re-read once a minute."""
    global _hosts
    now = time.monotonic()
    if _hosts[0] <= now:
        domains = set(Tenant.objects.exclude(short_domain="").values_list("short_domain", flat=True))
        if settings.SHORT_DOMAIN:
            domains.add(settings.SHORT_DOMAIN)
        _hosts = (now + HOSTS_TTL, frozenset(domains))
    return _hosts[1]


def hosts_forget(**_kwargs) -> None:
    global _hosts
    _hosts = (0.0, frozenset())


class ShortLinkMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        host = request.META.get("HTTP_HOST", "").split(":")[0].lower()
        if host and host in short_hosts():
            found = ROOT_TOKEN.match(path)
            if found is None:
                return HttpResponseNotFound("Not found", content_type="text/plain")
            return follow(request, found.group(1), host=host)
        found = MAIN_TOKEN.match(path)
        if found is not None:
            return follow(request, found.group(1))
        return self.get_response(request)
