"""Journey: write a template with two variants, watching the segment counter while typing."""

import re

import pytest
from playwright.sync_api import expect

from campaigns.models import Template

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FIRST = "Hi {{ first_name|there }}, fresh sourdough is out of the oven."
MORE = (
    " Come by before noon and get a second loaf for half price."
    " Bring a friend, bring a bag, and tell us what you think!"
)
SECOND = "Hi {{ first_name|there }} 🥐 croissants are back: {{ link }}"


def test_write_a_two_variant_template_and_watch_the_segment_counter(journey, owner, tenant):
    page = journey.page
    journey.sign_in(owner)
    journey.go("/campaigns/templates/")
    page.locator("main").get_by_role("link", name=re.compile(r"new template", re.I)).click()
    expect(page.get_by_role("heading", level=1, name="New template")).to_be_visible()
    journey.check()

    page.get_by_label("Name", exact=True).fill("Bread day")
    first = page.get_by_label(re.compile(r"^Variant 1"))
    first_count = page.locator('[data-segments-for="id_body_1"]')
    first.press_sequentially(FIRST)
    expect(first_count).to_contain_text(re.compile(r"GSM-7.*\b1 segment\b"))
    first.press_sequentially(MORE)  # past 160 characters: two segments
    expect(first_count).to_contain_text(re.compile(r"\b2 segments\b"))
    journey.check()

    second = page.get_by_label(re.compile(r"^Variant 2"))
    second_count = page.locator('[data-segments-for="id_body_2"]')
    second.press_sequentially(SECOND)
    expect(second_count).to_contain_text(re.compile(r"UCS-2.*\b1 segment\b.*🥐"))
    journey.check()
    page.locator("main form").get_by_role("button", name="Save").click()

    expect(page.get_by_role("heading", level=1, name="Template “Bread day”")).to_be_visible()
    journey.check()
    template = Template.objects.get(tenant=tenant, name="Bread day")
    assert [v.body for v in template.variants.order_by("position")] == [FIRST + MORE, SECOND]
    previews = page.locator("#previews")
    expect(previews.get_by_role("heading", name="Variant 1")).to_be_visible()
    expect(previews.get_by_role("heading", name="Variant 2")).to_be_visible()
    expect(page.locator("#variant-2-preview")).to_contain_text("UCS-2")
    # The saved form keeps both variants, and the counters show them again.
    expect(page.get_by_label(re.compile(r"^Variant 2"))).to_have_value(SECOND)
    expect(page.locator('[data-segments-for="id_body_2"]')).to_contain_text("UCS-2")
    journey.assert_clean()
