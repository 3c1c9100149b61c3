"""What the contacts app writes to the audit log: its action names (``ContactAction``) and the
record of a CSV export (``export_record``)."""

from tenants.models import Tenant
from tenants.services import audit_record


class ContactAction:
    CONTACT_CREATED = "contact.created"
    CONTACT_UPDATED = "contact.updated"
    CONTACT_DELETED = "contact.deleted"
    CONSENT_RECORDED = "consent.recorded"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    DNC_ADDED = "dnc.added"
    DNC_REMOVED = "dnc.removed"
    IMPORT_COMMITTED = "import.committed"
    IMPORT_DISCARDED = "import.discarded"
    EXPORTED = "export.downloaded"


def export_record(*, tenant: Tenant, actor, what: str) -> None:
    """Record in the audit log that ``actor`` downloaded ``what`` (every CSV export is audited,
    before its first byte leaves: contacts.downloads.csv_download)."""
    audit_record(tenant=tenant, actor=actor, action=ContactAction.EXPORTED, target=what)
