"""The dashboard (``/``): the business's sending state, its limits and the figures of
``reporting.dashboard``. A reporting page, so the tenants app never loads reporting's tags.

The view gathers the figures (computing the stored ones the first time, asking for a
background refresh when they are stale) before it renders: the template only reads.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views import View

from reporting.dashboard import dashboard
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm, role_allows
from webhooks.selectors import disabled_for_failing


class DashboardView(TenantScopedMixin, View):
    def get(self, request):
        tenant = request.tenant
        context = {**dashboard(tenant), "tenant": tenant}
        # Webhooks the delivery engine gave up on: the admins who can fix and enable them are told.
        if role_allows(request.membership.role, Perm.SETTINGS_MANAGE):
            context["disabled_webhooks"] = disabled_for_failing(tenant=tenant)
        return render(request, "reporting/dashboard.html", context)
