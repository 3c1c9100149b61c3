"""The cutover check's page (/settings/cutover/): the same checklist as ``manage.py cutover_check``,
for the business's owners (it shows configuration details: URLs, accounts, the backup directory)."""

from collections import Counter

from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache

from smscrm import cutover
from tenants.mixins import TenantScopedMixin
from tenants.roles import Perm


@method_decorator(never_cache, name="dispatch")
class CutoverView(TenantScopedMixin, View):
    """Runs every check on each visit (the outside-world ones with short timeouts), GET only."""

    permission = Perm.CUTOVER_VIEW
    http_method_names = ["get", "head", "options"]

    def get(self, request):
        found = cutover.run(request.tenant)
        counts = Counter(item.status for item in found)
        return render(
            request,
            "smscrm/cutover.html",
            {
                "items": found,
                "counts": {"pass": counts[cutover.PASS], "fail": counts[cutover.FAIL], "todo": counts[cutover.TODO]},
                "ready": not cutover.failing(found),
                "command": f"python manage.py cutover_check --tenant {request.tenant.slug}",
            },
        )
