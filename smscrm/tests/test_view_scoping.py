"""Views scope rows through TenantScopedMixin only, so a new view cannot forget the tenant.

The security crawl (test_security_crawl.py) proves each page answers another tenant's ids with
404; this test keeps the reason one place: no view module filters by tenant or looks an object
up by hand. A view passes the tenant to a selector, or asks ``self.scoped(...)`` /
``self.get_scoped_or_404(...)`` (tenants/mixins.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings

QUERYSET_METHODS = {"filter", "exclude", "get", "get_or_create", "first", "update"}


def view_modules() -> list[Path]:
    base = Path(settings.BASE_DIR).resolve()
    paths = []
    for config in apps.get_app_configs():
        app_dir = Path(config.path).resolve()
        if app_dir.is_relative_to(base) and ".venv" not in app_dir.parts:
            paths += sorted(app_dir.glob("*views.py"))
    return paths


def hand_scoping(source: str) -> list[str]:
    """Each ``get_object_or_404(...)`` and each queryset call given a ``tenant…=`` keyword."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "get_object_or_404":
            found.append(f"line {node.lineno}: get_object_or_404")
        elif isinstance(node.func, ast.Attribute) and node.func.attr in QUERYSET_METHODS:
            for keyword in node.keywords:
                if keyword.arg and keyword.arg.split("__")[0] in ("tenant", "tenant_id"):
                    found.append(f"line {node.lineno}: .{node.func.attr}({keyword.arg}=…)")
    return sorted(found)


def test_the_check_finds_hand_written_scoping():
    source = (
        "a = get_object_or_404(Contact.objects.filter(tenant=request.tenant), pk=pk)\n"
        "b = Campaign.objects.filter(tenant_id=request.tenant.pk)\n"
        "c = selectors.contacts_for(tenant=request.tenant)\n"  # a selector takes the tenant: fine
        "d = self.get_scoped_or_404(Contact, pk=pk)\n"
    )
    assert hand_scoping(source) == [
        "line 1: .filter(tenant=…)",
        "line 1: get_object_or_404",
        "line 2: .filter(tenant_id=…)",
    ]


def test_every_app_has_its_views_checked():
    names = {f"{path.parent.name}/{path.name}" for path in view_modules()}
    assert {"contacts/views.py", "campaigns/views.py", "messaging/views.py", "reporting/views.py"} <= names
    assert {"reporting/pilot_views.py", "campaigns/template_views.py", "tenants/views.py", "links/views.py"} <= names


@pytest.mark.parametrize("path", view_modules(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_views_scope_rows_through_the_mixin(path):
    assert hand_scoping(path.read_text()) == [], (
        f"{path}: scope rows with self.scoped(Model) / self.get_scoped_or_404(Model, pk=…) (tenants/mixins.py)"
    )
