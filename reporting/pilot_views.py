"""The pilot check's page: the same criteria as ``manage.py pilot_check``, for admins.

A check reads every message of its scope, so it runs in the worker: the page asks for a run
(POST), then shows its progress until the verdicts are in, and keeps the history of runs.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View

from campaigns.models import Campaign
from reporting import pilot_runs
from reporting.models import PilotRun
from reporting.tasks import pilot_check_run
from smscrm.edge import db_id
from smscrm.queueing import enqueue_after_commit
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm

HISTORY = 10


class PilotCheckView(TenantScopedMixin, View):
    permission = Perm.AUDIT_VIEW

    def _chosen(self, request, wanted: str) -> Campaign | None:
        if not wanted:
            return None
        number = db_id(wanted)
        campaign = self.scoped(Campaign).filter(pk=number).first() if number else None
        if campaign is None:  # another tenant's, or none at all: the same answer
            raise Http404("No such campaign.")
        return campaign

    def _url(self, chosen: Campaign | None) -> str:
        url = reverse("reporting:pilot_check")
        return f"{url}?campaign={chosen.pk}" if chosen else url

    def get(self, request):
        chosen = self._chosen(request, request.GET.get("campaign", ""))
        runs = self.scoped(PilotRun)
        latest = runs.filter(scope=pilot_runs.scope_of(chosen)).select_related("requested_by").order_by("-id").first()
        active = latest is not None and latest.status in PilotRun.ACTIVE
        waiting = (
            active and latest.status == "queued" and timezone.now() - latest.created_at > pilot_runs.WAITING_FOR_WORKER
        )
        campaigns = self.scoped(Campaign).exclude(jobs_created_at=None).order_by("-id")
        return render(
            request,
            "reporting/pilot.html",
            {
                "chosen": chosen,
                "latest": latest,
                "active": active,
                "waiting_for_worker": waiting,
                "percent": round(100 * latest.step / latest.steps) if active and latest.steps else 0,
                "history": runs.select_related("campaign", "requested_by").order_by("-id")[:HISTORY],
                "campaigns": campaigns.only("id", "name")[:200],
                "command": f"python manage.py pilot_check --tenant {request.tenant.slug}"
                + (f" --campaign {chosen.pk}" if chosen else ""),
            },
        )

    def post(self, request):
        chosen = self._chosen(request, request.POST.get("campaign", ""))
        run, created = pilot_runs.run_request(tenant=request.tenant, campaign=chosen, actor=request.user)
        if created:
            enqueue_after_commit(pilot_check_run, run.pk)  # swept by reporting.pilot_runs_resume
        return redirect(self._url(chosen))
