"""The REST API for conversations (issue 19).

- ``conversations/``: the threads, newest activity first, in cursor pages; filters ``unread``,
  ``needs_reply``, ``opted_out``, ``closed`` (true/false), ``assigned_to`` (a user id),
  ``campaign`` (an id) and ``q`` (a name, or a number in any format or part of one).
- ``conversations/{phone}/``: one thread, every message both ways in order.
- ``conversations/{phone}/messages/``: POST ``{"body": "..."}`` replies (staff and up, the
  ``Idempotency-Key`` header honoured): 201 when it is being sent, 202 when quiet hours
  scheduled it; a refusal is a 400 (409 while the business is paused) whose ``code`` names the
  rule (``do_not_contact``, ``paused``, ``over_budget``, ``no_consent``, ``alpha_sender``,
  ``no_sender``, ...) and whose ``message`` says why. Nothing is sent then.

A phone in a URL may be in any format, URL-encoded; another tenant's thread, like a number
without one, is a 404. Replies go through ``messaging.conversations.conversation_reply``, the
service the thread page calls.
"""

from __future__ import annotations

from urllib.parse import unquote

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from contacts.api import PHONE_IN_PATH, BusinessTimeMixin
from messaging import conversation_selectors as selectors
from messaging.conversations import conversation_reply
from messaging.models import Conversation, Message, MessageKind, MessageStatus
from tenants.api.idempotency import idempotent
from tenants.api.views import TenantScopedAPIMixin
from tenants.roles import Perm

# Refusals about the business's state rather than the request: 409.
STATE_REFUSALS = {"paused"}


class ConversationSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField(help_text="The contact's name ('' for a stranger).")
    opted_out = serializers.BooleanField(read_only=True, help_text="The number is on the do-not-contact list.")
    assigned_to = serializers.SerializerMethodField(help_text="The e-mail of the member it is assigned to.")

    class Meta:
        model = Conversation
        fields = [
            "phone_e164", "name", "contact_id", "campaign_id", "last_message_at", "last_inbound_at",
            "last_outbound_at", "last_body", "last_direction", "unread_count", "needs_reply", "waiting_since",
            "opted_out", "assigned_to", "closed_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_name(self, conversation) -> str:
        contact = conversation.contact
        return f"{contact.first_name} {contact.last_name}".strip() if contact is not None else ""

    def get_assigned_to(self, conversation) -> str | None:
        return conversation.assigned_to.email if conversation.assigned_to_id else None


class ThreadMessageSerializer(serializers.ModelSerializer):
    direction = serializers.SerializerMethodField(help_text="in (theirs) or out (ours).")
    status = serializers.CharField(
        read_only=True,
        help_text="sending, scheduled, queued, sent, delivered, undelivered, failed, rejected, unknown, cancelled "
        "(ours); received (theirs).",
    )

    class Meta:
        model = Message
        fields = [
            "id", "direction", "kind", "status", "body", "to_phone", "from_sender", "segments", "cost_cents",
            "campaign_id", "created_at", "scheduled_for", "handed_off_at", "delivered_at", "error_code",
        ]  # fmt: skip
        read_only_fields = fields

    def get_direction(self, message) -> str:
        return "in" if message.kind == MessageKind.INBOUND else "out"


class ThreadSerializer(serializers.Serializer):
    conversation = ConversationSerializer()
    messages = ThreadMessageSerializer(many=True)


class ReplySerializer(serializers.Serializer):
    body = serializers.CharField(max_length=1600, trim_whitespace=False, help_text="The reply, as typed.")


class ConversationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)
    needs_reply = serializers.BooleanField(required=False, default=False, help_text="Their message is the last.")
    opted_out = serializers.BooleanField(required=False, default=False)
    closed = serializers.BooleanField(required=False, allow_null=True, default=None)
    assigned_to = serializers.IntegerField(required=False, min_value=1, help_text="A member's user id.")
    campaign = serializers.IntegerField(required=False, min_value=1, help_text="The campaign that reached them.")
    q = serializers.CharField(required=False, max_length=100, help_text="A name, or a number in any format.")


class ConversationCursorPagination(CursorPagination):
    ordering = ("-last_message_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


REPLY_EXAMPLE = OpenApiExample("A reply", request_only=True, value={"body": "Yes, we open 10 to 4 on Boxing Day."})


class ReplyRefused(exceptions.APIException):
    """A rule refused the reply; ``code`` is the rule's (``ValidationError.code`` of the service)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "refused"

    def __init__(self, error: DjangoValidationError):
        super().__init__(" ".join(error.messages))
        self.default_code = error.code or "refused"
        if self.default_code in STATE_REFUSALS:
            self.status_code = status.HTTP_409_CONFLICT


@extend_schema_view(
    list=extend_schema(
        parameters=[ConversationFilterSerializer],
        description="The threads, newest activity first, in cursor pages.",
    ),
)
@extend_schema(tags=["conversations"])
class ConversationViewSet(BusinessTimeMixin, TenantScopedAPIMixin, GenericViewSet):
    """Conversations: anyone reads them; staff and up reply (``Perm.INBOX_MANAGE``)."""

    serializer_class = ConversationSerializer
    pagination_class = ConversationCursorPagination
    lookup_field = "phone"
    lookup_value_regex = "[^/]+"
    action_permissions = {"list": Perm.VIEW, "retrieve": Perm.VIEW, "messages": Perm.INBOX_MANAGE}

    def get_queryset(self):
        filters = ConversationFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        return selectors.conversations_queryset(
            tenant=self.tenant,
            filters=selectors.ConversationFilters(
                unread=data["unread"],
                needs_reply=data["needs_reply"],
                opted_out=data["opted_out"],
                closed=data["closed"],
                assigned_to=data.get("assigned_to"),
                campaign_id=data.get("campaign"),
                search=data.get("q", ""),
            ),
        )

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    def _phone(self) -> str:
        return unquote(self.kwargs["phone"])

    @extend_schema(parameters=[PHONE_IN_PATH], responses={200: ThreadSerializer})
    def retrieve(self, request, *args, **kwargs):
        """One thread: the conversation and every message both ways, oldest first."""
        thread = selectors.conversation_thread(tenant=self.tenant, phone=self._phone())
        if thread is None:
            raise Http404
        return Response(ThreadSerializer({"conversation": thread.conversation, "messages": thread.messages}).data)

    @extend_schema(
        parameters=[PHONE_IN_PATH],
        request=ReplySerializer,
        responses={201: ThreadMessageSerializer, 202: ThreadMessageSerializer},
        examples=[REPLY_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def messages(self, request, *args, **kwargs):
        """Reply to the thread: 201 being sent, 202 scheduled for the end of quiet hours."""
        if selectors.conversation_for(tenant=self.tenant, phone=self._phone()) is None:
            raise Http404
        serializer = ReplySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            message = conversation_reply(
                tenant=self.tenant, phone=self._phone(), body=serializer.validated_data["body"], actor=self.actor
            )
        except DjangoValidationError as error:
            raise ReplyRefused(error) from None
        message.refresh_from_db()
        code = status.HTTP_202_ACCEPTED if message.status == MessageStatus.SCHEDULED else status.HTTP_201_CREATED
        return Response(ThreadMessageSerializer(message).data, status=code)
