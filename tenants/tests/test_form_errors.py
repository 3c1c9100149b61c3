"""A form sent back with errors starts with a summary that links to each field, and every
``aria-describedby`` names an element that exists (the help text or the error)."""

import html
import re

import pytest
from django.urls import reverse

from campaigns.tests.factories import ProviderAccountFactory, TemplateFactory
from contacts.tests.factories import ContactFactory
from tenants.testing import client_for


def ids_on(page: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', page))


def dangling_descriptions(page: str) -> list[str]:
    """The ids ``aria-describedby`` names that no element on the page has."""
    ids = ids_on(page)
    named = [name for value in re.findall(r'aria-describedby="([^"]*)"', page) for name in value.split()]
    return [name for name in named if name not in ids]


def summary(page: str) -> str:
    found = re.search(r'<div class="error-summary" role="alert"[^>]*>(.*?)</div>', page, re.S)
    assert found, "no error summary on the page"
    return html.unescape(found[1])


def test_add_contact_errors_are_summed_up_at_the_top_with_links_to_their_fields(tenant, members):
    response = client_for(members["staff"]).post(reverse("contacts:create"), {"phone": "12", "source": "counter"})
    assert response.status_code == 400
    page = response.content.decode()
    top = summary(page)
    assert "Please fix 3 problems" in top
    links = re.findall(r'<a href="#([^"]+)">([^<]*)</a>', top)
    assert [target for target, _ in links] == ["id_phone", "id_kind", "id_captured_at"]
    assert links[1][1].startswith("Kind of consent: Choose how consent was given")
    assert {target for target, _ in links} <= ids_on(page)
    assert page.index('class="error-summary"') < page.index('id="id_phone"')  # above the fields
    assert page.count('role="alert"') == 1  # one announcement, not one per field
    assert '<script src="/static/js/form-errors.js" defer></script>' in page
    # The phone input is described by its help text and its error, both on the page.
    phone = re.search(r'<input[^>]*name="phone"[^>]*>', page)[0]
    assert 'aria-describedby="id_phone_helptext id_phone_error"' in phone and 'aria-invalid="true"' in phone
    assert dangling_descriptions(page) == []


def test_a_single_problem_is_counted_in_the_singular(tenant, members):
    page = client_for(members["staff"]).post(reverse("contacts:create"), {"phone": "12"}).content.decode()
    assert "Please fix 1 problem<" in page


def test_a_form_without_errors_has_no_summary(tenant, members):
    page = client_for(members["staff"]).get(reverse("contacts:create")).content.decode()
    assert "error-summary" not in page and "form-errors.js" not in page


@pytest.fixture
def form_pages(tenant, members, tmp_path):
    from contacts.tests.test_views import uploaded_import

    ProviderAccountFactory(tenant=tenant)
    template = TemplateFactory(tenant=tenant)
    imp = uploaded_import(tenant, members["staff"], tmp_path)
    return [
        (reverse("contacts:create"), {"phone": "12", "source": "x"}),
        (reverse("contacts:edit", args=[ContactFactory(tenant=tenant).pk]), {"phone": "12"}),
        (reverse("contacts:dnc"), {"numbers": "", "reason": "manual"}),
        (reverse("contacts:imports"), {}),
        (reverse("contacts:import", args=[imp.pk]), {"consent_mode": "declaration", "consent_captured_at": "soon"}),
        (reverse("campaigns:numbers"), {"sender": "12", "warmup_started_on": ""}),
        (reverse("campaigns:create"), {"name": "", "starts_at": "later"}),
        (reverse("campaigns:template_create"), {"name": "", "body_1": "Hi {{ frist_name }}"}),
        (reverse("campaigns:template", args=[template.pk]), {"name": ""}),
        (reverse("tenants:settings"), {"daily_budget_cents": "lots"}),
        (reverse("tenants:members"), {"email": "not an address", "role": "staff"}),
    ]


def test_every_form_page_describes_its_fields_with_ids_that_exist(form_pages, members):
    client = client_for(members["owner"])
    for url, data in form_pages:
        shown = client.get(url).content.decode()
        assert dangling_descriptions(shown) == [], url
        refused = client.post(url, data)
        assert refused.status_code == 400, (url, refused.status_code)
        page = refused.content.decode()
        assert dangling_descriptions(page) == [], url
        assert "Please fix" in page, url
        assert ids_on(page) >= set(re.findall(r'<a href="#([^"]+)">', summary(page))), url
