"""The cutover check: the go-live checklist, each item judged PASS, FAIL or TO DO with its evidence.

Used by ``manage.py cutover_check --tenant SLUG`` and the owners' page /settings/cutover/. Each
item is a small function ``check(tenant) -> Result``; ``run(tenant)`` runs them all in order and
never raises: a check that crashes is a FAIL naming the exception (its class and first line).

What the statuses mean:

- PASS: done and verified, with the evidence.
- FAIL: something is wrong or broken that must be fixed before going live (credentials
  refused, a webhook pointing elsewhere, a domain not resolving to us, a backup older than a day,
  a failing health check). The command exits 1 while any item is FAIL.
- TO DO: a step not taken yet, nothing wrong so far (no test campaign yet, no backup directory
  configured yet). ``--strict`` fails on these too.

The checks that ask the outside world (smscrm.cutover.outside) use short timeouts and turn any
error into a FAIL with its cause, never a secret.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from smscrm.health import describe_error
from tenants.models import Tenant

logger = logging.getLogger(__name__)

PASS = "PASS"  # noqa: S105 (a status, not a password)
FAIL = "FAIL"
TODO = "TO DO"


@dataclass(frozen=True)
class Result:
    """What one check found: the status, the evidence, and (unless PASS) what to do next."""

    status: str
    evidence: str
    next: str = ""


@dataclass(frozen=True)
class Item:
    """One checklist item as reported: the result with its key and title."""

    key: str
    title: str
    status: str
    evidence: str
    next: str

    def as_dict(self) -> dict:
        return asdict(self)


def items() -> list[tuple[str, str, Callable[[Tenant], Result]]]:
    """(key, title, check) of every item, in the order a person works through them."""
    from smscrm.cutover import operations, outside, records

    return [
        ("migrations", "Migrations applied", records.migrations),
        ("seed_data", "Seed data: tenant, owner or admin, a template", records.seed_data),
        ("provider_credentials", "Provider credentials valid", outside.provider_credentials),
        ("inbound_webhooks", "Sending numbers' inbound webhook points at us", outside.inbound_webhooks),
        ("status_callback", "Status callback URL reachable", outside.status_callback),
        ("short_domain", "Short-link domain set, allowed and resolving to us", outside.short_domain),
        ("sending_number", "A sending number active (ACMA-registered if alphanumeric)", records.sending_number),
        ("budgets", "Daily and monthly budgets set", records.budgets),
        ("test_import", "A test import of at least 10 contacts with consent", records.test_import),
        ("test_campaign", "A test campaign sent, with a delivery receipt", records.test_campaign),
        ("stop_to_dnc", "A STOP processed into the do-not-contact list", records.stop_to_dnc),
        ("human_click", "A human click recorded", records.human_click),
        ("backup", "A backup taken within 24 hours", operations.backup),
        ("restore_drill", "A restore drill recorded", operations.restore_drill),
        ("health", "Health checks passing", operations.health),
    ]


def run(tenant: Tenant) -> list[Item]:
    """Every item's result for ``tenant``, in checklist order. Never raises."""
    found = []
    for key, title, check in items():
        try:
            result = check(tenant)
        except Exception as exc:  # one broken check must not hide the others' answers
            logger.exception("cutover check %s failed", key)
            result = Result(
                FAIL, f"the check itself failed: {describe_error(exc)}", "Look at the logs, then run it again."
            )
        found.append(Item(key=key, title=title, status=result.status, evidence=result.evidence, next=result.next))
    return found


def failing(found: list[Item], *, strict: bool = False) -> list[Item]:
    """The items that stop go-live: FAILs, and with ``strict`` the TO DOs as well."""
    bad = {FAIL, TODO} if strict else {FAIL}
    return [item for item in found if item.status in bad]
