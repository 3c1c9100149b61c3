"""The inbox: what people texted back. Thin: parse the filters, call a selector or a service, render."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from messaging import selectors, services
from messaging.models import Message
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

INBOX_PAGE_SIZE = 50
# Through the by-name foreign key (docs/architecture.md): messaging code does not import campaigns.
Campaign = Message.campaign.field.related_model


def _filters(request, source: QueryDict) -> dict:
    """The inbox filters from a query string; a campaign not of this tenant filters to nothing."""
    state = source.get("state", "unread")
    intent = source.get("intent", "all")
    campaign_id = None
    raw = source.get("campaign", "")
    if raw.isdigit():
        campaign_id = int(raw) if Campaign.objects.filter(tenant=request.tenant, pk=raw).exists() else -1
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
    """GET: the tenant's inbound texts; POST (staff and up): mark one, or all shown, read or unread."""

    post_permission = Perm.INBOX_MANAGE

    def get(self, request):
        filters = _filters(request, request.GET)
        texts = selectors.inbox(tenant=request.tenant, **filters)
        page = Paginator(texts, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
        return render(
            request,
            "messaging/inbox.html",
            {
                "page": page,
                "filters": filters,
                "query": _query(filters),
                "campaigns": Campaign.objects.filter(tenant=request.tenant).order_by("-id").only("id", "name")[:200],
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
        filters = _filters(request, request.POST)
        read = request.POST.get("read", "1") == "1"
        if request.POST.get("all") == "1":
            ids = list(selectors.inbox(tenant=request.tenant, **filters).values_list("id", flat=True)[:10_000])
        else:
            ids = [int(v) for v in request.POST.getlist("message") if v.isdigit()]
        changed = services.inbox_mark(tenant=request.tenant, actor=request.user, message_ids=ids, read=read)
        messages.success(
            request, f"Marked {changed} message{'s' if changed != 1 else ''} {'read' if read else 'unread'}."
        )
        return redirect(f"{reverse('messaging:inbox')}?{_query(filters)}")
