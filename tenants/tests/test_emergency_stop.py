"""manage.py emergency_stop: every business paused through its own kill switch, audited; --lift
resumes only what the stop paused."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError

from campaigns import dispatch
from campaigns.models import JobStatus, SendJob
from campaigns.tests.test_dispatch import launched, sending_setup, sydney_contacts
from messaging.backends import locmem
from tenants.models import AuditEvent, Tenant
from tenants.services import TenantAction, tenant_set_paused
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("emergency_stop", *args, stdout=out)
    return out.getvalue()


def paused_slugs() -> set[str]:
    return set(Tenant.objects.filter(is_paused=True).values_list("slug", flat=True))


def test_the_stop_pauses_every_business_and_audits_why():
    a, b = TenantFactory(slug="alpha"), TenantFactory(slug="bravo")
    out = run("--reason", "provider incident")
    assert paused_slugs() == {"alpha", "bravo"}
    assert "paused         alpha" in out and "2 of 2 business(es) paused." in out
    for tenant in (a, b):
        event = AuditEvent.objects.get(tenant=tenant, action=TenantAction.TENANT_PAUSED)
        assert event.data == {"reason": "provider incident", "origin": "emergency_stop"}
        assert event.actor is None


def test_a_stopped_business_hands_nothing_over_until_lifted(tenant, clock):
    sending_setup(tenant)
    campaign = launched(tenant, contacts=sydney_contacts(tenant, 2))
    run("--reason", "provider incident")
    assert dispatch.dispatch().claimed == 0
    assert locmem.outbox == []
    run("--lift")
    assert dispatch.dispatch().sent == 2
    assert set(SendJob.objects.filter(campaign=campaign).values_list("status", flat=True)) == {JobStatus.SENT}


def test_lift_resumes_only_what_the_stop_paused():
    TenantFactory(slug="alpha")
    own = TenantFactory(slug="bravo")
    tenant_set_paused(tenant=own, actor=None, paused=True, reason="our own pause")  # before the stop
    run("--reason", "provider incident")
    out = run("--lift")
    assert paused_slugs() == {"bravo"}
    assert "resumed        alpha" in out
    assert "left paused    bravo (paused by its own staff, not by the stop)" in out
    resumed = AuditEvent.objects.get(tenant__slug="alpha", action=TenantAction.TENANT_RESUMED)
    assert resumed.data == {"reason": "emergency stop lifted", "origin": "emergency_stop"}


def test_a_business_re_paused_by_its_staff_during_the_stop_stays_paused():
    tenant = TenantFactory(slug="alpha")
    run("--reason", "provider incident")
    tenant_set_paused(tenant=tenant, actor=None, paused=False)
    tenant_set_paused(tenant=tenant, actor=None, paused=True, reason="we saw a typo")
    run("--lift")
    assert paused_slugs() == {"alpha"}


def test_running_it_twice_changes_and_audits_nothing_more():
    TenantFactory(slug="alpha")
    run("--reason", "provider incident")
    out = run("--reason", "provider incident")
    assert "already paused alpha" in out and "0 of 1 business(es) paused." in out
    assert AuditEvent.objects.filter(action=TenantAction.TENANT_PAUSED).count() == 1
    run("--lift")
    assert "0 of 1 business(es) resumed." in run("--lift")
    assert AuditEvent.objects.filter(action=TenantAction.TENANT_RESUMED).count() == 1


def test_tenant_limits_it_to_the_named_businesses():
    TenantFactory(slug="alpha"), TenantFactory(slug="bravo")
    run("--reason", "one bad template", "--tenant", "bravo")
    assert paused_slugs() == {"bravo"}


def test_refusals_name_the_cause():
    TenantFactory(slug="alpha")
    with pytest.raises(CommandError, match="no business with the slug\\(s\\): nosuch"):
        run("--reason", "x", "--tenant", "nosuch")
    with pytest.raises(CommandError, match="--reason must say why"):
        run("--reason", "   ")
    assert paused_slugs() == set()


def test_a_business_whose_pause_fails_does_not_keep_the_others_sending(monkeypatch):
    """One business's pause raising (a lock that waited too long, say) must not leave every business
    after it sending; the command names the failure and exits non-zero."""
    from tenants.management.commands import emergency_stop

    TenantFactory(slug="alpha"), TenantFactory(slug="bravo"), TenantFactory(slug="charlie")

    def flaky(*, tenant, **kwargs):
        if tenant.slug == "bravo":
            raise DatabaseError("canceling statement due to lock timeout")
        return tenant_set_paused(tenant=tenant, **kwargs)

    monkeypatch.setattr(emergency_stop, "tenant_set_paused", flaky)
    out = StringIO()
    with pytest.raises(CommandError, match="1 business\\(es\\) not paused: bravo"):
        call_command("emergency_stop", "--reason", "provider incident", stdout=out)
    assert paused_slugs() == {"alpha", "charlie"}
    assert "FAILED         bravo: canceling statement due to lock timeout" in out.getvalue()
    assert "2 of 3 business(es) paused." in out.getvalue()


def test_the_latest_pause_is_the_last_written_whatever_the_clocks_said(clock):
    """The stop run from a machine whose clock is a minute ahead of the web's: the staff's pause
    made after it carries an earlier time, and is still the one the business is paused by."""
    tenant = TenantFactory(slug="alpha")
    run("--reason", "provider incident")
    clock.shift(-60)
    tenant_set_paused(tenant=tenant, actor=None, paused=False)
    tenant_set_paused(tenant=tenant, actor=None, paused=True, reason="we saw a typo")
    assert "left paused    alpha" in run("--lift")
    assert paused_slugs() == {"alpha"}


def bravos_staff_do_the_same_meanwhile(monkeypatch):
    """The businesses are listed first and changed one by one (a pause waits for hand-offs under
    way): while the command changes alpha, bravo's staff pause or resume bravo themselves."""
    from tenants.management.commands import emergency_stop

    def and_bravos_staff_too(*, tenant, paused, **kwargs):
        result = tenant_set_paused(tenant=tenant, paused=paused, **kwargs)
        if tenant.slug == "alpha":
            tenant_set_paused(tenant=Tenant.objects.get(slug="bravo"), actor=None, paused=paused)
        return result

    monkeypatch.setattr(emergency_stop, "tenant_set_paused", and_bravos_staff_too)


def test_a_business_its_staff_paused_during_the_stop_is_reported_already_paused(monkeypatch):
    TenantFactory(slug="alpha"), TenantFactory(slug="bravo"), TenantFactory(slug="charlie")
    bravos_staff_do_the_same_meanwhile(monkeypatch)
    out = run("--reason", "provider incident")
    assert "already paused bravo" in out and "2 of 3 business(es) paused." in out


def test_a_business_its_staff_resumed_during_the_lift_is_reported_running(monkeypatch):
    TenantFactory(slug="alpha"), TenantFactory(slug="bravo"), TenantFactory(slug="charlie")
    run("--reason", "provider incident")
    bravos_staff_do_the_same_meanwhile(monkeypatch)
    out = run("--lift")
    assert "running        bravo" in out and "2 of 3 business(es) resumed." in out
