"""The REST API's shared plumbing (every app's ``api.py`` builds on it):

- ``authentication``: API keys (``Authorization: Bearer …``) beside the browser's session;
- ``permissions``: the role matrix per action; ``views``: tenant scoping, idempotent create;
- ``errors``: one error body; ``idempotency``: the ``Idempotency-Key`` header;
- ``throttling``, ``pagination``, ``schema`` (OpenAPI).

The names below are loaded on first use: REST framework imports this package's modules while
it is itself still loading (its settings name them), so nothing here may import it eagerly.
"""

import importlib

_HOMES = {
    "TenantRolePermission": "tenants.api.permissions",
    "TenantScopedAPIMixin": "tenants.api.views",
    "IdempotentCreateMixin": "tenants.api.views",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(name)
