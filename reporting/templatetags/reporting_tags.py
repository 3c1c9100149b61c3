"""Reporting's pieces for other apps' pages, so that contacts shows a timeline without importing reporting."""

from django import template

from reporting.timeline import contact_timeline as build_contact_timeline

register = template.Library()

# Rows of each source (messages, clicks, …) the contact page shows, the newest: what its
# "Messages" section showed before the timeline replaced it. Consent and do-not-contact
# histories are seldom that long, so they stay complete.
CONTACT_PAGE_LIMIT = 50
# "Show the whole history" (?history=all): an auditor's "every message you sent it".
WHOLE_HISTORY_LIMIT = 100_000


@register.inclusion_tag("reporting/_timeline.html", takes_context=True)
def contact_timeline(context, contact, limit=CONTACT_PAGE_LIMIT):
    """``{% contact_timeline contact %}``: the contact's events, oldest first, in the tenant's zone."""
    request = context["request"]
    tenant = request.tenant
    whole = request.GET.get("history") == "all"
    limit = WHOLE_HISTORY_LIMIT if whole else limit
    events = build_contact_timeline(tenant=tenant, contact=contact, limit=limit)
    return {"events": events, "truncated": events.truncated, "limit": limit, "whole": whole, "current_tenant": tenant}
