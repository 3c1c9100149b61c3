"""After an import: the next step is offered; before it: an import waiting in preview can be discarded."""

import html
import re
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts import services
from contacts.imports import media_path
from contacts.models import ConsentRecord, Contact, ContactImport
from contacts.tests.factories import ContactFactory
from tenants.models import AuditEvent
from tenants.testing import assert_hidden_from, assert_roles, client_for

pytestmark = pytest.mark.django_db

CSV = b"Mobile,First Name\r\n0412 100 001,Ada\r\n0412 100 002,Grace\r\n02 9876 5432,Land\r\n"


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def previewed(tenant, user, tmp_path, *, tags=()) -> ContactImport:
    source = tmp_path / f"{uuid.uuid4().hex}.csv"
    source.write_bytes(CSV)
    imp = services.contact_import_upload(tenant=tenant, actor=user, source=source, original_name="people.csv")
    services.contact_import_configure(
        contact_import=imp,
        actor=user,
        mapping=imp.mapping,
        custom_columns=[],
        add_tags=list(tags),
        consent_mode="declaration",
        consent_kind="express",
        consent_source="sign-up form",
        consent_captured_at=timezone.now() - timedelta(days=3),
    )
    services.contact_import_run_preview(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.PREVIEWED
    return imp


def committed(tenant, user, tmp_path, *, tags=()) -> ContactImport:
    imp = previewed(tenant, user, tmp_path, tags=tags)
    services.contact_import_commit(contact_import=imp, actor=user)
    services.contact_import_run_commit(import_id=imp.pk)
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.COMMITTED
    return imp


def page(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def links(shown: str) -> dict[str, str]:
    """Link text → href of every link on a page."""
    found = re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', shown, re.S)
    return {" ".join(re.sub(r"<[^>]+>", "", text).split()): href for href, text in found}


# --- the next step --------------------------------------------------------------------------


def test_a_committed_import_offers_its_contacts_and_a_campaign_to_them(tenant, members, tmp_path):
    ContactFactory(tenant=tenant, first_name="Already", last_name="Here")
    imp = committed(tenant, members["staff"], tmp_path, tags=["spring fair"])
    staff = client_for(members["staff"])
    shown = links(page(staff, reverse("contacts:import", args=[imp.pk])))

    see = shown["See the contacts this import added or updated"]
    assert see == f"{reverse('contacts:list')}?imported={imp.pk}"
    listed = page(staff, reverse("contacts:list"), imported=str(imp.pk))
    assert "Ada" in listed and "Grace" in listed and "Already Here" not in listed
    assert "2 contacts match" in " ".join(re.sub(r"<[^>]+>", " ", listed).split())

    start = shown["Start a campaign to them (tagged spring fair)"]
    assert start == f"{reverse('campaigns:create')}?tags=spring%20fair"
    form = page(staff, start)
    assert re.search(r'<input[^>]*name="tags"[^>]*value="spring fair"', form)


def test_without_a_tag_the_campaign_link_says_it_cannot_pick_them_out(tenant, members, tmp_path):
    imp = committed(tenant, members["staff"], tmp_path)
    shown = page(client_for(members["staff"]), reverse("contacts:import", args=[imp.pk]))
    assert links(shown)["Start a campaign"] == reverse("campaigns:create")
    assert "This import added no tag, so a campaign cannot pick out just these people" in shown


def test_the_imported_filter_never_shows_another_tenants_import(tenant, other_tenant, members, other_owner, tmp_path):
    theirs = committed(other_tenant, other_owner, tmp_path)
    ours = client_for(members["viewer"])
    assert Contact.objects.filter(tenant=other_tenant).count() == 2
    listed = page(ours, reverse("contacts:list"), imported=str(theirs.pk))
    assert "Ada" not in listed and "No contacts match these filters." in listed
    assert "No contacts match these filters." in page(ours, reverse("contacts:list"), imported="1'--")


def test_the_next_step_is_not_offered_before_the_commit(tenant, members, tmp_path):
    imp = previewed(tenant, members["staff"], tmp_path)
    shown = page(client_for(members["staff"]), reverse("contacts:import", args=[imp.pk]))
    assert "See the contacts this import added or updated" not in shown


# --- discarding -----------------------------------------------------------------------------


def test_a_previewed_import_is_discarded_with_its_file_and_rows(
    tenant, members, tmp_path, django_capture_on_commit_callbacks
):
    imp = previewed(tenant, members["staff"], tmp_path)
    upload, rejected = media_path(imp.file_path), media_path(imp.rejected_path)
    assert upload.exists() and rejected.exists() and imp.preview_rows and imp.sample_rows
    staff = client_for(members["staff"])
    url = reverse("contacts:import", args=[imp.pk])
    assert 'id="discard-form"' in page(staff, url)

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the discard is committed
        response = staff.post(reverse("contacts:import_discard", args=[imp.pk]))
    assert response.status_code == 302 and response["Location"] == url
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.DISCARDED
    assert (imp.preview_rows, imp.sample_rows, imp.rejected_path) == ([], [], "")
    assert not upload.exists() and not rejected.exists()
    assert not Contact.objects.filter(tenant=tenant).exists()
    event = AuditEvent.objects.get(tenant=tenant, action=services.ContactAction.IMPORT_DISCARDED)
    assert (event.actor, event.target) == (members["staff"], "people.csv")

    shown = page(staff, url)
    assert "Status: Discarded" in re.sub(r"<[^>]+>", "", shown)
    assert "nothing from this file was imported" in shown
    assert 'id="discard-form"' not in shown and "Import 2 contacts" not in shown
    assert "Discarded" in page(staff, reverse("contacts:imports"))
    # It cannot be brought back to life: neither committed nor configured again.
    staff.post(reverse("contacts:import_commit", args=[imp.pk]))
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.DISCARDED


def test_a_committed_import_cannot_be_discarded(tenant, members, tmp_path):
    imp = committed(tenant, members["staff"], tmp_path)
    staff = client_for(members["staff"])
    assert 'id="discard-form"' not in page(staff, reverse("contacts:import", args=[imp.pk]))
    response = staff.post(reverse("contacts:import_discard", args=[imp.pk]), follow=True)
    assert "only an import that was not imported can be discarded" in html.unescape(response.content.decode())
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.COMMITTED and media_path(imp.file_path).exists()
    assert Contact.objects.filter(tenant=tenant).count() == 2


def test_a_failed_commit_that_wrote_rows_cannot_be_discarded(tenant, members, tmp_path):
    imp = previewed(tenant, members["staff"], tmp_path)
    ContactImport.objects.filter(pk=imp.pk).update(status=ContactImport.Status.FAILED, committed_rows=2)
    with pytest.raises(ValidationError, match="The first 2 rows of this file were already imported"):
        services.contact_import_discard(contact_import=imp, actor=members["staff"])
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.FAILED


def test_an_import_configured_again_after_a_half_written_commit_cannot_be_discarded(tenant, members, tmp_path):
    """Configuring again resets committed_rows; the contacts the first attempt wrote still point at it."""
    imp = committed(tenant, members["staff"], tmp_path)
    ContactImport.objects.filter(pk=imp.pk).update(status=ContactImport.Status.PREVIEWED, committed_rows=0)
    imp.refresh_from_db()
    staff = client_for(members["staff"])
    assert 'id="discard-form"' not in page(staff, reverse("contacts:import", args=[imp.pk]))
    with pytest.raises(ValidationError, match="already wrote some of its rows"):
        services.contact_import_discard(contact_import=imp, actor=members["staff"])
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.PREVIEWED and media_path(imp.file_path).exists()


def test_discarding_is_for_staff_up_by_post_with_csrf_and_hidden_from_other_tenants(
    tenant, members, other_owner, tmp_path
):
    imps = iter(previewed(tenant, members["staff"], tmp_path) for _ in range(4))
    assert_roles(
        lambda: reverse("contacts:import_discard", args=[next(imps).pk]),
        members=members,
        allowed={"staff", "admin", "owner"},
        method="post",
    )
    imp = previewed(tenant, members["staff"], tmp_path)
    url = reverse("contacts:import_discard", args=[imp.pk])
    assert_hidden_from(url, user=other_owner, method="post")
    assert client_for(members["owner"]).get(url).status_code == 405  # a link cannot discard
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(members["owner"])
    assert strict.post(url).status_code == 403
    imp.refresh_from_db()
    assert imp.status == ContactImport.Status.PREVIEWED


def test_the_audit_log_names_who_committed_the_import_not_who_uploaded_it(tenant, members, tmp_path):
    imp = previewed(tenant, members["staff"], tmp_path)
    services.contact_import_commit(contact_import=imp, actor=members["owner"])
    services.contact_import_run_commit(import_id=imp.pk)
    event = AuditEvent.objects.get(tenant=tenant, action=services.ContactAction.IMPORT_COMMITTED)
    assert event.actor == members["owner"]
    # The consent records it wrote name the same person (who decided the rows go in).
    recorders = set(ConsentRecord.objects.filter(source_import=imp).values_list("recorded_by", flat=True))
    assert recorders == {members["owner"].pk}
