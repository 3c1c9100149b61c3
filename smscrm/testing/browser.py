"""Checks a browser test runs on any page: axe-core's accessibility violations and sideways scroll.

Used with Playwright's sync ``page`` (see the ``page`` fixture in conftest.py). axe-core is the
vendored copy next to this module (vendor/axe.min.js, MPL-2.0), evaluated through the DevTools
protocol: a script tag would be refused by the app's Content-Security-Policy (no inline script), and
the page must keep that policy while it is checked.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"

PHONE = {"width": 390, "height": 844}  # the phone viewport every page must fit without sideways scroll
DESKTOP = {"width": 1280, "height": 800}


def axe_violations(page) -> list[dict]:
    """axe-core's violations on the page as it is now: [{"id", "impact", "help", "targets"}], [] when clean."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [" ".join(map(str, node["target"])) for node in violation["nodes"]],
        }
        for violation in result["violations"]
    ]


def describe_violations(violations: list[dict]) -> str:
    """One line per violation, for an assertion message: id (impact): help — the elements' selectors."""
    return "\n".join(f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(v['targets'][:5])}" for v in violations)


def sideways_overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (it scrolls sideways by that much); 0 when it fits."""
    return page.evaluate(
        "Math.max(0, Math.max(document.documentElement.scrollWidth, document.body ? document.body.scrollWidth : 0)"
        " - window.innerWidth)"
    )


def widest_elements(page, limit: int = 5) -> list[str]:
    """Why a page overflows: the elements reaching furthest past the viewport's right edge, as
    "tag#id.class: right edge px" (those inside a box that scrolls or clips are left out)."""
    return page.evaluate(
        """(limit) => {
          const width = window.innerWidth, found = [];
          const clipped = (el) => {  // inside a box that scrolls or clips, it cannot widen the page
            const style = getComputedStyle(el);
            if (style.position === 'absolute' || style.position === 'fixed') return false;
            for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
              if (getComputedStyle(up).overflowX !== 'visible') return true;
            }
            return false;
          };
          for (const el of document.body.querySelectorAll('*')) {
            if (clipped(el)) continue;
            const right = el.getBoundingClientRect().right + window.scrollX;
            if (right > width + 0.5) {
              let name = el.tagName.toLowerCase();
              if (el.id) name += '#' + el.id;
              if (el.classList.length) name += '.' + [...el.classList].join('.');
              found.push([right, name]);
            }
          }
          found.sort((a, b) => b[0] - a[0]);
          return found.slice(0, limit).map(([right, name]) => `${name}: ${Math.round(right)}px`);
        }""",
        limit,
    )
