"""Journeys: add a contact by hand (with consent, after a mistake), and put numbers on the do-not-contact list."""

import re

import pytest
from playwright.sync_api import expect

from contacts.models import ConsentRecord, Contact, DoNotContact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_add_a_contact_with_consent_after_fixing_a_mistake(journey, owner, tenant):
    page = journey.page
    journey.sign_in(owner)
    journey.go("/contacts/")
    page.locator("main").get_by_role("link", name="Add a contact").click()
    expect(page.get_by_role("heading", level=1, name="Add a contact")).to_be_visible()
    journey.check()

    # A number that cannot be right: the error is shown at the top, and focus goes to it.
    page.get_by_label("Phone", exact=True).fill("12")
    page.get_by_label("First name").fill("Zoë")
    page.get_by_label("Last name").fill("Adams")
    page.locator("main form").get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1, name="Add a contact")).to_be_visible()
    journey.check()
    first_error = page.locator("main .error, main [role=alert]").first
    expect(first_error).to_be_in_viewport()  # above the fold, without scrolling
    # The deferred script moves the focus: wait for it, up to 5 s (raises on timeout).
    page.wait_for_function(
        "() => { const el = document.activeElement;"
        " return !!el && (el.id === 'id_phone' || !!el.closest('[role=alert], .error-summary, .errors')); }",
        timeout=5_000,
    )
    assert missing_described_by(page) == [], "aria-describedby names ids that are not on the page"
    assert not Contact.objects.filter(tenant=tenant).exists()

    # Fixed, with consent given in store on a known day.
    page.get_by_label("Phone", exact=True).fill("0412 345 690")
    consent = page.get_by_role("group", name=re.compile(r"consent", re.I))
    consent.get_by_label(re.compile(r"kind|type|how", re.I)).select_option(label="Express (they asked)")
    consent.get_by_label(re.compile(r"source|where", re.I)).fill("In-store sign-up sheet")
    consent.get_by_label(re.compile(r"obtained|when|captured", re.I)).fill("2026-11-20T09:30")
    page.locator("main form").get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1, name="Zoë Adams")).to_be_visible()
    journey.check()
    expect(page.locator("main")).to_contain_text("0412 345 690")
    contact = Contact.objects.get(tenant=tenant)
    assert (contact.phone_e164, contact.consent_status) == ("+61412345690", "express")
    record = ConsentRecord.objects.get(contact=contact)
    assert (record.kind, record.source) == ("express", "In-store sign-up sheet")
    assert record.captured_at.isoformat().startswith("2026-11-19T22:30")  # 9:30 in Sydney (UTC+11)

    # Consent is never recorded by accident: typing only where it came from records none.
    journey.go("/contacts/new/")
    page.get_by_label("Phone", exact=True).fill("0412 345 699")
    page.get_by_label("First name").fill("Sam")
    consent = page.get_by_role("group", name=re.compile(r"consent", re.I))
    consent.get_by_label(re.compile(r"source|where", re.I)).fill("Market stall")
    page.locator("main form").get_by_role("button", name="Save").click()
    page.wait_for_load_state("load")
    journey.check()
    assert not ConsentRecord.objects.filter(contact__phone_e164="+61412345699").exists()

    # The activity log records it.
    journey.go("/activity/")
    expect(page.locator("main")).to_contain_text(re.compile(r"Zoë Adams|0412 345 690"))
    journey.assert_clean()


def test_add_numbers_to_the_do_not_contact_list(journey, owner, tenant):
    page = journey.page
    journey.sign_in(owner)
    journey.go("/contacts/do-not-contact/")
    expect(page.get_by_role("heading", level=1, name="Do-not-contact list")).to_be_visible()
    expect(page.locator("main")).to_contain_text("The list is empty")

    page.get_by_label("Numbers").fill("0412 345 691\n+61 412 345 692")
    page.get_by_label("Reason").select_option(label="Complaint")
    page.get_by_label("Note").fill("Asked in store not to be texted")
    page.get_by_role("button", name="Add to the list").click()
    journey.check()
    rows = page.locator("main table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="0412 345 691")).to_contain_text("Complaint")
    expect(rows.filter(has_text="0412 345 692")).to_contain_text("Asked in store not to be texted")
    assert set(DoNotContact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True)) == {
        "+61412345691",
        "+61412345692",
    }

    # Found again by the number in another format.
    page.get_by_label("Find a number").fill("+61412345692")
    page.get_by_role("button", name="Find").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("0412 345 692")
    journey.check()

    # A number not on the list: the search says nothing matches, not that the list is empty.
    page.get_by_label("Find a number").fill("0499 999 999")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("main")).not_to_contain_text("The list is empty")
    journey.check()
    journey.assert_clean()


def missing_described_by(page) -> list[str]:
    """The ids that aria-describedby attributes name but the page does not have."""
    return page.evaluate(
        "() => [...document.querySelectorAll('[aria-describedby]')]"
        ".flatMap(el => el.getAttribute('aria-describedby').split(/\\s+/).filter(Boolean))"
        ".filter(id => !document.getElementById(id))"
    )
