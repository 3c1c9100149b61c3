"""Campaigns and sending numbers pages (the templates' pages are campaigns.template_views).
Thin: parse, call a service or selector, render."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from campaigns import selectors, services
from campaigns.forms import CampaignForm, SendingNumberForm
from campaigns.models import Campaign, CampaignStatus, Gate, GateOutcome, JobStatus, SendJob
from campaigns.rendering import TemplateError
from messaging import selectors as messaging_selectors
from messaging import services as messaging_services
from tenants.forms import add_service_errors
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

# Seconds between reloads of a campaign page while its audience is being prepared.
PREPARING_REFRESH_SECONDS = 5
# Jobs awaiting a person's decision shown on a campaign page (the oldest first).
UNKNOWN_JOBS_SHOWN = 100


def _error_message(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


# --- campaigns ------------------------------------------------------------------------------


def _campaign(view: TenantScopedMixin, pk) -> Campaign:
    return view.get_scoped_or_404(Campaign.objects.select_related("template", "tenant"), pk=pk)


def _estimate(campaign: Campaign):
    """The estimate, or None when a variant no longer renders (launch_problems says why)."""
    try:
        return selectors.estimate(campaign=campaign)
    except TemplateError:
        return None


class CampaignListView(TenantScopedMixin, View):
    def get(self, request):
        campaigns = list(selectors.campaigns_for(tenant=request.tenant)[:200])
        # One grouped query for every listed campaign's job counts, not one per row.
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for campaign_id, status, n in (
            SendJob.objects.filter(campaign__in=[c.pk for c in campaigns])
            .values_list("campaign_id", "status")
            .annotate(n=Count("id"))
            .values_list("campaign_id", "status", "n")
        ):
            counts[campaign_id][status] = n
        rows = []
        for campaign in campaigns:
            jobs = counts.get(campaign.pk, {})
            waiting = jobs.get(JobStatus.PENDING, 0) + jobs.get(JobStatus.SENDING, 0)
            stopped = sum(
                jobs.get(status, 0)
                for status in (JobStatus.SKIPPED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELLED)
            )
            rows.append((campaign, jobs.get(JobStatus.SENT, 0), waiting, stopped, jobs.get(JobStatus.UNKNOWN, 0)))
        return render(request, "campaigns/campaign_list.html", {"rows": rows})


class CampaignCreateView(TenantScopedMixin, View):
    permission = Perm.CAMPAIGNS_DRAFT

    def get(self, request):
        # ?tags= comes from an import's "start a campaign to them".
        initial = {"template": request.GET.get("template"), "tags": request.GET.get("tags", "")}
        form = CampaignForm(tenant=request.tenant, initial=initial)
        return render(request, "campaigns/campaign_form.html", {"form": form})

    def post(self, request):
        form = CampaignForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                campaign = services.campaign_create(tenant=request.tenant, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Campaign {campaign.name!r} created as a draft.")
                return redirect("campaigns:detail", pk=campaign.pk)
        return render(request, "campaigns/campaign_form.html", {"form": form}, status=400)


class CampaignEditView(TenantScopedMixin, View):
    """Change a draft's settings with the same form as creating it; launched ones are not editable."""

    permission = Perm.CAMPAIGNS_DRAFT

    def _draft(self, request, pk) -> Campaign | None:
        campaign = _campaign(self, pk)
        if campaign.status != CampaignStatus.DRAFT:
            messages.info(
                request, f"Only a draft can be edited; this campaign is {campaign.get_status_display().lower()}."
            )
            return None
        return campaign

    def _render(self, request, campaign, form, status=200):
        return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign}, status=status)

    def get(self, request, pk):
        campaign = self._draft(request, pk)
        if campaign is None:
            return redirect("campaigns:detail", pk=pk)
        initial = {
            "name": campaign.name,
            "template": campaign.template_id,
            "tags": campaign.tags,
            "link_url": campaign.link_url,
            "starts_at": campaign.starts_at,
            "ends_at": campaign.ends_at,
        }
        return self._render(request, campaign, CampaignForm(tenant=request.tenant, initial=initial))

    def post(self, request, pk):
        campaign = self._draft(request, pk)
        if campaign is None:
            return redirect("campaigns:detail", pk=pk)
        form = CampaignForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                services.campaign_update(campaign=campaign, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, "Draft saved.")
                return redirect("campaigns:detail", pk=campaign.pk)
        return self._render(request, campaign, form, status=400)


# The page's job table says where each job is now; "Sent" and "Failed" there would read as the
# carriers' verdicts, which the Results card (the report's figures) gives.
JOB_STATES_NOW = {JobStatus.SENT: "Handed to the provider", JobStatus.FAILED: "Refused by the provider at hand-off"}


class CampaignDetailView(TenantScopedMixin, View):
    def get(self, request, pk):
        campaign = _campaign(self, pk)
        preparing = campaign.status in services.PREPARING and campaign.jobs_created_at is None
        waiting_long = (
            preparing
            and campaign.launched_at is not None
            and timezone.now() - campaign.launched_at > timedelta(seconds=services.PREPARE_GRACE_SECONDS)
        )
        job_counts = selectors.job_counts(campaign=campaign)
        gates, outcomes = dict(Gate.choices), dict(GateOutcome.choices)
        unknown_jobs = (
            self.scoped(SendJob)
            .filter(campaign=campaign, status=JobStatus.UNKNOWN)
            .select_related("contact", "message")
            .order_by("id")[:UNKNOWN_JOBS_SHOWN]
            if job_counts.get(JobStatus.UNKNOWN)
            else []
        )
        return render(
            request,
            "campaigns/campaign_detail.html",
            {
                "campaign": campaign,
                "estimate": _estimate(campaign),
                "problems": services.launch_problems(campaign) if campaign.status == CampaignStatus.DRAFT else [],
                "job_counts": [
                    (JOB_STATES_NOW.get(value, label), job_counts.get(value, 0)) for value, label in JobStatus.choices
                ],
                "gate_counts": [
                    (gates.get(gate, gate), outcomes.get(outcome, outcome), n)
                    for gate, outcome, n in selectors.gate_counts(campaign=campaign)
                ],
                "unknown_jobs": unknown_jobs,
                "unknown_total": job_counts.get(JobStatus.UNKNOWN, 0),
                "responses": selectors.responses(campaign=campaign) if campaign.launched_at else None,
                "preparing": preparing,
                "waiting_long": waiting_long,
                "refresh_seconds": PREPARING_REFRESH_SECONDS,
                "can_pause": campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED),
                "can_resume": campaign.status == CampaignStatus.PAUSED,
                "can_cancel": campaign.status not in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED),
            },
        )


class CampaignLaunchView(TenantScopedMixin, View):
    """GET: what launching will do (audience, estimated cost, problems); POST: launch."""

    permission = Perm.CAMPAIGNS_LAUNCH

    def get(self, request, pk):
        campaign = _campaign(self, pk)
        if campaign.status != CampaignStatus.DRAFT:
            messages.info(request, "This campaign has been launched already.")
            return redirect("campaigns:detail", pk=campaign.pk)
        return render(
            request,
            "campaigns/campaign_launch.html",
            {"campaign": campaign, "estimate": _estimate(campaign), "problems": services.launch_problems(campaign)},
        )

    def post(self, request, pk):
        campaign = _campaign(self, pk)
        was_draft = campaign.status == CampaignStatus.DRAFT
        try:
            launched = services.campaign_launch(campaign=campaign, actor=request.user)
        except ValidationError as exc:
            messages.error(request, "Not launched: " + " ".join(exc.messages))
        else:
            if not was_draft:
                messages.info(request, "This campaign has been launched already; nothing changed.")
            elif launched.status == CampaignStatus.SCHEDULED:
                messages.success(request, "Campaign scheduled: sending starts at its start time.")
            else:
                messages.success(request, "Campaign launched: the audience is being prepared, then sending starts.")
        return redirect("campaigns:detail", pk=campaign.pk)


class _CampaignTransitionView(TenantScopedMixin, View):
    permission = Perm.CAMPAIGNS_LAUNCH
    service = staticmethod(services.campaign_pause)
    done = ""

    def post(self, request, pk):
        campaign = _campaign(self, pk)
        try:
            self.service(campaign=campaign, actor=request.user)
        except ValidationError as exc:
            _error_message(request, exc)
        else:
            messages.success(request, self.done)
        return redirect("campaigns:detail", pk=campaign.pk)


class CampaignPauseView(_CampaignTransitionView):
    service = staticmethod(services.campaign_pause)
    done = "Campaign paused: nothing more is sent until it is resumed."


class CampaignResumeView(_CampaignTransitionView):
    service = staticmethod(services.campaign_resume)
    done = "Campaign resumed."


class CampaignCancelView(_CampaignTransitionView):
    """GET: are you sure? POST: cancel (messages not yet sent never will be)."""

    service = staticmethod(services.campaign_cancel)
    done = "Campaign cancelled: messages not yet sent will not be."

    def get(self, request, pk):
        campaign = _campaign(self, pk)
        return render(request, "campaigns/campaign_cancel.html", {"campaign": campaign})


class SendJobDecideView(TenantScopedMixin, View):
    """A person settles a job whose outcome is unknown: it was sent, or send it again."""

    permission = Perm.CAMPAIGNS_LAUNCH

    def post(self, request, pk, job_pk):
        job = self.get_scoped_or_404(SendJob, campaign_id=pk, pk=job_pk)
        decision = request.POST.get("decision", "")
        try:
            services.send_job_decide(job=job, actor=request.user, decision=decision)
        except ValidationError as exc:
            _error_message(request, exc)
        else:
            messages.success(
                request, "Marked as sent." if decision == "sent" else "The message will be sent again shortly."
            )
        return redirect("campaigns:detail", pk=pk)


# --- sending numbers ------------------------------------------------------------------------


class SendingNumberListView(TenantScopedMixin, View):
    permission = Perm.NUMBERS_MANAGE

    def _render(self, request, form, status=200):
        numbers = messaging_selectors.senders_of(tenant=request.tenant)
        base = settings.PUBLIC_BASE_URL
        webhooks = {
            "inbound_webhook": base + reverse("messaging:inbound_webhook"),
            "status_webhook": base + reverse("messaging:status_callback"),
            "provider_webhook": base + reverse("messaging:provider_webhook"),
        }
        return render(request, "campaigns/numbers.html", {"numbers": numbers, "form": form, **webhooks}, status=status)

    def get(self, request):
        return self._render(request, SendingNumberForm(tenant=request.tenant))

    def post(self, request):
        form = SendingNumberForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            try:
                number = messaging_services.sending_number_create(
                    tenant=request.tenant, actor=request.user, **form.cleaned_data
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"{number.sender} added.")
                return redirect("campaigns:numbers")
        return self._render(request, form, status=400)
