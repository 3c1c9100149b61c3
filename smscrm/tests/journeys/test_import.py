"""Journey: a CSV of customers with Australian numbers written every which way becomes contacts.

Upload, map the columns, declare consent, read the dry run, import, and watch the progress bar
until it is done. Each phase is a Celery task: it waits in the queue, bar showing, until the worker (``worker.run``,
in this test) takes it; the page polls the progress endpoint and shows the result by itself.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from contacts.models import Contact

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSV = """First name,Last name,Mobile,Email
Alice,Nguyen,0412 345 678,alice@example.com
Bob,Smith,+61412345679,bob@example.com
Chloé,Martin,61 4 1234 5680,chloe@example.com
Dan,Lee,(02) 9876 5432,dan@example.com
Eve,Brown,0412-345-681,
Fay,Wong,04 1234 5682,
Gus,Hill,0412 345 678,gus@example.com
"""
IMPORTED = {"+61412345678", "+61412345679", "+61412345680", "+61412345681", "+61412345682"}


def test_import_a_csv_with_mixed_australian_formats(journey, worker, owner, tenant):
    page = journey.page
    journey.sign_in(owner)
    journey.go("/contacts/imports/")
    expect(page.get_by_role("heading", level=1, name="Contact imports")).to_be_visible()
    page.get_by_label("File").set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": CSV.encode("utf-8")}
    )
    page.get_by_role("button", name="Upload").click()

    # Mapping and consent.
    expect(page.get_by_role("heading", level=1, name="Import: customers.csv")).to_be_visible()
    journey.check()
    page.get_by_label("Mobile", exact=True).select_option(label="Mobile phone")
    page.get_by_label("First name", exact=True).select_option(label="First name")
    page.get_by_label("Last name", exact=True).select_option(label="Last name")
    page.get_by_label("Email", exact=True).select_option(label="Email")
    page.get_by_label("One declaration for the whole file").check()
    page.get_by_label(re.compile(r"^Consent (kind|type)", re.I)).select_option(label="Express (they asked)")
    page.get_by_label(re.compile(r"^Consent source", re.I)).fill("In-store sign-up sheet")
    page.get_by_label(re.compile(r"^Consent obtained", re.I)).fill("2026-11-01T10:00")
    page.get_by_role("button", name=re.compile(r"Check every row")).click()

    watch_until_done(journey, run=worker.run, done="Preview ready")
    journey.check()
    outcomes = page.locator("table.counts")
    expect(outcomes.locator("tr", has_text="Create")).to_contain_text("5")
    expect(outcomes.locator("tr", has_text="Duplicate in file")).to_contain_text("1")
    expect(outcomes.locator("tr", has_text="Not a mobile")).to_contain_text("1")
    first_rows = page.locator("main table").filter(has_text="Why")
    expect(first_rows.locator("tr", has_text="Dan")).to_contain_text("Not a mobile")  # words, not codes
    expect(page.locator("main")).not_to_contain_text(re.compile(r"\b(not_mobile|invalid_phone|missing_consent)\b"))

    # Import, and watch it run.
    page.get_by_role("button", name="Import 5 contacts").click()
    watch_until_done(journey, run=worker.run, done="Imported")
    journey.check()
    expect(page.locator("table.counts").locator("tr", has_text="Create")).to_contain_text("5")
    # The rows left out, as written in the file, with the reason.
    with page.expect_download() as download:
        page.locator("main").get_by_role("link", name=re.compile(r"rejected rows", re.I)).click()
    rejected = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "(02) 9876 5432" in rejected and "'(02)" not in rejected
    assert "Dan" in rejected and "Gus" in rejected and "Alice" not in rejected

    # The next step is offered: the contacts just imported, and a campaign to them.
    expect(page.locator("main").get_by_role("link", name=re.compile(r"start a campaign", re.I))).to_be_visible()
    assert set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True)) == IMPORTED
    chloe = Contact.objects.get(tenant=tenant, phone_e164="+61412345680")
    assert (chloe.first_name, chloe.consent_status) == ("Chloé", "express")
    page.locator("main").get_by_role("link", name=re.compile(r"see the contacts", re.I)).click()
    journey.check()
    listed = page.locator("main")
    for name in ("Alice Nguyen", "Bob Smith", "Chloé Martin", "Eve Brown", "Fay Wong"):
        expect(listed).to_contain_text(name)
    expect(listed).not_to_contain_text("Dan Lee")  # a landline: rejected, never imported

    # Search ignores accents and case.
    journey.go("/contacts/")
    menu = journey.menu()
    expect(menu.get_by_role("link", name="Contacts", exact=True)).to_have_attribute("aria-current", "page")
    page.get_by_label("Search", exact=True).fill("chloe")
    page.get_by_label("Search", exact=True).press("Enter")
    expect(listed).to_contain_text("Chloé Martin")
    expect(listed).not_to_contain_text("Alice Nguyen")
    journey.check()
    journey.assert_clean()


def watch_until_done(journey, *, run, done: str) -> None:
    """The bar shows while the phase waits for a worker; once the task ran, the page shows ``done``."""
    page = journey.page
    expect(page.locator("progress#progress")).to_be_visible()
    journey.check()  # the page as it is while running: the bar, its text, the live region
    assert run() != []  # the worker takes the queued task
    expect(page.locator("#status-label")).to_have_text(done, timeout=10_000)  # polled, then reloaded
    expect(page.locator("progress#progress")).to_have_count(0)
