from django import template

from contacts.models import ImportOutcome

register = template.Library()


@register.filter
def outcome_label(value: str) -> str:
    """An import row's outcome in words: "invalid_phone" → "Not a valid phone number"."""
    return ImportOutcome(value).label if value in ImportOutcome.values else value
