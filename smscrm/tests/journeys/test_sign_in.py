"""Journey: an owner signs in with the link e-mailed to them and lands on their business's dashboard."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_by_the_emailed_link(journey, mailoutbox, owner, tenant):
    page = journey.page
    journey.go("/")  # signed out: the sign-in page
    expect(page.get_by_role("heading", level=1, name="Sign in")).to_be_visible()
    page.get_by_label("Work e-mail").fill(owner.email)
    page.get_by_role("button", name="E-mail me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    journey.check()

    assert len(mailoutbox) == 1 and mailoutbox[0].to == [owner.email]
    link = re.search(r"https?://\S+", mailoutbox[0].body).group(0)
    assert link.startswith(journey.url("/login/auth/?sesame="))
    page.goto(link)
    expect(page.get_by_role("heading", name=f"Sign in as {owner.email}")).to_be_visible()
    journey.check()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1, name=tenant.name)).to_be_visible()
    expect(page.locator("#sending-state")).to_have_text("Live")
    journey.check()

    # The menu (folded away on a phone) leads on, and marks where one is.
    menu = journey.menu()
    journey.check()  # with the menu open
    menu.get_by_role("link", name="Contacts", exact=True).click()
    expect(page.get_by_role("heading", level=1, name="Contacts")).to_be_visible()
    expect(journey.menu().get_by_role("link", name="Contacts", exact=True)).to_have_attribute("aria-current", "page")
    journey.check()
    journey.assert_clean()
