"""The main menu: which entry the page being shown belongs to, for ``aria-current``.

``{% nav_current "contacts:list" %}`` inside a menu link gives ` aria-current="page"` when that link
is the page shown, ` aria-current="true"` when the page shown lies under that entry (a contact's
page under Contacts), and nothing otherwise. Decided from ``request.resolver_match``.
"""

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import mark_safe

register = template.Library()

# Pages whose menu entry is not simply their own name (the rest of a namespace goes to its list).
_ENTRY_BY_PREFIX = (
    ("contacts:import", "contacts:imports"),
    ("contacts:dnc", "contacts:dnc"),
    ("contacts:", "contacts:list"),
    ("campaigns:", "campaigns:list"),
    ("reporting:campaign_", "campaigns:list"),
    ("reporting:pilot", "reporting:pilot_check"),
    ("tenants:member", "tenants:members"),
    ("tenants:invitation_revoke", "tenants:members"),
    ("webhooks:", "tenants:settings"),
    ("cutover", "tenants:settings"),
)


def menu_entry(view_name: str) -> str:
    """The menu entry (a URL name) a page of ``view_name`` is found under."""
    for prefix, entry in _ENTRY_BY_PREFIX:
        if view_name.startswith(prefix):
            return entry
    return view_name


@register.simple_tag(takes_context=True)
def nav_current(context, entry: str) -> str:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    if match is None or not match.view_name:
        return ""
    try:
        entry_path = reverse(entry)
    except NoReverseMatch:
        return ""
    if request.path == entry_path:
        return mark_safe(' aria-current="page"')
    if menu_entry(match.view_name) == entry:
        return mark_safe(' aria-current="true"')
    return ""
