"""The main menu marks where the reader is: ``aria-current="page"`` on the link to the page shown,
``aria-current="true"`` on the entry a deeper page lies under (a contact's page under Contacts)."""

import re

import pytest
from django.urls import reverse

from campaigns.tests.factories import CampaignFactory
from contacts.tests.factories import ContactFactory
from tenants.testing import client_for

pytestmark = pytest.mark.django_db

MENU = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.S)
LINK = re.compile(r"<a ([^>]*)>(.*?)</a>", re.S)


def marked(response) -> list[tuple[str, str]]:
    """(aria-current value, link text) of every marked link in the main menu."""
    menu = MENU.search(response.content.decode()).group(1)
    found = []
    for attrs, label in LINK.findall(menu):
        if current := re.search(r'aria-current="([^"]+)"', attrs):
            found.append((current.group(1), re.sub(r"<[^>]+>", "", label).strip()))
    return found


@pytest.mark.parametrize(
    ("url_name", "label"),
    [
        ("reporting:dashboard", "Dashboard"),
        ("contacts:list", "Contacts"),
        ("contacts:imports", "Imports"),
        ("contacts:dnc", "Do-not-contact"),
        ("campaigns:list", "Campaigns"),
        ("messaging:inbox", "Inbox"),
        ("tenants:settings", "Settings"),
        ("tenants:members", "Members"),
        ("tenants:activity", "Activity"),
        ("reporting:pilot_check", "Pilot check"),
    ],
)
def test_the_menu_marks_the_page_shown(url_name, label, owner):
    response = client_for(owner).get(reverse(url_name))
    assert response.status_code == 200
    assert marked(response) == [("page", label)]


def test_a_deeper_page_marks_the_entry_it_lies_under(owner, tenant):
    client = client_for(owner)
    contact = ContactFactory(tenant=tenant)
    campaign = CampaignFactory(tenant=tenant)
    for url, label in (
        (reverse("contacts:detail", args=[contact.pk]), "Contacts"),
        (reverse("contacts:create"), "Contacts"),
        (reverse("campaigns:detail", args=[campaign.pk]), "Campaigns"),
        (reverse("campaigns:templates"), "Campaigns"),
        (reverse("campaigns:numbers"), "Campaigns"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert marked(response) == [("true", label)], url
