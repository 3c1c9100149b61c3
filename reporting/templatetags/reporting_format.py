"""Figures as people read them: rates as percentages, money as dollars."""

from django import template

register = template.Library()


@register.filter
def percent(value) -> str:
    """0.953 → "95.3%"; no figure → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.1f}%"


@register.filter
def cents(value) -> str:
    """Integer (or averaged) cents AUD → "$1,234.56"; no figure → "—"."""
    if value is None or value == "":
        return "—"
    return f"${float(value) / 100:,.2f}"
