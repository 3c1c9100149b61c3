"""The pilot check's page: the same criteria as ``manage.py pilot_check``, for admins."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.views import View

from campaigns.models import Campaign
from reporting.pilot import pilot_check
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm


class PilotCheckView(TenantScopedMixin, View):
    permission = Perm.AUDIT_VIEW

    def get(self, request):
        campaigns = Campaign.objects.filter(tenant=request.tenant).order_by("-id")
        chosen = None
        wanted = request.GET.get("campaign", "")
        if wanted:
            if not wanted.isdigit():
                raise Http404("No such campaign.")
            chosen = campaigns.filter(pk=int(wanted)).first()
            if chosen is None:  # another tenant's, or none at all: the same answer
                raise Http404("No such campaign.")
        result = pilot_check(request.tenant, chosen)
        return render(
            request,
            "reporting/pilot.html",
            {
                "result": result,
                "campaigns": campaigns.exclude(jobs_created_at=None).only("id", "name")[:200],
                "chosen": chosen,
            },
        )
