"""Reads of the campaigns app: audiences, estimates, job counts."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import Length
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, JobStatus, SendJob, Template
from campaigns.rendering import TemplateError, compile_body, render_message
from contacts.models import RESERVED_CUSTOM_FIELDS, ConsentStatus, Contact
from contacts.selectors import tag_filter
from links import services as links_services
from messaging import selectors as messaging_selectors
from messaging.keywords import OPT_OUT_INTENTS, Intent
from messaging.models import Message, MessageKind
from messaging.segments import SegmentInfo, gsm_replace, segment_info
from messaging.services import CONTENT_FILTERED_CODE
from tenants.models import Tenant

# Longest personalisation we plan for when a tenant has no contacts yet.
PLAUSIBLE_LENGTHS = {"first_name": 20, "last_name": 20, "link": 30}


def custom_field_names(*, tenant: Tenant) -> list[str]:
    """Custom field names the tenant's contacts carry (placeholders may use them)."""
    names: set[str] = set()
    for fields in (
        Contact.objects.filter(tenant=tenant).exclude(custom_fields={}).values_list("custom_fields", flat=True)[:1000]
    ):
        names.update(key for key in fields if key.isidentifier() and key.islower())
    return sorted(names - RESERVED_CUSTOM_FIELDS)  # older rows may carry one: the built-in always wins


# A campaign past its draft (its messages are being, or were, sent) fixes its template's text.
_LAUNCHED = ~Q(status=CampaignStatus.DRAFT)


def template_locked(template: Template) -> bool:
    """A launched campaign uses ``template``: its text can no longer change."""
    return template.campaigns.filter(_LAUNCHED).exists()


def templates_for(*, tenant: Tenant) -> QuerySet[Template]:
    """The tenant's templates, each with ``campaign_count`` and ``locked`` (``template_locked``),
    their variants prefetched: a list of them is three queries, however long."""
    launched = Campaign.objects.filter(_LAUNCHED, template=OuterRef("pk"))
    return (
        Template.objects.filter(tenant=tenant)
        .annotate(campaign_count=Count("campaigns"), locked=Exists(launched))
        .prefetch_related("variants")
    )


def audience(*, campaign: Campaign, consenting_only: bool = True) -> QuerySet[Contact]:
    """Consenting contacts of the campaign's tenant, with any of its tags when it has some
    (``consenting_only=False``: those the tags pick, consent or not, for the estimate to count)."""
    contacts = Contact.objects.filter(tenant_id=campaign.tenant_id)
    if consenting_only:
        contacts = contacts.filter(consent_status__in=(ConsentStatus.EXPRESS, ConsentStatus.INFERRED))
    if campaign.tags:
        match = Q()
        for tag in campaign.tags:
            match |= tag_filter(tag)
        contacts = contacts.filter(match)
    return contacts


@dataclass(frozen=True)
class VariantEstimate:
    body: str
    preview: str
    typical: SegmentInfo
    worst: SegmentInfo


# What each final gate's count is called on the estimate and the launch page, in gate order.
REMOVED_LABELS = {
    "consent": "no current consent",
    "dnc": "on the do-not-contact list",
    "undeliverable": "number undeliverable",
    "suppression": "had a campaign message within the suppression period",
    "no_price": "no price per segment for their country",
}


@dataclass(frozen=True)
class Estimate:
    audience: int  # the contacts that would be sent to (after the final gates, while a draft)
    variants: list[VariantEstimate]
    cents_per_segment: int | None
    worst_segments: int
    cost_cents: int | None  # worst case: every message at its variant's longest plausible length
    targeted: int | None = None  # the contacts the tags pick before the final gates (drafts only)
    removed: tuple[tuple[str, str, int], ...] = ()  # (key, label, contacts) per final gate, in order
    unpriced: tuple[tuple[str, int], ...] = ()  # (country, contacts) with no price per segment
    waiting: tuple[tuple[str, int], ...] = ()  # (country, contacts) priced only for a paused sender


def longest_values(*, tenant: Tenant, link: str) -> dict[str, str]:
    """The longest plausible personalisation: the tenant's own longest names (at least typical)."""
    longest = Contact.objects.filter(tenant=tenant).aggregate(
        first=Max(Length("first_name")), last=Max(Length("last_name"))
    )
    first = max(longest["first"] or 0, PLAUSIBLE_LENGTHS["first_name"])
    last = max(longest["last"] or 0, PLAUSIBLE_LENGTHS["last_name"])
    return {"first_name": "W" * first, "last_name": "W" * last, "link": link or "x" * PLAUSIBLE_LENGTHS["link"]}


def as_sent(text: str, *, tenant: Tenant) -> str:
    """A rendered body as it leaves: every URL a short link of the tenant's (placeholder token)."""
    short = links_services.placeholder_url(tenant)
    return links_services.shorten(text, lambda _url: short)


@dataclass(frozen=True)
class PreviewValues:
    """What a preview fills the placeholders with: a typical recipient, and the longest plausible
    one (the tenant's longest names, 30 characters per custom field) for the worst case."""

    tenant: Tenant
    typical: dict[str, str]
    worst: dict[str, str]

    def as_sent(self, compiled) -> tuple[str, str]:
        """A compiled body as it leaves with the typical values, and with the longest ones."""
        options = {"business_name": self.tenant.business_name, "opt_out_line": self.tenant.opt_out_line}
        return (
            as_sent(render_message(compiled, self.typical, **options), tenant=self.tenant),
            as_sent(render_message(compiled, self.worst, **options), tenant=self.tenant),
        )


# The link a template on its own (no campaign, so no Link URL yet) is previewed with.
SAMPLE_LINK = "https://example.com/x"


def preview_values(*, tenant: Tenant, custom: list[str], link: str | None) -> PreviewValues:
    """The values the template page and a campaign's estimate preview with (one place for both).

    ``link`` is the campaign's Link URL: with none, ``{{ link }}`` renders empty, as it would be
    sent, never a short link that will not exist. ``None`` is a template on its own: a sample
    URL typically, and the longest plausible link for the worst case."""
    typical = {
        "first_name": "Sam",
        "last_name": "Citizen",
        "business_name": tenant.business_name,
        "link": SAMPLE_LINK if link is None else link,
    }
    worst = {**longest_values(tenant=tenant, link=link or ""), "business_name": tenant.business_name}
    worst.update({name: "W" * 30 for name in custom})
    if link is not None:
        worst["link"] = link
    return PreviewValues(tenant, typical, worst)


@dataclass(frozen=True)
class VariantPreview:
    """One variant as a recipient sees it, and what it costs in segments (``errors`` when it
    cannot be rendered: then no preview)."""

    number: int
    body: str
    preview: str
    typical: SegmentInfo | None
    worst: SegmentInfo | None
    errors: list[str]

    @property
    def replaceable(self) -> bool:
        """True when "Replace with GSM characters" would change this body."""
        return gsm_replace(self.body) != self.body

    @property
    def non_gsm(self) -> list[tuple[str, str]]:
        """(character, its Unicode name) of each character that forces UCS-2, for people to find it."""
        chars = self.typical.non_gsm if self.typical else ()
        return [(char, unicodedata.name(char, f"U+{ord(char):04X}").title()) for char in chars]


def variant_previews(*, tenant: Tenant, bodies: Sequence[str], custom: list[str] | None = None) -> list[VariantPreview]:
    """Each body (a saved template's variants, or bodies being written) as the template page shows
    it: rendered with typical and longest plausible values, the business name and opt-out line
    added, every URL as a short link, with its encoding and segments (as the estimate does)."""
    custom = custom_field_names(tenant=tenant) if custom is None else custom
    values = preview_values(tenant=tenant, custom=custom, link=None)
    previews = []
    for number, body in enumerate(bodies, start=1):
        try:
            compiled = compile_body(body, custom_fields=custom)
        except TemplateError as exc:
            previews.append(VariantPreview(number, body, "", None, None, exc.errors))
            continue
        preview, worst = values.as_sent(compiled)
        previews.append(VariantPreview(number, body, preview, segment_info(preview), segment_info(worst), []))
    return previews


def estimate(*, campaign: Campaign) -> Estimate:
    """Previews, segments and the worst-case cost, each contact priced at its own country's price
    (``gates.price_for``, as the dispatcher prices it). While a draft, the final gates known at
    launch (``gates.launch_screen``: consent, do-not-contact, suppression, price) are applied
    first, so the count and the cost are of what would be sent; once launched, of the jobs the
    gates have not ruled out."""
    from campaigns import gates  # gates imports the heavier sending machinery

    tenant = campaign.tenant
    screen = None
    now = timezone.now()
    if campaign.status == "draft":
        if campaign.starts_at and campaign.starts_at > now:
            now = campaign.starts_at  # suppression as it will stand when sending starts
        screen = gates.launch_screen(
            tenant=tenant, contacts=audience(campaign=campaign, consenting_only=False), now=now
        )
        size, counts, country_prices = screen.sendable_total, screen.sendable, screen.prices
    else:
        # Launched: the jobs the gates have ruled out for good go, as they left the draft's count.
        size = campaign.jobs_total - SendJob.objects.filter(campaign=campaign, status=JobStatus.SKIPPED).count()
        counts = launched_countries(campaign=campaign, size=size)
        country_prices = gates.country_prices(tenant=tenant, countries=counts, now=now)
    custom = custom_field_names(tenant=tenant)
    values = preview_values(tenant=tenant, custom=custom, link=campaign.link_url)
    variants = []
    for variant in campaign.template.variants.all():
        preview, worst = values.as_sent(compile_body(variant.body, custom_fields=custom))
        variants.append(VariantEstimate(variant.body, preview, segment_info(preview), segment_info(worst)))
    prices = messaging_selectors.prices_on(tenant=tenant, day=timezone.localdate(timezone=tenant.zone))
    au = [cents for (provider, country), cents in prices.items() if country == "AU"]
    price = country_prices.get("AU", max(au) if au else None)  # the price shown per segment
    worst_segments = max((v.worst.segments for v in variants), default=0)
    cost = None
    if variants and (price is not None or country_prices):
        cost = worst_cost(counts=counts, prices=country_prices, variants=variants)
    if screen is None:
        return Estimate(size, variants, price, worst_segments, cost)
    removed = tuple(
        (key, label, screen.removed[key]) for key, label in REMOVED_LABELS.items() if screen.removed.get(key)
    )
    unpriced = tuple(sorted(screen.unpriced.items(), key=lambda item: (-item[1], item[0])))
    waiting = tuple(sorted(screen.waiting.items(), key=lambda item: (-item[1], item[0])))
    return Estimate(size, variants, price, worst_segments, cost, screen.targeted, removed, unpriced, waiting)


def worst_cost(*, counts: dict[str, int], prices: dict[str, int], variants: list[VariantEstimate]) -> int:
    """Cents to send ``counts`` (country -> messages) at ``prices`` (country -> cents per segment;
    a country without one is not sent to), every message at its variant's longest. Rotation
    gives each variant an equal share: their worst cases are averaged, rounded up per country."""
    segments = sum(v.worst.segments for v in variants)
    return sum(
        -(-n * segments * prices[country] // len(variants)) for country, n in counts.items() if country in prices
    )


def launched_countries(*, campaign: Campaign, size: int) -> dict[str, int]:
    """Country -> the launched campaign's ``size`` jobs the gates have not ruled out, by the
    contact's number. Only the jobs of numbers outside +61 are read (one by one): on a
    million-job campaign of Australians that is a probe of the (tenant, phone) index, never a
    join of every job; the rest are Australian."""
    foreign = Contact.objects.filter(tenant_id=campaign.tenant_id).filter(
        Q(phone_e164__lt="+61") | Q(phone_e164__gte="+62")
    )
    phones = (
        SendJob.objects.filter(campaign=campaign, contact_id__in=foreign.values("id"))
        .exclude(status=JobStatus.SKIPPED)
        .values_list("contact__phone_e164", flat=True)
    )
    counts: dict[str, int] = {}
    for phone in phones:
        country = messaging_selectors.country_of(phone)
        counts[country] = counts.get(country, 0) + 1
    if size > sum(counts.values()):
        counts["AU"] = counts.get("AU", 0) + size - sum(counts.values())
    return counts


def job_counts(*, campaign: Campaign) -> dict[str, int]:
    counts = dict(
        SendJob.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in JobStatus.values}


def job_counts_by_campaign(*, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{campaign id: {job status: jobs}}`` (every status, zeros included) of several campaigns,
    in one grouped query, for a list of campaigns that must not ask once per row."""
    counts = {campaign_id: dict.fromkeys(JobStatus.values, 0) for campaign_id in campaign_ids}
    for campaign_id, status, n in (
        SendJob.objects.filter(campaign_id__in=campaign_ids)
        .values_list("campaign_id", "status")
        .annotate(n=Count("id"))
        .values_list("campaign_id", "status", "n")
    ):
        counts[campaign_id][status] = n
    return counts


def gate_counts(*, campaign: Campaign) -> list[tuple[str, str, int]]:
    """(gate, outcome, jobs) of the latest decision on each job that a gate stopped."""
    return list(
        SendJob.objects.filter(campaign=campaign)
        .exclude(gate="")
        .values_list("gate", "outcome")
        .annotate(n=Count("id"))
        .order_by("gate", "outcome")
        .values_list("gate", "outcome", "n")
    )


def campaigns_for(*, tenant: Tenant) -> QuerySet[Campaign]:
    return Campaign.objects.filter(tenant=tenant).select_related("template").order_by("-created_at")


def responses(*, campaign: Campaign) -> dict[str, int]:
    """Content filtering (Twilio 30007), opt-outs and replies attributed to the campaign.

    Two small queries, each on its partial index (message_content_filtered,
    message_campaign_inbound), so the page never reads the campaign's outbound messages.
    """
    filtered = Message.objects.filter(campaign=campaign, error_code=CONTENT_FILTERED_CODE, kind=MessageKind.CAMPAIGN)
    inbound = Message.objects.filter(campaign=campaign, kind=MessageKind.INBOUND).aggregate(
        opt_outs=Count("id", filter=Q(intent__in=OPT_OUT_INTENTS)),
        replies=Count("id", filter=Q(intent=Intent.REPLY)),
    )
    return {"content_filtered": filtered.count(), **inbound}
