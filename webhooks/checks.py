"""Deployment check: private webhook targets are for tests and a laptop, never production."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def private_targets_check(app_configs=None, **kwargs):
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        return []
    return [
        Warning(
            "WEBHOOKS_ALLOW_PRIVATE_TARGETS is on: tenants' event webhooks may reach loopback and private "
            "addresses (this server's own services, the internal network).",
            hint="Unset WEBHOOKS_ALLOW_PRIVATE_TARGETS; it is meant for tests and local development.",
            id="webhooks.W001",
        )
    ]
