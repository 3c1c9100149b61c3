"""Reads of the links app: click-through for a campaign."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from links.models import Click
from messaging.models import Message, MessageKind, MessageStatus
from tenants.models import Tenant


@dataclass(frozen=True)
class ClickThrough:
    raw_clicks: int  # every fetch, bots and previews included
    human_clicks: int
    human_contacts: int  # distinct contacts with at least one human click
    delivered: int

    @property
    def human_ctr(self) -> float | None:
        """Unique contacts who clicked as people ÷ messages delivered (never above 100%)."""
        if not self.delivered:
            return None
        return min(self.human_contacts, self.delivered) / self.delivered

    @property
    def human_ctr_percent(self) -> str:
        return "—" if self.human_ctr is None else f"{self.human_ctr * 100:.1f}%"


def click_through(*, tenant: Tenant, campaign_id: int) -> ClickThrough:
    """Two queries: the campaign's clicks (of this tenant only) and its delivered messages."""
    clicks = Click.objects.filter(tenant=tenant, campaign_id=campaign_id).aggregate(
        raw=Count("id"),
        human=Count("id", filter=Q(is_human=True)),
        contacts=Count("contact_id", filter=Q(is_human=True), distinct=True),
    )
    delivered = Message.objects.filter(
        tenant=tenant, campaign_id=campaign_id, kind=MessageKind.CAMPAIGN, status=MessageStatus.DELIVERED
    ).count()
    return ClickThrough(clicks["raw"], clicks["human"], clicks["contacts"], delivered)
