"""A campaign's results on its own page, from the report's stored figures (reporting.views).

The campaign page and the report read the same row, so they cannot disagree ("Failed 0" on
one, 17 on the other); the card says how old the figures are, and viewing it asks for a
refresh when they are stale, as the report does. A tag, so campaigns need not import reporting.
"""

from django import template

from reporting.views import campaign_stats

register = template.Library()


@register.inclusion_tag("reporting/_campaign_results.html", takes_context=True)
def campaign_results(context, campaign):
    """``{% campaign_results campaign %}``: delivered, failed, clicks, opt-outs and replies as the report has them."""
    stored = campaign_stats(campaign)
    return {"campaign": campaign, "stored": stored, "data": stored.data, "current_tenant": context["request"].tenant}
