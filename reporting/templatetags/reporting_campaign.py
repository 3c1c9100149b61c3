"""A campaign's results on its own page, from the report's stored figures (reporting.models).

The campaign page and the report read the same row, so they cannot disagree ("Failed 0" on
one, 17 on the other). The card only reads: it says how old the figures are, or that none are
computed yet, and never computes or asks for a refresh while the page renders. Beat's sweep
(``reporting.refresh_stats``, 30 s) refreshes a campaign's figures while it moves and for a
day after it ends; the report page computes them when stale. A tag, so campaigns need not
import reporting.
"""

from django import template

from reporting.models import CampaignStats

register = template.Library()


@register.inclusion_tag("reporting/_campaign_results.html", takes_context=True)
def campaign_results(context, campaign):
    """``{% campaign_results campaign %}``: delivered, failed, clicks, opt-outs and replies as the report has them."""
    stored = CampaignStats.objects.filter(campaign=campaign).first()
    return {
        "campaign": campaign,
        "stored": stored,
        "data": stored.data if stored else None,
        "current_tenant": context["request"].tenant,
    }
