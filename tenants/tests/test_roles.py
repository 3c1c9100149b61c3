import pytest

from tenants.roles import MINIMUM_ROLE, Perm, Role, role_allows, roles_with


@pytest.mark.parametrize(
    ("perm", "roles"),
    [
        (Perm.VIEW, {"viewer", "staff", "admin", "owner"}),
        (Perm.CONTACTS_IMPORT, {"staff", "admin", "owner"}),
        (Perm.CAMPAIGNS_DRAFT, {"staff", "admin", "owner"}),
        (Perm.CONTACTS_EDIT, {"staff", "admin", "owner"}),
        (Perm.CONTACTS_DELETE, {"admin", "owner"}),
        (Perm.CONTACTS_EXPORT, {"admin", "owner"}),
        (Perm.CAMPAIGNS_LAUNCH, {"admin", "owner"}),
        (Perm.NUMBERS_MANAGE, {"admin", "owner"}),
        (Perm.DNC_MANAGE, {"admin", "owner"}),
        (Perm.BUDGETS_MANAGE, {"admin", "owner"}),
        (Perm.KILL_SWITCH, {"admin", "owner"}),
        (Perm.AUDIT_VIEW, {"admin", "owner"}),
        (Perm.MEMBERS_MANAGE, {"owner"}),
        (Perm.CUTOVER_VIEW, {"owner"}),
    ],
)
def test_matrix_matches_the_product_rules(perm, roles):
    assert roles_with(perm) == roles


def test_unknown_permission_and_missing_role_are_refused():
    assert not role_allows(Role.OWNER, "launch.nukes")
    assert not role_allows(None, Perm.VIEW)


def test_every_permission_constant_is_in_the_matrix():
    constants = {value for name, value in vars(Perm).items() if name.isupper()}
    assert constants == set(MINIMUM_ROLE)
