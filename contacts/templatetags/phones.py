from django import template

from contacts.phones import format_phone_national

register = template.Library()


@register.filter
def phone(e164: str) -> str:
    """An E.164 number the way people read it: 0412 345 678 at home, international abroad."""
    if not e164 or not e164.startswith("+"):
        return e164 or ""
    try:
        return format_phone_national(e164)
    except ValueError:  # a display helper never breaks a page
        return e164
