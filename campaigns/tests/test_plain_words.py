"""A budget gate's reason, shown on the campaign and its report, names the cap in dollars."""

import pytest

from campaigns import dispatch
from campaigns.models import Gate, JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts


@pytest.mark.django_db
def test_a_budget_deferral_names_the_cap_in_dollars(tenant, clock):
    sending_setup(tenant, price=5)
    tenant.daily_budget_cents = 12  # room for two 5¢ messages, not three
    tenant.save(update_fields=["daily_budget_cents"])
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 3))
    assert dispatch.dispatch().sent == 2
    deferred = SendJob.objects.get(campaign=campaign, status=JobStatus.PENDING)
    assert deferred.gate == Gate.BUDGET
    assert deferred.reason == "Daily cap reached ($0.12)."
    assert "¢" not in deferred.reason
