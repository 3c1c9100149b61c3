"""Short links (one per recipient and destination) and the clicks on them."""

from django.db import models

from contacts.models import Contact
from messaging.models import Message
from tenants.models import Tenant


class ShortLink(models.Model):
    """``https://<short domain>/<token>`` standing for one destination in one recipient's message.

    Created in bulk when a send job is handed over, idempotent per (send job, destination): a
    job handed over again (after a provider retry) keeps its links. The redirect goes only to
    ``destination``, stored here; nothing in a request can change where it goes.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    token = models.CharField(max_length=16, unique=True)
    destination = models.URLField(max_length=2000)
    # Plain ids: links sit below campaigns (docs/architecture.md); a send job is unique per
    # (campaign, contact), so (send_job_id, destination) identifies a link.
    send_job_id = models.BigIntegerField(null=True, blank=True)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, related_name="+", db_index=False)
    # The latest message that carried it (its delivery time tells scanners from people).
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, related_name="+", db_index=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["send_job_id", "destination"], name="shortlink_once_per_job_destination"),
        ]
        indexes = [
            models.Index(fields=["campaign_id"], name="shortlink_campaign"),
            # A contact's or a message's links (timelines), and what deleting either must check.
            models.Index(fields=["contact"], name="shortlink_contact"),
            models.Index(fields=["message"], name="shortlink_message"),
        ]

    def __str__(self) -> str:
        return self.token


class ClickReason(models.TextChoices):
    CRAWLER = "crawler", "Crawler or HTTP library"
    LINK_PREVIEW = "link_preview", "Link preview"
    SCANNER_TIMING = "scanner_timing", "Within seconds of delivery (scanner)"
    HEAD_REQUEST = "head_request", "HEAD/OPTIONS request"
    EMPTY_USER_AGENT = "empty_user_agent", "No user agent"
    BURST = "burst", "Burst of different agents"


class Click(models.Model):
    """One fetch of a short link, as recorded from the click queue (links.clicks).

    ``request_id`` is minted by the redirect: recording the same queued click twice (a flush
    retried after a crash) inserts nothing. The IP is kept only as a salted hash.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    link = models.ForeignKey(ShortLink, on_delete=models.CASCADE, related_name="clicks", db_index=False)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    contact_id = models.BigIntegerField(null=True, blank=True)
    request_id = models.UUIDField(unique=True)
    at = models.DateTimeField()
    method = models.CharField(max_length=10)
    user_agent = models.CharField(max_length=500, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    is_human = models.BooleanField()
    reason = models.CharField(max_length=20, choices=ClickReason.choices, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["link", "at"], name="click_link_at"),
            models.Index(fields=["campaign_id", "is_human"], name="click_campaign_human"),
            models.Index(fields=["contact_id", "at"], name="click_contact_at"),
        ]

    def __str__(self) -> str:
        return f"{self.link_id} at {self.at:%Y-%m-%d %H:%M:%S} ({'human' if self.is_human else self.reason})"
