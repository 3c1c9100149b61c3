"""Figures as people read them: rates as percentages, money as dollars."""

from django import template
from django.utils import timezone

from campaigns.models import Gate
from links.models import ClickReason
from messaging.models import MessageStatus

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


@register.filter
def age(value) -> str:
    """How long ago a stored figure was computed: "less than a minute ago", "3 min ago"."""
    seconds = max(0, int((timezone.now() - value).total_seconds()))
    if seconds < 60:
        return "less than a minute ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    days = seconds // 86400
    return f"{days} day{'s' if days > 1 else ''} ago"


@register.filter
def as_of(value) -> str:
    """A stored figure's time and age, in the active zone (the tenant's, inside
    ``{% timezone %}``): "as of 16:05 (3 min ago)"; another day: "as of 4 Dec 16:05 (1 day ago)"."""
    if not value:
        return "not computed yet"
    local, today = timezone.localtime(value), timezone.localdate()
    when = local.strftime("%H:%M") if local.date() == today else f"{local.day} {local:%b %H:%M}"
    return f"as of {when} ({age(value)})"


@register.filter
def click_reason(value) -> str:
    """Why a fetch was not counted as a person, in words: "link_preview" → "Link preview"."""
    return ClickReason(value).label if value in ClickReason.values else value


@register.filter
def gate_label(value: str) -> str:
    """A gate's code as its name: "budget" → "2. Budget"."""
    return Gate(value).label if value in Gate.values else value


@register.filter
def message_status(value: str) -> str:
    """A message status code as a word: "undelivered" → "Undelivered"."""
    return MessageStatus(value).label if value in MessageStatus.values else value
