"""Requests per API key (or per signed-in user) on the shared cache: ``API_THROTTLE_RATE``.
Over the rate, DRF answers 429 with ``Retry-After``."""

from rest_framework.throttling import SimpleRateThrottle


class ApiClientThrottle(SimpleRateThrottle):
    scope = "api"

    def get_cache_key(self, request, view) -> str:
        api_key = getattr(request._request, "api_key", None)
        if api_key is not None:
            ident = f"key{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
