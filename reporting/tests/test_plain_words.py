"""The campaign report names why a fetch was not counted in words, not codes."""

import html

import pytest
from django.urls import reverse

from reporting.tests.test_report import campaign  # noqa: F401 (the hand-counted campaign, a fixture)
from tenants.testing import client_for


@pytest.mark.django_db
def test_uncounted_fetches_are_named_in_words(campaign, owner):  # noqa: F811
    page = html.unescape(
        client_for(owner).get(reverse("reporting:campaign_report", args=[campaign.pk])).content.decode()
    )
    assert "<td>Link preview</td><td>2</td>" in page  # two fetches by a messaging app's preview
    assert "link_preview" not in page


def test_counts_on_the_estimate_and_launch_summary_have_thousands_separators():
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    estimate = SimpleNamespace(
        audience=12_345, targeted=23_456, removed=(("dnc", "on the do-not-contact list", 11_111),),
        worst_segments=1, cents_per_segment=5, cost_cents=61_725, unpriced=(("NZ", 1_002),), waiting=(), variants=[],
    )  # fmt: skip
    shown = html.unescape(render_to_string("campaigns/_estimate.html", {"estimate": estimate}))
    assert "12,345 contacts would be sent to, of 23,456 picked" in shown
    assert "11,111 on the do-not-contact list" in shown and "1,002 contacts in NZ" in shown
    assert "$617.25" in shown
