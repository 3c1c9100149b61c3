"""The inbox: what people texted back. Thin: parse the filters, call a selector or a service, render."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from messaging import selectors, services
from smscrm.edge import db_id
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

INBOX_PAGE_SIZE = 50
# Campaigns offered in the filter (the newest; a campaign filtered on is always offered too).
CAMPAIGNS_OFFERED = 200


def _filters(view: TenantScopedMixin, source: QueryDict) -> dict:
    """The inbox filters from a query string; a campaign not of this tenant filters to nothing."""
    state = source.get("state", "unread")
    intent = source.get("intent", "all")
    campaign_id = db_id(source.get("campaign"))
    if campaign_id is not None and not selectors.inbox_campaign_known(
        tenant=view.request.tenant, campaign_id=campaign_id
    ):
        campaign_id = -1  # never another tenant's texts, never a hint that the campaign exists
    return {
        "state": state if state in selectors.INBOX_STATES else "unread",
        "intent": intent if intent in selectors.INBOX_INTENTS else "all",
        "campaign_id": campaign_id,
    }


def _query(filters: dict) -> str:
    query = QueryDict(mutable=True)
    query.update({"state": filters["state"], "intent": filters["intent"]})
    if filters["campaign_id"] is not None:
        query["campaign"] = str(filters["campaign_id"])
    return query.urlencode()


class InboxView(TenantScopedMixin, View):
    """GET: the tenant's inbound texts, newest first, filtered by read state, campaign and kind.

    POST (staff and up): mark one text, or every text shown on the page, read or unread. "All
    shown" is the ids the page listed, re-checked against the filters: a text that arrived
    after the page was drawn, or sits on another page, is never marked read unseen.
    """

    post_permission = Perm.INBOX_MANAGE

    def get(self, request):
        filters = _filters(self, request.GET)
        texts = selectors.inbox(tenant=request.tenant, **filters)
        page = Paginator(texts, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
        return render(
            request,
            "messaging/inbox.html",
            {
                "page": page,
                "unread_shown": [text.pk for text in page.object_list if text.read_at is None],
                "filters": filters,
                "query": _query(filters),
                "campaigns": selectors.inbox_campaigns(
                    tenant=request.tenant, selected=filters["campaign_id"], limit=CAMPAIGNS_OFFERED
                ),
                "states": [("unread", "Unread"), ("read", "Read"), ("all", "All")],
                "intents": [
                    ("all", "Everything"),
                    ("opt_outs", "Opt-outs"),
                    ("flagged", "Opt-outs in other words"),
                    ("replies", "Replies"),
                ],  # fmt: skip
            },
        )

    def post(self, request):
        filters = _filters(self, request.POST)
        read = request.POST.get("read", "1") == "1"
        ids = [i for i in map(db_id, request.POST.getlist("message")[:INBOX_PAGE_SIZE]) if i is not None]
        if request.POST.get("all") == "1":  # the rows the page showed, as far as they still match its filters
            shown = selectors.inbox(tenant=request.tenant, **filters).filter(pk__in=ids)
            ids = list(shown.values_list("id", flat=True))
        changed = services.inbox_mark(tenant=request.tenant, actor=request.user, message_ids=ids, read=read)
        messages.success(
            request, f"Marked {changed} message{'s' if changed != 1 else ''} {'read' if read else 'unread'}."
        )
        # Back to the page the action came from (clamped to the last page if it shrank).
        page = db_id(request.POST.get("page"))
        return redirect(f"{reverse('messaging:texts')}?{_query(filters)}" + (f"&page={page}" if page else ""))
