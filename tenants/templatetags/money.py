from django import template

from tenants.money import format_aud

register = template.Library()


@register.filter
def aud(cents) -> str:
    """Integer cents as Australian dollars: 123456 -> "$1,234.56"."""
    return format_aud(cents)
