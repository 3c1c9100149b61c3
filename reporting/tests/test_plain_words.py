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
