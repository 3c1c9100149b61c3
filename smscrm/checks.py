"""Deployment checks (``manage.py check --deploy``) for the hosts the application answers on."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.utils.http import is_same_domain

from tenants.hosts import normalize_host


@register(Tags.security, deploy=True)
def app_hosts_check(app_configs=None, **kwargs):
    warnings = []
    public = normalize_host(urlsplit(settings.PUBLIC_BASE_URL).netloc)
    allowed = [normalize_host(host) if not host.startswith(".") else host for host in settings.ALLOWED_HOSTS]
    if "*" not in allowed and not any(is_same_domain(public, pattern) for pattern in allowed):
        warnings.append(
            Warning(
                f"PUBLIC_BASE_URL's host ({public}) is not in ALLOWED_HOSTS: sign-in links and webhook URLs would "
                "point at a host this application refuses.",
                hint="Set PUBLIC_BASE_URL to the address people and Twilio reach the application at.",
                id="smscrm.W001",
            )
        )
    known = {public, normalize_host(settings.SHORT_DOMAIN), *(normalize_host(h) for h in settings.APP_HOSTS)}
    others = sorted(host for host in allowed if host not in known and host != "*")
    if others and not settings.APP_HOSTS:
        warnings.append(
            Warning(
                f"ALLOWED_HOSTS also lists {', '.join(others)}, and APP_HOSTS is empty: a tenant could claim one of "
                "them as its short domain.",
                hint="List in APP_HOSTS every other host the application's pages are served on (tenants' own "
                "short domains need not be listed).",
                id="smscrm.W002",
            )
        )
    return warnings
