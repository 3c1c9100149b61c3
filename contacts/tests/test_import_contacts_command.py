"""manage.py import_contacts: the import page's upload, dry run and commit, from a terminal."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from contacts import services
from contacts.models import ConsentRecord, Contact, ContactImport, DncReason
from contacts.tests.test_imports import MIXED, write_csv

pytestmark = pytest.mark.django_db

DECLARED = {"consent_kind": "express", "consent_source": "shop sign-up sheet", "consent_date": "2026-03-01"}


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command("import_contacts", *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def counts(output: str) -> dict[str, int]:
    """The report's "  outcome   n" lines as {outcome: n}."""
    return {
        line.split()[0]: int(line.split()[1].replace(",", ""))
        for line in output.splitlines()
        if line.startswith("  ") and len(line.split()) == 2
    }


def test_a_dry_run_prints_the_preview_and_writes_no_contact(tenant, tmp_path):
    services.dnc_add(tenant=tenant, phone="0412345682", reason=DncReason.STOP_KEYWORD)
    output = run(str(write_csv(tmp_path, MIXED)), tenant=tenant.slug, dry_run=True, **DECLARED)
    assert output.startswith("Preview (import #")
    assert counts(output) == {
        "create": 4,
        "update": 0,
        "unchanged": 0,
        "duplicate": 1,
        "invalid_phone": 1,
        "not_mobile": 1,
        "missing_consent": 0,
        "dnc": 1,
    }
    assert ContactImport.objects.get(tenant=tenant).status == ContactImport.Status.PREVIEWED
    assert not Contact.objects.exists()


def test_an_import_commits_with_the_declared_consent_tags_and_kept_columns(tenant, tmp_path):
    path = write_csv(tmp_path, MIXED)
    output = run(str(path), tenant=tenant.slug, tag=["market-day"], keep=["Loyalty"], **DECLARED)
    assert "Imported (import #" in output and counts(output)["create"] == 5
    jose = Contact.objects.get(tenant=tenant, phone_e164="+61412345678")
    assert set(jose.tags) >= {"vip", "market-day"} and jose.custom_fields["Loyalty"] == "gold"
    record = ConsentRecord.objects.get(contact=jose)
    assert (record.kind, record.source) == ("express", "shop sign-up sheet")
    # A bare date is midnight in the tenant's zone (Sydney, UTC+11 on 1 March).
    assert record.captured_at == dt.datetime(2026, 2, 28, 13, 0, tzinfo=dt.UTC)
    assert Contact.objects.filter(tenant=tenant).count() == 5
    assert ContactImport.objects.get(tenant=tenant).status == ContactImport.Status.COMMITTED


def test_a_column_mapped_away_is_not_imported(tenant, tmp_path):
    run(str(write_csv(tmp_path, MIXED)), tenant=tenant.slug, map=["Email="], **DECLARED)
    assert Contact.objects.filter(tenant=tenant).count() == 5
    assert not Contact.objects.filter(tenant=tenant).exclude(email="").exists()


def test_what_the_command_refuses_it_says_and_imports_nothing(tenant, tmp_path):
    path = str(write_csv(tmp_path, MIXED))
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        run(path, tenant="nope", **DECLARED)
    with pytest.raises(CommandError, match="is not a date"):
        run(path, tenant=tenant.slug, **(DECLARED | {"consent_date": "last Tuesday"}))
    with pytest.raises(CommandError, match="the file has no column 'Phone'"):
        run(path, tenant=tenant.slug, map=["Phone=phone"], **DECLARED)
    with pytest.raises(CommandError, match=r"Say how consent was obtained \(express or inferred\)"):
        run(path, tenant=tenant.slug)
    assert not Contact.objects.exists()
