"""OpenAPI pieces: the key's security scheme, the one error body on every operation, and the
``Idempotency-Key`` header on every POST (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

ERROR_CODES = {
    "400": "The request is not valid: `fields` names each problem.",
    "401": "No API key, or one that is unknown, revoked or expired.",
    "403": "The key's role may not do this.",
    "404": "No such object in your business (another business's object answers the same).",
    "409": "The object is not in a state that allows this.",
    "422": "The Idempotency-Key was used before with another request.",
    "429": "Too many requests for this key: wait `Retry-After` seconds.",
}

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(help_text="A stable machine word, e.g. validation_error, not_found."),
        "message": serializers.CharField(help_text="What went wrong, for people."),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Problems per field name; empty when none.",
        ),
    },
)


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in ERROR_CODES.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code)
                responses[code]["description"] = description
        return responses

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Any unique string (e.g. a UUID). Retrying with the same key and body within "
                    "24 hours returns the first response and does nothing again.",
                )
            )
        return parameters


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key from Settings › API keys: `Authorization: Bearer smk_…`.",
        }
