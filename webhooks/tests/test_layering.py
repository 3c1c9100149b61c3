"""The webhooks app sits just above tenants: the apps above call it, it imports none of them."""

from __future__ import annotations

import ast
from pathlib import Path

ABOVE = {"contacts", "messaging", "links", "campaigns", "reporting"}
APP = Path(__file__).resolve().parents[1]


def test_webhooks_imports_no_app_above_it():
    found = []
    for path in sorted(APP.glob("*.py")):  # the app's modules (its tests may use the others' fixtures)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] in ABOVE]
    assert found == []
