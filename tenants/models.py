import re
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from tenants.hosts import app_host_containing, is_within, normalize_host
from tenants.optout import has_opt_out_instruction
from tenants.roles import Role


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Australia/Sydney).")


# The industry convention (docs/compliance-au.md, "Sending hours"): no marketing SMS
# between 21:00 and 09:00 recipient local time. Tenants may narrow the window, never widen it.
LATEST_SEND_HOUR = 21
EARLIEST_SEND_HOUR = 9

# Replies to the keywords (as TwiML in the webhook's response); tenants may reword them.
DEFAULT_OPT_OUT_REPLY = "You've been unsubscribed from {business}. No more messages will be sent."
DEFAULT_OPT_IN_REPLY = "You're subscribed to messages from {business} again. Reply STOP to opt out."
DEFAULT_HELP_REPLY = "{business}: {contact}. Reply STOP to opt out."

# Clear requests in other words. Matched as whole words anywhere in the body, after the body is
# lower-cased, its apostrophes and punctuation dropped and its spaces collapsed. Erring towards
# an opt-out is the safe side: a wrong match costs one contact, a missed one breaks the law.
DEFAULT_OPT_OUT_PHRASES = (
    "stop",
    "unsubscribe",
    "opt out",
    "optout",
    "remove me",
    "take me off",
    "dont text",
    "dont message",
    "dont contact",
    "do not text",
    "do not message",
    "do not contact",
    "no more texts",
    "no more messages",
    "stop texting",
    "stop messaging",
    "stop sending",
    "leave me alone",
)


_HOST = re.compile(r"^(?=.{1,100}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def validate_short_domain(value: str) -> None:
    """A host name of the business's own, never the application's host or a name under it."""
    if not value:
        return
    if not _HOST.match(value):
        raise ValidationError(f"{value!r} is not a host name (e.g. go.acme.com.au: no scheme, path or port).")
    app = app_host_containing(value)
    if app is not None:
        where = "is" if value == app else f"falls under {app}, which is"
        raise ValidationError(
            f"{value} {where} this application's own address: it cannot be a short domain. "
            "Use a host name of your business's own domain, e.g. go.yourbusiness.com.au."
        )
    if settings.SHORT_DOMAIN and is_within(value, settings.SHORT_DOMAIN):
        raise ValidationError(
            f"{value} is the shared short domain ({settings.SHORT_DOMAIN}) or under it: leave this empty to use it."
        )


class HostNameField(models.CharField):
    """A host name, stored as ``tenants.hosts.normalize_host`` gives it (lower case, no trailing
    dot), so every way in (form, admin, API, command) compares and stores the same text."""

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_host(value) if value else value


def reply_problem(text: str) -> str:
    """Why a keyword reply template is unusable, or "" (it must name the business)."""
    if "{business}" not in text:
        return "Include {business} so the reply identifies the business (Spam Act s17)."
    leftover = text.replace("{business}", "").replace("{contact}", "")
    if "{" in leftover or "}" in leftover:
        return "Only {business} and {contact} can be filled in."
    return ""


def validate_opt_out_line(value: str) -> None:
    """The line must tell people how to opt out with a keyword we honour (Spam Act s18)."""
    if not has_opt_out_instruction(value):
        raise ValidationError(
            f"“{value}” does not tell people how to opt out. Include an instruction with STOP, "
            "e.g. “Reply STOP to opt out” (Spam Act s18: every message needs a working unsubscribe)."
        )


class Tenant(models.Model):
    """A business using the product. Every row of every domain app belongs to one tenant.

    ``is_paused`` is the kill switch: while it is set no message of the tenant is handed to a
    provider. Budget caps are integer cents (AUD), counted in the tenant's local day and month.
    """

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    business_name = models.CharField(max_length=80, help_text="Identifies the sender in every message (Spam Act s17).")
    timezone = models.CharField(max_length=64, default="Australia/Sydney", validators=[validate_timezone])
    is_paused = models.BooleanField(default=False, help_text="Kill switch: nothing is sent while set.")
    daily_budget_cents = models.PositiveBigIntegerField(default=10_000)
    monthly_budget_cents = models.PositiveBigIntegerField(default=200_000)
    suppression_days = models.PositiveSmallIntegerField(
        default=90,
        validators=[MaxValueValidator(3650)],
        help_text="No campaign message to a contact who had one within this many days; 0 disables.",
    )
    quiet_hours_start = models.PositiveSmallIntegerField(
        default=LATEST_SEND_HOUR,
        validators=[MinValueValidator(EARLIEST_SEND_HOUR + 1), MaxValueValidator(LATEST_SEND_HOUR)],
        help_text="Hour (recipient local) from which nothing is sent; at most 21.",
    )
    quiet_hours_end = models.PositiveSmallIntegerField(
        default=EARLIEST_SEND_HOUR,
        validators=[MinValueValidator(EARLIEST_SEND_HOUR), MaxValueValidator(LATEST_SEND_HOUR - 1)],
        help_text="Hour (recipient local) from which sending may resume; at least 9.",
    )
    messages_per_second = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(2000)],
        help_text="Most messages handed to the provider per second across all senders (Twilio's account cap: 2,000).",
    )
    opt_out_line = models.CharField(
        max_length=60,
        default="Reply STOP to opt out",
        validators=[validate_opt_out_line],
        help_text="Ends every campaign message (Spam Act s18): an instruction such as “Reply STOP to opt out”.",
    )
    contact_details = models.CharField(
        max_length=100,
        blank=True,
        help_text="How people reach the business (phone, email or web), given in HELP replies.",
    )
    opt_out_reply = models.CharField(
        max_length=320,
        default=DEFAULT_OPT_OUT_REPLY,
        help_text="Sent when someone opts out. {business} becomes the business name.",
    )
    opt_in_reply = models.CharField(
        max_length=320,
        default=DEFAULT_OPT_IN_REPLY,
        help_text="Sent when someone replies START. {business} becomes the business name.",
    )
    help_reply = models.CharField(
        max_length=320,
        default=DEFAULT_HELP_REPLY,
        help_text="Sent when someone replies HELP. {business} and {contact} are filled in.",
    )
    short_domain = HostNameField(
        max_length=100,
        blank=True,
        validators=[validate_short_domain],
        help_text="Host name of the business's own short links (e.g. go.acme.com.au); empty: SHORT_DOMAIN.",
    )
    link_ttl_days = models.PositiveSmallIntegerField(
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="Days a short link keeps working after it is sent.",
    )
    opt_out_phrases = models.TextField(
        blank=True,
        help_text="Requests in other words that count as an opt-out, one per line. Empty: the built-in list.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quiet_hours_start__lte=LATEST_SEND_HOUR)
                & models.Q(quiet_hours_end__gte=EARLIEST_SEND_HOUR)
                & models.Q(quiet_hours_end__lt=models.F("quiet_hours_start")),
                name="tenant_quiet_hours_never_wider_than_convention",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_budget_cents__lte=models.F("monthly_budget_cents")),
                name="tenant_daily_cap_within_monthly_cap",
            ),
            models.UniqueConstraint(
                fields=["short_domain"], condition=~models.Q(short_domain=""), name="tenant_short_domain_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        if self.quiet_hours_end >= self.quiet_hours_start:
            raise ValidationError({"quiet_hours_end": "Sending must resume before quiet hours start."})
        if self.daily_budget_cents > self.monthly_budget_cents:
            raise ValidationError({"daily_budget_cents": "The daily cap cannot exceed the monthly cap."})
        errors = {}
        if self.short_domain:
            taken = Tenant.objects.exclude(pk=self.pk).exclude(short_domain="").values_list("short_domain", flat=True)
            clash = next((other for other in taken if is_within(self.short_domain, other)), None)
            if clash is not None:
                errors["short_domain"] = f"{self.short_domain} is another business's short domain or under it."
        for field in ("opt_out_reply", "opt_in_reply", "help_reply"):
            problem = reply_problem(getattr(self, field))
            if problem:
                errors[field] = problem
        if errors:
            raise ValidationError(errors)

    def keyword_reply(self, field: str) -> str:
        """A keyword reply with the business name and contact details filled in."""
        contact = self.contact_details.strip() or "reply to this message"
        return getattr(self, field).replace("{business}", self.business_name).replace("{contact}", contact)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Membership(models.Model):
    """A user's role in one tenant. A user may belong to several tenants, once each.

    A membership is made when the user accepts an ``Invitation`` (or by the platform's
    operator), never by another tenant on its own. ``last_used_at`` marks the business the user
    last worked in: where a sign-in lands.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_one_per_user_and_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class Invitation(models.Model):
    """An offer to join a tenant in a role, accepted by the invitee through the e-mailed link.

    Lifecycle: open (``accepted_at``, ``declined_at`` and ``revoked_at`` empty, not yet
    ``expires_at``) → accepted (a Membership exists) | declined by the invitee | revoked by an
    owner | expired. Only a hash of the link's token is stored; the link is the proof that the
    invitee reads that mailbox, as a magic link is. One open invitation per address and tenant.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=models.Q(accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_address",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} as {self.role}"

    def is_open(self, now) -> bool:
        return (
            self.accepted_at is None and self.declined_at is None and self.revoked_at is None and now < self.expires_at
        )


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The audit log is append-only.")

    def delete(self):
        raise TypeError("The audit log is append-only.")


class AuditEvent(models.Model):
    """Who did what, to what, when. Append-only: written by services, never edited or deleted.

    ``tenant`` is null only for events that belong to no tenant (e.g. a login by a user who
    has no membership yet). ``data`` holds the before/after values that matter for the action.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    data = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-at"], name="audit_tenant_at"),
            # A number's do-not-contact history on its contact's timeline.
            models.Index(fields=["tenant", "target"], name="audit_tenant_target"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.target}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The audit log is append-only.")


class ApiKey(models.Model):
    """A tenant's key for the REST API, carrying one role of the matrix (never owner).

    The key is shown once, at creation; only its SHA-256 is stored, with a short public
    ``prefix`` (part of the key) to find the row without scanning. A key is usable while it is
    neither revoked nor past ``expires_at``. ``last_used_at`` is updated at most once a minute.
    """

    ROLES = [(r.value, r.label) for r in (Role.VIEWER, Role.STAFF, Role.ADMIN)]

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=80)
    role = models.CharField(max_length=16, choices=ROLES)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=["viewer", "staff", "admin"]), name="api_key_role_below_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…, {self.role})"

    def is_usable(self, now) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class IdempotencyRecord(models.Model):
    """The first response to a POST made with an ``Idempotency-Key`` header, kept 24 hours.

    ``scope`` is whose key it is (an API key, or a signed-in user in a tenant), so two clients
    never share keys. ``fingerprint`` is a hash of the method, path and body: the same key with
    another body is refused. The row is inserted in the transaction that does the work, so a
    second request with the same key waits on the unique index until the first commits.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_one_per_scope_and_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created")]
