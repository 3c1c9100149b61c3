"""Delete a bench tenant and every row it owns, children first, with plain SQL.

One list for every bench: an ORM delete of a million rows is slow, and a list kept per bench
went stale (a new table pointing at messages broke one bench's cleanup and left its rows behind
to slow the next run). A table with a tenant_id column that is missing here fails loudly.
"""

from __future__ import annotations

IN_TENANT = {
    "campaigns_gatetally": "campaign_id IN (SELECT id FROM campaigns_campaign WHERE tenant_id = %s)",
    "campaigns_variant": "template_id IN (SELECT id FROM campaigns_template WHERE tenant_id = %s)",
    "messaging_senderdailycount": "sending_number_id IN (SELECT id FROM messaging_sendingnumber WHERE tenant_id = %s)",
    "tenants_tenant": "id = %s",
}
# Children before the rows they point at.
ORDER = (
    "webhooks_webhookdelivery",
    "webhooks_webhooksubscription",
    "tenants_idempotencyrecord",
    "links_click",
    "links_shortlink",
    "reporting_pilotrun",
    "reporting_campaignstats",
    "reporting_tenantstats",
    "campaigns_gatetally",
    "campaigns_sendjob",
    "messaging_providerevent",
    "messaging_message",
    "messaging_conversation",  # its messages point at it; it points at contacts and campaigns
    "messaging_savedreply",
    "campaigns_campaign",
    "campaigns_variant",
    "campaigns_template",
    "messaging_senderdailycount",
    "messaging_sendingnumber",
    "messaging_spend",
    "messaging_price",
    "messaging_provideraccount",
    "contacts_consentrecord",
    "contacts_donotcontact",
    "contacts_contactimport",
    "contacts_contact",
    "tenants_auditevent",  # append-only for the app; the bench tenant's own events go with it
    "tenants_invitation",
    "tenants_apikey",
    "tenants_membership",
    "tenants_tenant",
)


def tenant_purge(tenant_id: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'tenant_id'"
            " AND table_schema = current_schema()"
        )
        unknown = {row[0] for row in cursor.fetchall()} - set(ORDER)
        if unknown:
            raise RuntimeError(f"bench/cleanup.py does not know {', '.join(sorted(unknown))}: add it to ORDER")
        for table in ORDER:
            where = IN_TENANT.get(table, "tenant_id = %s")
            cursor.execute(f"DELETE FROM {table} WHERE {where}", [tenant_id])  # noqa: S608 - our own names
