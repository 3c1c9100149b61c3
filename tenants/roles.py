"""The permission matrix: what each role may do. The one place views, admin and API consult.

Roles are ranked: every role may do everything the roles below it may.

    viewer  reads everything of its tenant
    staff   also imports, adds and edits contacts and their consent; drafts campaigns
    admin   also launches and pauses campaigns, manages sending numbers, the do-not-contact
            list, budgets, tenant settings and the kill switch; deletes and exports
            contacts (personal data leaving the product); reads the activity log
    owner   also manages memberships (who belongs to the tenant, in which role) and sees the
            cutover check (/settings/cutover/: the go-live checklist, with configuration details)
"""

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    STAFF = "staff", "Staff"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


RANK = {Role.VIEWER: 0, Role.STAFF: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Perm:
    """Names of the things a role may do. Use these constants, never bare strings."""

    VIEW = "view"
    CONTACTS_IMPORT = "contacts.import"
    CONTACTS_EDIT = "contacts.edit"
    CONTACTS_DELETE = "contacts.delete"
    CONTACTS_EXPORT = "contacts.export"
    CAMPAIGNS_DRAFT = "campaigns.draft"
    CAMPAIGNS_LAUNCH = "campaigns.launch"
    NUMBERS_MANAGE = "numbers.manage"
    DNC_MANAGE = "dnc.manage"
    INBOX_MANAGE = "inbox.manage"
    BUDGETS_MANAGE = "budgets.manage"
    SETTINGS_MANAGE = "settings.manage"
    KILL_SWITCH = "tenant.kill_switch"
    AUDIT_VIEW = "audit.view"
    MEMBERS_MANAGE = "members.manage"
    CUTOVER_VIEW = "cutover.view"


# The lowest role that holds each permission.
MINIMUM_ROLE: dict[str, Role] = {
    Perm.VIEW: Role.VIEWER,
    Perm.CONTACTS_IMPORT: Role.STAFF,
    Perm.CONTACTS_EDIT: Role.STAFF,
    Perm.CONTACTS_DELETE: Role.ADMIN,
    Perm.CONTACTS_EXPORT: Role.ADMIN,
    Perm.CAMPAIGNS_DRAFT: Role.STAFF,
    Perm.CAMPAIGNS_LAUNCH: Role.ADMIN,
    Perm.NUMBERS_MANAGE: Role.ADMIN,
    Perm.DNC_MANAGE: Role.ADMIN,
    Perm.INBOX_MANAGE: Role.STAFF,
    Perm.BUDGETS_MANAGE: Role.ADMIN,
    Perm.SETTINGS_MANAGE: Role.ADMIN,
    Perm.KILL_SWITCH: Role.ADMIN,
    Perm.AUDIT_VIEW: Role.ADMIN,
    Perm.MEMBERS_MANAGE: Role.OWNER,
    Perm.CUTOVER_VIEW: Role.OWNER,
}


def role_allows(role: str | None, perm: str) -> bool:
    """True when ``role`` holds ``perm``. An unknown permission is refused, never allowed."""
    if role is None or perm not in MINIMUM_ROLE:
        return False
    return RANK[Role(role)] >= RANK[MINIMUM_ROLE[perm]]


def roles_with(perm: str) -> set[str]:
    """Every role that holds ``perm`` (used by tests and the admin)."""
    return {role.value for role in Role if role_allows(role, perm)}
