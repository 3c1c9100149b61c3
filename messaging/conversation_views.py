"""The conversation pages (issue 19): the list, one thread, its actions, and saved replies.

Thin: parse the input, call a selector of messaging.conversation_selectors or a service of
messaging.conversations, render. Every rule a reply must pass lives in ``conversation_reply``;
a refusal comes back as its sentence under the reply box, with the typed text kept.

Reading a thread writes nothing: the old inbox marked texts read only on an explicit POST
("Mark read"), never on GET, and pages keep that (a GET that writes would be redone by every
poll, prefetch and crawler). Answering is reading (the service clears the unread count), and
"Mark as read" does it without answering.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from messaging import conversation_selectors as selectors
from messaging import conversations
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from messaging.conversation_models import SavedReply
from messaging.models import Message, MessageStatus
from messaging.segments import segment_info
from smscrm.edge import db_id
from tenants.mixins import TenantScopedMixin
from tenants.models import Membership
from tenants.roles import Perm

#: The list's "Show" choices: (value, label).
SHOWS = [
    ("all", "All"),
    ("unread", "Unread"),
    ("needs_reply", "Needs reply"),
    ("opted_out", "Opted out"),
    ("mine", "Assigned to me"),
]
#: Seconds between two polls of an open thread (static/js/live-refresh.js).
THREAD_REFRESH_SECONDS = 5
CAMPAIGNS_OFFERED = 200
PAGE_SIZE = selectors.PAGE


def thread_url(phone: str) -> str:
    """The thread page of ``phone`` (/inbox/+61412345678/: reverse() percent-encodes what a path
    cannot hold; "+" may stand in a path, and "%2B" is read back the same)."""
    return reverse("messaging:thread", args=[phone])


def _list_filters(request) -> tuple[dict, selectors.ConversationFilters]:
    """The list's filters from the query string (what the form shows, and the selector's)."""
    show = request.GET.get("show", "all")
    show = show if show in dict(SHOWS) else "all"
    search = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    campaign_id = db_id(request.GET.get("campaign"))
    if campaign_id is not None and not messaging_selectors.inbox_campaign_known(
        tenant=request.tenant, campaign_id=campaign_id
    ):
        campaign_id = -1  # another tenant's campaign filters to nothing, and says nothing of it
    shown = {"show": show, "q": search, "campaign_id": campaign_id}
    return shown, selectors.ConversationFilters(
        unread=show == "unread",
        needs_reply=show == "needs_reply",
        opted_out=show == "opted_out",
        assigned_to=request.user.pk if show == "mine" else None,
        campaign_id=campaign_id,
        search=search,
    )


class ConversationListView(TenantScopedMixin, View):
    """GET: one row per thread, newest activity first, in keyset pages ("Next" carries the cursor)."""

    def get(self, request):
        shown, filters = _list_filters(request)
        try:
            page = selectors.conversations_for(
                tenant=request.tenant, filters=filters, after=request.GET.get("after"), limit=PAGE_SIZE
            )
        except ValidationError:  # a cursor someone edited: the first page
            page = selectors.conversations_for(tenant=request.tenant, filters=filters, limit=PAGE_SIZE)
        query = QueryDict(mutable=True)
        query.update({key: value for key, value in (("show", shown["show"]), ("q", shown["q"])) if value})
        if shown["campaign_id"] is not None:
            query["campaign"] = str(shown["campaign_id"])
        if page.after:
            query["after"] = page.after
        rows = [(thread, thread_url(thread.phone_e164)) for thread in page.items]
        return render(
            request,
            "messaging/conversations.html",
            {
                "rows": rows,
                "next_query": query.urlencode() if page.after else "",
                "first_page": bool(request.GET.get("after")),
                "filters": shown,
                "shows": SHOWS,
                "campaigns": messaging_selectors.inbox_campaigns(
                    tenant=request.tenant, selected=shown["campaign_id"], limit=CAMPAIGNS_OFFERED
                ),
            },
        )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label="Your reply", max_length=conversations.MAX_BODY, strip=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    token = forms.CharField(widget=forms.HiddenInput, max_length=64)


_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*(?:\|([^{}]*))?\}\}|\{([a-z_]+)\}")


def saved_reply_filled(body: str, values: dict[str, str]) -> str:
    """A saved reply with its placeholders ({{ first_name|there }} as in templates, or {first_name})
    filled for the thread; an unknown name is left as written, for the person to see and fix.

    campaigns.rendering cannot be imported here (apps depend downward); only the contact's own
    fields are offered, so this is the small subset a snippet needs."""

    def fill(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        if name not in values:
            return match.group(0)
        return values[name].strip() or (match.group(2) or "").strip()

    return _PLACEHOLDER.sub(fill, body)


def _values(request, conversation) -> dict[str, str]:
    contact = conversation.contact
    return {
        "first_name": contact.first_name if contact else "",
        "last_name": contact.last_name if contact else "",
        "business_name": request.tenant.business_name or request.tenant.name,
    }


def _price(request, conversation) -> int | None:
    """Cents per segment of a reply to this number (None: no sender or no price: the service says why)."""
    sender = conversations.reply_sender(
        tenant=request.tenant, number=conversation.phone_e164, contact=conversation.contact
    )
    if sender is None:
        return None
    day, _month = messaging_services.local_periods(request.tenant, timezone.now())
    prices = messaging_selectors.prices_on(tenant=request.tenant, day=day)
    return prices.get((sender.account.provider, messaging_selectors.country_of(conversation.phone_e164)))


class ThreadView(TenantScopedMixin, View):
    """GET: the thread, every message both ways; POST (staff and up): reply through
    ``conversation_reply``, with the form's idempotency token (a double click sends one)."""

    post_permission = Perm.INBOX_MANAGE

    def _thread(self, phone: str):
        thread = selectors.conversation_thread(tenant=self.request.tenant, phone=unquote(phone))
        if thread is None:
            raise Http404("No such conversation.")  # never the number: it may be another tenant's
        return thread

    def _render(self, request, thread, form=None, status=200):
        conversation = thread.conversation
        form = form or ReplyForm(initial={"token": uuid.uuid4().hex, "body": self._inserted(request, conversation)})
        body = form["body"].value() or ""
        info = segment_info(body)
        price = _price(request, conversation)
        saved = list(selectors.saved_replies_for(tenant=request.tenant))
        values = _values(request, conversation)
        return render(
            request,
            "messaging/thread.html",
            {
                "thread": thread,
                "conversation": conversation,
                "form": form,
                "info": info,
                "price": price,
                "cost": info.segments * price if price is not None and body else 0,
                "saved_replies": [(reply, saved_reply_filled(reply.body, values)) for reply in saved],
                "members": self.scoped(Membership).select_related("user").order_by("user__email"),
                "refresh_seconds": THREAD_REFRESH_SECONDS,
                "action_url": reverse("messaging:thread_action", args=[conversation.phone_e164]),
                "scheduled": MessageStatus.SCHEDULED,
            },
            status=status,
        )

    def _inserted(self, request, conversation) -> str:
        """A saved reply chosen without JavaScript (?saved=<id>): the reply box starts with it."""
        pk = db_id(request.GET.get("saved"))
        if pk is None:
            return ""
        reply = selectors.saved_replies_for(tenant=request.tenant).filter(pk=pk).first()
        return saved_reply_filled(reply.body, _values(request, conversation)) if reply else ""

    def get(self, request, phone):
        return self._render(request, self._thread(phone))

    def post(self, request, phone):
        thread = self._thread(phone)
        form = ReplyForm(request.POST)
        if form.is_valid():
            try:
                message = conversations.conversation_reply(
                    tenant=request.tenant,
                    phone=thread.conversation.phone_e164,
                    body=form.cleaned_data["body"],
                    actor=request.user,
                    idempotency_token=f"page:{request.tenant.pk}:{form.cleaned_data['token']}",
                )
            except ValidationError as error:
                form.add_error("body", " ".join(error.messages))
            else:
                scheduled = message.status == MessageStatus.SCHEDULED
                messages.success(request, "Reply scheduled for the end of quiet hours." if scheduled else "Reply sent.")
                return redirect(thread_url(thread.conversation.phone_e164))
        return self._render(request, thread, form=form, status=400)


class ThreadActionView(TenantScopedMixin, View):
    """POST (staff and up): mark read or unread, assign, close or reopen the thread, or cancel a
    scheduled reply of it; then back to the thread. Each through its service."""

    permission = Perm.INBOX_MANAGE
    ACTIONS = ("read", "unread", "assign", "close", "reopen", "cancel")

    def post(self, request, phone):
        conversation = selectors.conversation_for(tenant=request.tenant, phone=unquote(phone))
        if conversation is None:
            raise Http404("No such conversation.")
        action = request.POST.get("action")
        if action not in self.ACTIONS:
            messages.error(request, "Choose what to do with the conversation.")
            return redirect(thread_url(conversation.phone_e164))
        try:
            done = self._do(request, conversation, action)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, done)
        return redirect(thread_url(conversation.phone_e164))

    def _do(self, request, conversation, action: str) -> str:
        actor = request.user
        if action == "read":
            conversations.conversation_mark_read(conversation=conversation, actor=actor)
            return "Marked read."
        if action == "unread":
            conversations.conversation_mark_unread(conversation=conversation, actor=actor)
            return "Marked unread."
        if action == "close":
            conversations.conversation_close(conversation=conversation, actor=actor)
            return "Conversation closed."
        if action == "reopen":
            conversations.conversation_reopen(conversation=conversation, actor=actor)
            return "Conversation reopened."
        if action == "cancel":
            message = self.get_scoped_or_404(
                Message.objects.filter(conversation=conversation), pk=db_id(request.POST.get("message")) or 0
            )
            conversations.conversation_reply_cancel(message=message, actor=actor)
            return "Scheduled reply cancelled: nothing was sent."
        member = db_id(request.POST.get("assignee"))
        membership = self.scoped(Membership).filter(user_id=member).select_related("user").first() if member else None
        if member and membership is None:
            raise ValidationError("Assign the conversation to a member of this business.")
        assignee = membership.user if membership else None
        conversations.conversation_assign(conversation=conversation, assignee=assignee, actor=actor)
        return f"Assigned to {assignee.email}." if assignee else "Assigned to nobody."


class SavedReplyForm(forms.ModelForm):
    class Meta:
        model = SavedReply
        fields = ["name", "body"]
        help_texts = {"body": "Placeholders {{ first_name }}, {{ last_name }} and {{ business_name }} are filled in."}


class SavedReplyListView(TenantScopedMixin, View):
    """GET: the tenant's saved replies (everyone uses them); POST (admins): add one."""

    post_permission = Perm.SETTINGS_MANAGE

    def _render(self, request, form=None, status=200):
        return render(
            request,
            "messaging/saved_replies.html",
            {"replies": selectors.saved_replies_for(tenant=request.tenant), "form": form or SavedReplyForm()},
            status=status,
        )

    def get(self, request):
        return self._render(request)

    def post(self, request):
        form = SavedReplyForm(request.POST, instance=SavedReply(tenant=request.tenant))
        if _saved(request, form):
            messages.success(request, f"Saved reply “{form.instance.name}” added.")
            return redirect("messaging:saved_replies")
        return self._render(request, form, status=400)


def _saved(request, form: SavedReplyForm) -> bool:
    """Save through the service; its refusal (a name in use, ...) becomes the form's errors."""
    if not form.is_valid():
        return False
    try:
        conversations.saved_reply_save(saved_reply=form.instance, actor=request.user)
    except ValidationError as error:
        form.add_error(None, error)
        return False
    return True


class SavedReplyEditView(TenantScopedMixin, View):
    """GET/POST (admins): change a saved reply; POST with ``delete``: remove it."""

    permission = Perm.SETTINGS_MANAGE

    def get(self, request, pk):
        reply = self.get_scoped_or_404(SavedReply, pk=pk)
        return render(request, "messaging/saved_reply_form.html", {"form": SavedReplyForm(instance=reply)})

    def post(self, request, pk):
        reply = self.get_scoped_or_404(SavedReply, pk=pk)
        if request.POST.get("delete"):
            conversations.saved_reply_delete(saved_reply=reply, actor=request.user)
            messages.success(request, f"Saved reply “{reply.name}” deleted.")
            return redirect("messaging:saved_replies")
        form = SavedReplyForm(request.POST, instance=reply)
        if _saved(request, form):
            messages.success(request, f"Saved reply “{reply.name}” changed.")
            return redirect("messaging:saved_replies")
        return render(request, "messaging/saved_reply_form.html", {"form": form}, status=400)
