"""Short links: tokens, URLs, and creating them in bulk with a dispatcher batch."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from links.models import ShortLink
from smscrm.bulk import array_param
from tenants.models import Tenant

ALPHABET = string.ascii_letters + string.digits  # 62 characters, URL-safe
TOKEN_LENGTH = 10  # 62**10 ≈ 8e17 tokens
TOKEN_PATTERN = r"[A-Za-z0-9]{8,16}"  # noqa: S105 - a regular expression, not a secret
# A URL in a message: http(s) up to whitespace; trailing punctuation belongs to the sentence.
URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def new_token() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_LENGTH))


def short_base(tenant: Tenant) -> str:
    """Where the tenant's short links live: its own domain, SHORT_DOMAIN, else /s/ on this host."""
    domain = tenant.short_domain or settings.SHORT_DOMAIN
    return f"https://{domain}/" if domain else f"{settings.PUBLIC_BASE_URL}/s/"


def short_url(tenant: Tenant, token: str) -> str:
    return short_base(tenant) + token


def placeholder_url(tenant: Tenant) -> str:
    """A short URL of the right length, for estimates and previews (segments count it)."""
    return short_url(tenant, "x" * TOKEN_LENGTH)


def urls_in(text: str) -> list[str]:
    return [match.rstrip(_TRAILING) for match in URL.findall(text or "")]


def shorten(text: str, replace) -> str:
    """``text`` with every URL replaced by ``replace(url)`` (its short link)."""

    def sub(match: re.Match) -> str:
        whole = match.group(0)
        url = whole.rstrip(_TRAILING)
        return replace(url) + whole[len(url) :]

    return URL.sub(sub, text or "")


@dataclass
class PendingLink:
    """A link a message about to be written carries; stored with the message's id."""

    send_job_id: int
    destination: str
    token: str


class Shortener:
    """Short links for one dispatcher batch: existing ones reused, new ones minted in memory.

    ``existing`` comes from one query for the batch; ``for_job`` then costs no query, and
    ``links_record`` writes the links of the messages that go in one statement.
    """

    def __init__(self, tenant: Tenant, job_ids: Iterable[int]):
        self.tenant = tenant
        self.base = short_base(tenant)
        self.existing = {
            (job_id, destination): token
            for job_id, destination, token in ShortLink.objects.filter(send_job_id__in=list(job_ids)).values_list(
                "send_job_id", "destination", "token"
            )
        }

    def for_job(self, job_id: int, text: str) -> tuple[str, list[PendingLink]]:
        """``text`` with its URLs shortened for this job, and the links it now carries."""
        pending: dict[str, PendingLink] = {}

        def replace(url: str) -> str:
            if url.startswith(self.base):
                return url  # one of ours already
            if url not in pending:
                token = self.existing.get((job_id, url)) or new_token()
                pending[url] = PendingLink(job_id, url, token)
            return self.base + pending[url].token

        return shorten(text, replace), list(pending.values())


def links_record(*, tenant: Tenant, rows: list[tuple[PendingLink, int, int | None, int | None]], now: datetime) -> int:
    """Store (link, message id, campaign id, contact id) rows; a job's existing link only
    gets its latest message. One statement however many."""
    if not rows:
        return 0
    expires = now + timedelta(days=tenant.link_ttl_days)
    if connection.vendor != "postgresql":
        ShortLink.objects.bulk_create(
            [
                ShortLink(
                    tenant=tenant,
                    token=link.token,
                    destination=link.destination,
                    send_job_id=link.send_job_id,
                    campaign_id=campaign_id,
                    contact_id=contact_id,
                    message_id=message_id,
                    created_at=now,
                    expires_at=expires,
                )
                for link, message_id, campaign_id, contact_id in rows
            ],
            update_conflicts=True,
            unique_fields=["send_job_id", "destination"],
            update_fields=["message"],
            batch_size=1000,
        )
        return len(rows)
    # On the hand-off path, for every message that carries a link: arrays and unnest, not
    # a model instance and a dozen placeholders per row.
    table = ShortLink._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" (tenant_id, token, destination, send_job_id, campaign_id, contact_id, '  # noqa: S608
            "message_id, created_at, expires_at) "
            "SELECT %s, t, d, j, c, p, m, %s, %s FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::bigint[], "
            "%s::bigint[], %s::bigint[]) AS v(t, d, j, c, p, m) "
            "ON CONFLICT (send_job_id, destination) DO UPDATE SET message_id = EXCLUDED.message_id",
            [
                tenant.id,
                now,
                expires,
                [link.token for link, *_ in rows],
                [link.destination for link, *_ in rows],
                array_param("bigint", [link.send_job_id for link, *_ in rows]),
                array_param("bigint", [campaign_id for _, _, campaign_id, _ in rows]),
                array_param("bigint", [contact_id for *_, contact_id in rows]),
                array_param("bigint", [message_id for _, message_id, *_ in rows]),
            ],
        )
    return len(rows)
