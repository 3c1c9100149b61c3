"""The activity log in words: each recorded action as a phrase, its details as labelled values.

The audit log keeps machine names (``inbound.opted_out``) and raw data (``{"campaign": None}``);
people read "Opted out by text" and "How: STOP keyword". Empty details are left out, money is
shown in dollars, times in the active (the business's) zone, counts with thousands separators.
Codes nobody has worded yet still read as words ("Campaign: job decided"), never as the code.
"""

import datetime as dt
import re

from django import template
from django.utils import timezone

from tenants.money import format_aud

register = template.Library()

# Action name → what happened, as the "What" column says it.
ACTION_PHRASES = {
    "auth.login": "Signed in",
    "auth.logout": "Signed out",
    "tenant.paused": "Paused all sending (kill switch)",
    "tenant.resumed": "Resumed sending",
    "tenant.settings_changed": "Changed the settings",
    "tenant.budget_changed": "Changed the budget caps",
    "membership.added": "Added a member",
    "membership.role_changed": "Changed a member's role",
    "membership.removed": "Removed a member",
    "membership.invited": "Invited someone to join",
    "membership.invitation_revoked": "Withdrew an invitation",
    "membership.invitation_declined": "An invitation was declined",
    "contact.created": "Added a contact",
    "contact.updated": "Edited a contact",
    "contact.deleted": "Deleted a contact",
    "contact.imported": "Contact imported",
    "contact.import_updated": "Contact updated by an import",
    "consent.given": "Recorded consent",
    "consent.recorded": "Recorded consent",
    "consent.withdrawn": "Consent withdrawn",
    "dnc.added": "Added a number to the do-not-contact list",
    "dnc.removed": "Removed a number from the do-not-contact list",
    "import.committed": "Imported contacts",
    "import.discarded": "Discarded an import",
    "export.downloaded": "Downloaded an export",
    "messaging.provider_account_saved": "Saved a provider account",
    "messaging.price_saved": "Saved a price per segment",
    "messaging.sending_number_created": "Added a sending number",
    "messaging.sending_number_saved": "Changed a sending number",
    "inbound.opted_out": "Opted out by text",
    "inbound.opted_in": "Opted back in by text",
    "template.saved": "Saved a message template",
    "template.deleted": "Deleted a message template",
    "campaign.created": "Created a campaign",
    "campaign.updated": "Edited a campaign",
    "campaign.launched": "Launched a campaign",
    "campaign.paused": "Paused a campaign",
    "campaign.resumed": "Resumed a campaign",
    "campaign.cancelled": "Cancelled a campaign",
    "campaign.job_decided": "Settled a message whose sending was uncertain",
    "webhook.created": "Added a webhook",
    "webhook.deleted": "Deleted a webhook",
    "webhook.disabled": "Disabled a webhook",
    "webhook.enabled": "Enabled a webhook",
    "webhook.disabled_failing": "A webhook was disabled after failing for 24 hours",
    "webhook.sent_again": "Sent a webhook event again",
}

# Detail key → its label.
DETAIL_LABELS = {
    "campaign": "Campaign",
    "matched": "Words that matched",
    "intent": "How",
    "reason": "Reason",
    "entry_reason": "It was on the list because",
    "added": "On the list since",
    "note": "Note",
    "captured_at": "Obtained",
    "rows": "Rows",
    "email": "E-mail",
    "source": "Source",
    "name": "Name",
    "role": "Role",
    "from": "From",
    "to": "To",
    "variants": "Variants",
    "status": "Status",
    "decision": "Decision",
    "dnc": "Do-not-contact list",
    "contact": "Known contact",
    "invited_by": "Invited by",
    "accepted": "Accepted an invitation",
    "kind": "Kind",
    "provider": "Provider",
    "sender_id_status": "Sender ID registration",
    "account_sid": "Provider account",
    "active": "Active",
    "max_concurrent_requests": "Most requests at once",
    "messages_per_second": "Messages per second",
    "warmup_curve": "Warm-up daily caps",
    "daily_budget_cents": "Daily budget cap",
    "monthly_budget_cents": "Monthly budget cap",
    "suppression_days": "Suppression window (days)",
    "quiet_hours_start": "No sending from (hour)",
    "quiet_hours_end": "Sending resumes at (hour)",
    "short_domain": "Short link domain",
    "link_ttl_days": "Short link lifetime (days)",
    "opt_out_line": "Opt-out line",
    "opt_out_reply": "Opt-out confirmation",
    "opt_in_reply": "Opt-in confirmation",
    "help_reply": "HELP reply",
    "opt_out_phrases": "Opt-out phrases",
    "contact_details": "Contact details for HELP replies",
    "business_name": "Business name",
    "timezone": "Time zone",
    "subscription": "Webhook",
    "events": "Events",
    "event": "Event",
    "type": "Event type",
    "since": "Failing since",
    "error": "Last error",
    # An import's counts, by outcome.
    "create": "New contacts",
    "update": "Updated",
    "unchanged": "Already up to date",
    "duplicate": "Duplicates in the file",
    "invalid_phone": "Not a valid phone number",
    "not_mobile": "Not a mobile number",
    "missing_consent": "No consent",
}

# Coded values → words (intents, do-not-contact reasons, roles, outcomes).
VALUE_WORDS = {
    "opt_out": "STOP keyword",
    "opt_out_phrase": "a request in other words",
    "opt_in": "START keyword",
    "help": "HELP keyword",
    "stop_keyword": "replied STOP",
    "opt_out_request": "asked to stop in other words",
    "complaint": "complaint",
    "manual": "added by staff",
    "provider_opt_out": "opted out at the provider",
    "hard_bounce": "number does not exist (hard bounce)",
    "owner": "Owner",
    "admin": "Admin",
    "staff": "Staff",
    "viewer": "Viewer",
    "express": "express consent",
    "inferred": "inferred consent",
    "alpha": "alphanumeric sender ID",
    "n/a": "not applicable",
    "unregistered": "not registered",
    "lifted": "taken off",
    "kept": "kept on (not a STOP)",
    "absent": "was not on it",
}

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _words(code: str) -> str:
    text = code.replace("_", " ").replace(".", ": ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def event_phrase(action: str) -> str:
    """An audit action as a phrase: "inbound.opted_out" → "Opted out by text"."""
    if action in ACTION_PHRASES:
        return ACTION_PHRASES[action]
    return _words(action or "")


def _value(key: str, value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict) and ("from" in value or "to" in value):
        return f"{_value(key, value.get('from'))} → {_value(key, value.get('to'))}"
    if isinstance(value, list | tuple):
        return ", ".join(_value(key, item) for item in value)
    if isinstance(value, int):
        if key.endswith("_cents") or key == "cents":
            return format_aud(value)
        if key == "campaign":
            return f"#{value}"
        return f"{value:,}"
    if value is None:
        return "—"
    text = str(value)
    if _ISO_TIME.match(text):
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            return text
        if timezone.is_aware(when):
            when = timezone.localtime(when)
        return f"{when.day} {when:%b %Y %H:%M}"
    return VALUE_WORDS.get(text, text)


@register.filter
def event_details(data) -> list[tuple[str, str]]:
    """An event's data as (label, value) pairs in words; empty values (None, "", {}) are left out."""
    if not isinstance(data, dict):
        return []
    pairs = []
    for key, value in data.items():
        if value is None or value == "" or value == [] or value == {}:
            continue
        pairs.append((DETAIL_LABELS.get(key, _words(key)), _value(key, value)))
    return pairs
