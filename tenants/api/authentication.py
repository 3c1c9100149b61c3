"""API-key authentication: ``Authorization: Bearer <key>`` (or ``Api-Key <key>``).

A valid key stands for its tenant in its role: the request gets ``tenant`` and a
``membership`` as a signed-in member's request does, so the same permission matrix and the same
tenant scoping apply. A missing key falls through to the session (the browser, CSRF on); a
key that is unknown, malformed, revoked or expired is a 401, all four alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from smscrm.logging import tenant_id as log_tenant_id
from tenants.acting import acting_api_key
from tenants.apikeys import api_key_find
from tenants.models import ApiKey, Tenant

KEYWORDS = ("bearer", "api-key")


@dataclass(frozen=True)
class KeyMembership:
    """What a key may do, in the shape views read from ``request.membership``."""

    tenant: Tenant
    role: str
    user: object
    api_key: ApiKey


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None
        keyword, _, key = header.decode("latin-1").strip().partition(" ")
        if keyword.lower() not in KEYWORDS:
            return None
        api_key = api_key_find(key.strip())
        if api_key is None:
            raise AuthenticationFailed("The API key is unknown, revoked or expired.")
        user = api_key.created_by or AnonymousUser()
        django_request = request._request
        django_request.tenant = api_key.tenant
        log_tenant_id.set(api_key.tenant_id)  # on this request's log lines (smscrm.logging)
        django_request.membership = KeyMembership(tenant=api_key.tenant, role=api_key.role, user=user, api_key=api_key)
        django_request.api_key = api_key
        acting_api_key.set(f"{api_key.name} (smk_{api_key.prefix}…)")
        return user, api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
