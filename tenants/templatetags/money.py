from django import template

register = template.Library()


@register.filter
def aud(cents) -> str:
    """Integer cents as Australian dollars: 123456 -> "$1,234.56"."""
    if cents is None or cents == "":
        return ""
    cents = int(cents)
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"
