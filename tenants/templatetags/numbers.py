from django import template

register = template.Library()


@register.filter
def count(value) -> str:
    """A count with thousands separators: 12345 → "12,345"; anything else unchanged."""
    if isinstance(value, bool) or value is None or value == "":
        return "" if value in (None, "") else str(value)
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)
