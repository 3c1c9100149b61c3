"""Conversations: one thread per phone number of a tenant, and the tenant's saved replies.

Re-exported by messaging.models; kept apart so neither module outgrows its reader.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from contacts.models import Contact
from tenants.models import Tenant


class Direction(models.TextChoices):
    INBOUND = "in", "Theirs"
    OUTBOUND = "out", "Ours"


class Conversation(models.Model):
    """The thread of every message to and from one number of a tenant (a contact's or a stranger's).

    Lifecycle:

    - **Created** by the first inbound text from the number (messaging.inbound), or by staff
      writing to a number that has no thread yet (``conversation_reply``). On creation the
      contact's earlier messages (campaign messages, automatic replies) join it, so the thread
      starts with the campaign they answered. Campaign messages do not create threads (a
      100,000-contact campaign would make 100,000 threads nobody answered); once a thread
      exists, later campaign messages to its number join it as the dispatcher writes them.
    - **Every message** of the thread carries ``Message.conversation`` and refreshes the
      summary here: ``last_message_at`` (the list's order), the preview and its direction.
    - **Their text** adds one to ``unread_count`` and, unless it was a keyword handled
      automatically (STOP, START), sets ``needs_reply`` and starts ``waiting_since`` (kept
      while further texts arrive unanswered: the first unanswered one counts). A closed thread
      opens again.
    - **Our answer by a person** (a reply, sent or scheduled) clears ``needs_reply``,
      ``waiting_since`` and ``unread_count``: answering is reading. Automatic replies and
      campaign messages change neither.
    - **Read / unread, assign, close / reopen** are staff's working aids
      (messaging.conversations); assignment and closing are audited.
    - ``notified_at``: when an e-mail last told someone this thread was waiting.

    The thread's number is ``phone_e164``: E.164 when the texter's number parsed, else the
    sender as given (an alphanumeric sender ID, which cannot be answered).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="conversations", db_index=False)
    phone_e164 = models.CharField("phone", max_length=16)
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations", db_index=False
    )
    # The campaign that reached them: the one their texts are attributed to, or the latest
    # campaign message of the thread.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    last_message_at = models.DateTimeField()
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_outbound_at = models.DateTimeField(null=True, blank=True)
    last_body = models.CharField("last message", max_length=160, blank=True)
    last_direction = models.CharField(max_length=3, choices=Direction.choices, default=Direction.INBOUND)
    unread_count = models.PositiveIntegerField(default=0)
    needs_reply = models.BooleanField(default=False, help_text="Their message is the last one a person must answer.")
    waiting_since = models.DateTimeField(
        null=True, blank=True, help_text="Their first text since our last answer (notifications, time to answer)."
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "phone_e164"], name="conversation_unique_per_phone"),
        ]
        indexes = [
            # The list, newest activity first, in keyset pages of (last_message_at, id).
            models.Index(fields=["tenant", "-last_message_at", "-id"], name="conversation_recent"),
            # Its filters over the few rows they keep, in the same order.
            models.Index(
                fields=["tenant", "-last_message_at", "-id"],
                condition=models.Q(unread_count__gt=0),
                name="conversation_unread",
            ),
            models.Index(
                fields=["tenant", "-last_message_at", "-id"],
                condition=models.Q(needs_reply=True),
                name="conversation_needs_reply",
            ),
            models.Index(
                fields=["assigned_to", "-last_message_at", "-id"],
                condition=models.Q(assigned_to__isnull=False),
                name="conversation_assigned",
            ),
            models.Index(
                fields=["campaign", "-last_message_at", "-id"],
                condition=models.Q(campaign__isnull=False),
                name="conversation_campaign",
            ),
            # Threads waiting for an answer (notifications).
            models.Index(
                fields=["waiting_since"], condition=models.Q(waiting_since__isnull=False), name="conversation_waiting"
            ),
            models.Index(fields=["contact"], condition=models.Q(contact__isnull=False), name="conversation_contact"),
        ]

    def __str__(self) -> str:
        return self.phone_e164


class SavedReply(models.Model):
    """A snippet staff insert into a reply, shared by the whole tenant; admins manage them.

    ``body`` may hold the templates' placeholders ({first_name}, {business_name}, ...), filled
    in for the thread's contact when inserted.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="saved_replies", db_index=False)
    name = models.CharField(max_length=80)
    body = models.TextField(max_length=1600)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "saved replies"
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="saved_reply_name_unique")]

    def __str__(self) -> str:
        return self.name
