"""The REST API's settings (docs/api.md), imported by smscrm/settings.py: keys or the session, the
role matrix, one error body, a rate per key, and the OpenAPI document's description."""

import environ

env = environ.Env()

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.permissions.TenantRolePermission"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.IdCursorPagination",
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.throttling.ApiClientThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": env.str("API_THROTTLE_RATE", default="600/min")},
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [f"tenants.api.parsers.NulRefusing{kind}Parser" for kind in ("JSON", "MultiPart")],
    "DEFAULT_METADATA_CLASS": None,  # OPTIONS is a 405 (metadata would build a route's object)
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SMS CRM API",
    "DESCRIPTION": "One business's contacts, consent, do-not-contact list, imports, campaigns and messages.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Deep links put a link inside each operation's expand button (nested controls, which a screen
    # reader cannot reach); the docs page goes without them. The default highlight theme (agate)
    # has colours under 4.5:1 on its background; obsidian has none.
    "SWAGGER_UI_SETTINGS": {"deepLinking": False, "syntaxHighlight": {"theme": "obsidian"}},
    "ENUM_NAME_OVERRIDES": {  # choice sets that share a field name each get their own name
        "ConsentKindEnum": "contacts.models.ConsentKind",
        "ImportStatusEnum": "contacts.models.ContactImport.Status",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "MessageKindEnum": "messaging.models.MessageKind",
        "MessageStatusEnum": "messaging.models.MessageStatus",
    },
}
