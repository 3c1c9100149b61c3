"""Who is acting beyond the signed-in person: the API key a request uses, as "Name (smk_prefix…)".

Set by the API's authentication and cleared when the request ends (``tenants.middleware``), so
``audit_record`` can name the key on every event the request writes, including those written by
tasks it runs eagerly.
"""

from contextvars import ContextVar

acting_api_key: ContextVar[str | None] = ContextVar("acting_api_key", default=None)
