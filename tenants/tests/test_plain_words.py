"""People read words and dollars, not codes and cents: settings, the admin and the activity log."""

import datetime as dt
import html
import re

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from campaigns.tests.factories import CampaignFactory
from messaging.models import Price
from tenants.models import AuditEvent
from tenants.money import DollarsField, format_aud
from tenants.testing import client_for

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded, whitespace squeezed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def input_value(response, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', response.content.decode())
    assert match, f"no input {name}"
    return html.unescape(re.search(r'value="([^"]*)"', match[0])[1])


# --- the one dollars field and the one display ---------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("100", 10_000), ("100.5", 10_050), ("12.34", 1_234), ("$1,250.00", 125_000), (" 0.05 ", 5), ("0", 0)],
)
def test_dollars_field_takes_dollars_and_gives_cents(typed, cents):
    assert DollarsField().clean(typed) == cents


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("-5", "cannot be negative"),
        ("1.005", "at most two decimal places"),
        ("ten dollars", "Enter an amount in dollars"),
        ("NaN", "Enter an amount in dollars"),
        ("1e3", "Enter an amount in dollars"),
        ("9" * 30, "cannot be more than $92,233,720,368,547,758.07"),
        ("", "This field is required"),
    ],
)
def test_dollars_field_refuses_with_a_reason(typed, says):
    with pytest.raises(ValidationError) as refused:
        DollarsField().clean(typed)
    assert says in " ".join(refused.value.messages)


def test_dollars_field_shows_stored_cents_as_dollars():
    assert DollarsField().prepare_value(10_000) == "100.00"
    assert (format_aud(3325), format_aud(123_456_789), format_aud(-50), format_aud(None)) == (
        "$33.25",
        "$1,234,567.89",
        "-$0.50",
        "",
    )


# --- the settings page ---------------------------------------------------------------------------


def _settings_data(tenant, **changes):
    data = {
        "name": tenant.name,
        "business_name": tenant.business_name,
        "timezone": tenant.timezone,
        "suppression_days": 90,
        "quiet_hours_start": 20,
        "quiet_hours_end": 9,
        "daily_budget_cents": "100.00",
        "monthly_budget_cents": "2000.00",
        "contact_details": "",
        "opt_out_reply": tenant.opt_out_reply,
        "opt_in_reply": tenant.opt_in_reply,
        "help_reply": tenant.help_reply,
        "opt_out_phrases": "",
        "opt_out_line": "Reply STOP to opt out",
        "short_domain": "",
        "link_ttl_days": 60,
    }
    return data | changes


def test_settings_show_budgets_in_dollars_and_fields_in_words(tenant, owner):
    page = client_for(owner).get(reverse("tenants:settings"))
    assert page.status_code == 200
    words = text(page)
    assert input_value(page, "daily_budget_cents") == "100.00"  # the default 10,000 cents
    assert input_value(page, "monthly_budget_cents") == "2000.00"
    assert "Daily budget cap ($ AUD)" in words and "Monthly budget cap ($ AUD)" in words
    assert "Short link lifetime (days)" in words and "Short link domain" in words
    for code in ("Link ttl days", "SHORT_DOMAIN", "cents", "Short domain"):
        assert code not in words, code


def test_settings_store_dollars_as_cents_and_explain_a_bad_amount(tenant, owner):
    client = client_for(owner)
    response = client.post(reverse("tenants:settings"), _settings_data(tenant, daily_budget_cents="75.50"))
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.daily_budget_cents, tenant.monthly_budget_cents) == (7_550, 200_000)

    response = client.post(reverse("tenants:settings"), _settings_data(tenant, daily_budget_cents="75.505"))
    assert response.status_code == 400
    assert "Use at most two decimal places (whole cents), such as 12.50." in text(response)
    assert input_value(response, "daily_budget_cents") == "75.505"  # what the person typed, to correct
    tenant.refresh_from_db()
    assert tenant.daily_budget_cents == 7_550


# --- the admin -------------------------------------------------------------------------------------


def test_admin_takes_and_shows_money_in_dollars(staff_owner, tenant):
    client = client_for(staff_owner)
    response = client.post(
        reverse("admin:messaging_price_add"),
        {
            "tenant": tenant.pk,
            "provider": "twilio",
            "country": "AU",
            "cents_per_segment": "0.05",
            "effective_from": "2026-01-01",
        },
    )
    assert response.status_code == 302, text(response)[:2000]
    assert Price.objects.get(tenant=tenant).cents_per_segment == 5
    prices = text(client.get(reverse("admin:messaging_price_changelist")))
    assert "$0.05" in prices and "Price per segment" in prices

    change = client.get(reverse("admin:tenants_tenant_change", args=[tenant.pk]))
    assert input_value(change, "daily_budget_cents") == "100.00"
    words = text(change)
    assert "Daily budget cap ($ AUD)" in words and "Short link lifetime (days)" in words
    assert "Link ttl days" not in words and "SHORT_DOMAIN" not in words
    assert "$100.00" in text(client.get(reverse("admin:tenants_tenant_changelist")))


def test_read_only_admin_pages_show_dollars_not_cents(staff_owner, tenant):
    campaign = CampaignFactory(tenant=tenant, estimated_cost_cents=5_763)
    page = text(client_for(staff_owner).get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])))
    assert "$57.63" in page
    assert "5763" not in page and "Estimated cost cents" not in page


# --- the activity log -------------------------------------------------------------------------------


def test_activity_reads_as_sentences_without_codes_or_empty_fields(tenant, owner):
    AuditEvent.objects.create(
        tenant=tenant,
        action="inbound.opted_out",
        target="+61412345678",
        data={"matched": "STOP", "intent": "opt_out", "campaign": None},
    )
    AuditEvent.objects.create(
        tenant=tenant,
        actor=owner,
        action="tenant.budget_changed",
        target=tenant.name,
        data={"daily_budget_cents": {"from": 10_000, "to": 5_000}},
    )
    AuditEvent.objects.create(
        tenant=tenant,
        action="dnc.removed",
        target="+61412345678",
        data={"reason": "Asked again", "entry_reason": "stop_keyword", "added": "2026-11-24T21:48:38.123456+00:00"},
    )
    AuditEvent.objects.create(tenant=tenant, action="import.committed", target="a.csv", data={"create": 12_345})
    page = text(client_for(owner).get(reverse("tenants:activity")))

    assert "Opted out by text" in page and "Words that matched: STOP" in page and "How: STOP keyword" in page
    assert "Changed the budget caps" in page and "Daily budget cap: $100.00 → $50.00" in page
    # Times in the business's zone (Sydney, UTC+11 in November), to the minute.
    assert "On the list since: 25 Nov 2026 08:48" in page and "It was on the list because: replied STOP" in page
    assert "Imported contacts" in page and "New contacts: 12,345" in page
    for code in ("inbound.opted_out", "tenant.budget_changed", "campaign: None", "None", "opt_out", "10000", ".123456"):
        assert code not in page, code


def test_an_action_nobody_worded_still_reads_as_words(tenant, owner):
    AuditEvent.objects.create(tenant=tenant, action="campaign.reshuffled_queue", data={"extra_field": True})
    page = text(client_for(owner).get(reverse("tenants:activity")))
    assert "Campaign: reshuffled queue" in page and "Extra field: yes" in page
    assert "campaign.reshuffled_queue" not in page


def test_a_viewer_reads_a_price_in_dollars_in_the_admin(tenant, members):
    viewer = members["viewer"]
    viewer.is_staff = True
    viewer.save()
    price = Price.objects.create(tenant=tenant, country="AU", cents_per_segment=7, effective_from=dt.date(2026, 1, 1))
    page = client_for(viewer).get(reverse("admin:messaging_price_change", args=[price.pk]))
    assert page.status_code == 200
    assert "$0.07" in text(page) and "Price per segment" in text(page)
    assert 'name="cents_per_segment"' not in page.content.decode()  # read-only: no input


def test_the_admin_audit_log_reads_in_words(staff_owner, tenant):
    event = AuditEvent.objects.create(
        tenant=tenant,
        action="consent.recorded",
        target="+61412345678",
        data={"kind": "express", "captured_at": "2026-11-22T03:00:00.038592+00:00", "campaign": None},
    )
    client = client_for(staff_owner)
    listing = text(client.get(reverse("admin:tenants_auditevent_changelist")))
    assert "Recorded consent" in listing
    page = text(client.get(reverse("admin:tenants_auditevent_change", args=[event.pk])))
    assert "Recorded consent" in page and "Kind: express consent; Obtained: 22 Nov 2026 14:00" in page
    assert ".038592" not in page
