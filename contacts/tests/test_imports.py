"""The import engine: one decision per row, dry run = commit, resumable, tenant-scoped."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from contacts import imports, services
from contacts.decisions import ExistingContact, decide_row
from contacts.imports.commit import _write_batch
from contacts.models import (
    ConsentMode,
    ConsentRecord,
    ConsentStatus,
    Contact,
    ContactImport,
    DncReason,
    DoNotContact,
    ImportOutcome,
)
from contacts.phones import normalize_phone
from contacts.rowvalues import ConsentClaim, RowValues
from contacts.selectors import same_file_imports

ROOT = Path(__file__).resolve().parents[2]
CONSENT_AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
CLAIM = ConsentClaim(kind="express", source="web form", captured_at=CONSENT_AT, evidence="https://example.com/f")


def values(raw_phone="0412 345 678", consent=CLAIM, **fields) -> RowValues:
    return RowValues(phone=normalize_phone(raw_phone), raw_phone=raw_phone, consent=consent, **fields)


def existing(**fields) -> ExistingContact:
    base = dict(
        id=1,
        first_name="Ann",
        last_name="Lee",
        email="",
        timezone="",
        state="",
        postcode="",
        tags=(),
        custom={},
        consent_status=ConsentStatus.EXPRESS,
        consent_at=CONSENT_AT - timedelta(days=30),
    )
    return ExistingContact(**{**base, **fields})


# --- the decision function ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "kwargs", "outcome"),
    [
        (values("not a number"), {}, ImportOutcome.INVALID_PHONE),
        (values(""), {}, ImportOutcome.INVALID_PHONE),
        (values("0441 234 567"), {}, ImportOutcome.INVALID_PHONE),  # unallocated range
        (values("02 9374 4000"), {}, ImportOutcome.NOT_MOBILE),
        (values("1300 655 506"), {}, ImportOutcome.NOT_MOBILE),
        (values(), {"duplicate": True}, ImportOutcome.DUPLICATE),
        (values(), {"on_dnc": True}, ImportOutcome.DNC),
        (values(consent=None, consent_problem="consent column is empty"), {}, ImportOutcome.MISSING_CONSENT),
        (values(first_name="Ann"), {}, ImportOutcome.CREATE),
        (values(first_name="Anne"), {"existing": existing()}, ImportOutcome.UPDATE),
        (values(first_name="Ann", last_name=""), {"existing": existing()}, ImportOutcome.UNCHANGED),
        (values(tags=("vip",)), {"existing": existing(tags=("VIP",))}, ImportOutcome.UNCHANGED),
        (values(tags=("new",)), {"existing": existing(tags=("vip",))}, ImportOutcome.UPDATE),
        (values(), {"existing": existing(consent_status=ConsentStatus.NONE, consent_at=None)}, ImportOutcome.UPDATE),
        (values(), {"existing": existing(consent_status=ConsentStatus.INFERRED)}, ImportOutcome.UPDATE),
        (
            values(),
            {"existing": existing(consent_status=ConsentStatus.WITHDRAWN, consent_at=CONSENT_AT + timedelta(days=1))},
            ImportOutcome.MISSING_CONSENT,
        ),
        (
            values(),
            {"existing": existing(consent_status=ConsentStatus.WITHDRAWN, consent_at=CONSENT_AT - timedelta(days=1))},
            ImportOutcome.UPDATE,
        ),
    ],
)
def test_each_outcome(row, kwargs, outcome):
    kwargs = {"existing": None, "duplicate": False, "on_dnc": False, **kwargs}
    decision = decide_row(row, **kwargs)
    assert decision.outcome == outcome, decision
    assert decision.reason


def test_first_failing_rule_wins():
    # An invalid number that is also "duplicate" and on the DNC list is reported as invalid.
    assert decide_row(values("junk"), existing=None, duplicate=True, on_dnc=True).outcome == ImportOutcome.INVALID_PHONE
    # A duplicate that is on the DNC list is a duplicate (the first occurrence reports the DNC).
    assert decide_row(values(), existing=None, duplicate=True, on_dnc=True).outcome == ImportOutcome.DUPLICATE
    assert decide_row(values(consent=None), existing=None, duplicate=False, on_dnc=True).outcome == ImportOutcome.DNC


# --- end to end through the services -------------------------------------------------------

HEADER = "First Name,Last Name,Mobile,Email,State,Postcode,Tags,Loyalty\n"


def write_csv(tmp_path, body: str, name="contacts.csv", encoding="utf-8", header=HEADER) -> Path:
    path = tmp_path / name
    path.write_bytes((header + body).encode(encoding))
    return path


def run_import(
    tenant,
    path,
    *,
    commit=True,
    consent_mode=ConsentMode.DECLARATION,
    mapping=None,
    custom=(),
    captured_at=None,
    tags=(),
) -> ContactImport:
    contact_import = services.contact_import_upload(tenant=tenant, actor=None, source=path, original_name=path.name)
    services.contact_import_configure(
        contact_import=contact_import,
        actor=None,
        mapping=mapping or contact_import.mapping,
        custom_columns=list(custom),
        add_tags=list(tags),
        consent_mode=consent_mode,
        consent_kind="express",
        consent_source="in-store sign-up sheet",
        consent_captured_at=captured_at or CONSENT_AT,
        consent_evidence="scanned sheets, box 4",
    )
    services.contact_import_run_preview(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.PREVIEWED, contact_import.error
    if commit:
        services.contact_import_commit(contact_import=contact_import, actor=None)
        services.contact_import_run_commit(import_id=contact_import.pk)
        contact_import.refresh_from_db()
        assert contact_import.status == ContactImport.Status.COMMITTED, contact_import.error
    return contact_import


MIXED = (
    "José,Núñez,0412 345 678,jose@example.com,NSW,2000,vip,gold\n"
    'Zoë,"O\'Brien, Jr",+61 412 345 679,zoe@example.com,Victoria,3000,,\n'
    "Dup,Licate,61412345678,,,,,\n"  # duplicate of row 1 in another format
    "Land,Line,02 9374 4000,,,,,\n"
    "Bad,Number,12345,,,,,\n"
    "Excel,Mangled,4.12345680E+8,,,800,,\n"  # 0412 345 680, NT postcode lost its 0
    "Lost,Zero,412345681,,QLD,4000,,\n"
    "Stopped,Person,0412 345 682,,,,,\n"
    ",,,,,,,\n"  # a blank row is not a row
)


@pytest.mark.django_db
def test_dry_run_writes_nothing_and_commit_matches_it(tenant, tmp_path):
    services.dnc_add(tenant=tenant, phone="0412345682", reason=DncReason.STOP_KEYWORD)
    contact_import = run_import(tenant, write_csv(tmp_path, MIXED), commit=False)
    expected = {
        "create": 4,
        "update": 0,
        "unchanged": 0,
        "duplicate": 1,
        "invalid_phone": 1,
        "not_mobile": 1,
        "missing_consent": 0,
        "dnc": 1,
    }
    assert contact_import.preview_counts == expected
    assert Contact.objects.count() == 0 and ConsentRecord.objects.count() == 0
    assert [r["outcome"] for r in contact_import.preview_rows] == [
        "create",
        "create",
        "duplicate",
        "not_mobile",
        "invalid_phone",
        "create",
        "create",
        "dnc",
    ]
    assert [r["row"] for r in contact_import.preview_rows] == list(range(1, 9))

    services.contact_import_commit(contact_import=contact_import, actor=None)
    services.contact_import_run_commit(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.commit_counts == expected
    assert not contact_import.data_changed
    phones = set(Contact.objects.filter(tenant=tenant).values_list("phone_e164", flat=True))
    assert phones == {"+61412345678", "+61412345679", "+61412345680", "+61412345681"}
    jose = Contact.objects.get(phone_e164="+61412345678")
    assert (jose.first_name, jose.last_name, jose.state, jose.postcode, jose.tags) == (
        "José",
        "Núñez",
        "NSW",
        "2000",
        ["vip"],
    )
    assert Contact.objects.get(phone_e164="+61412345679").last_name == "O'Brien, Jr"
    assert Contact.objects.get(phone_e164="+61412345679").state == "VIC"
    assert Contact.objects.get(phone_e164="+61412345680").postcode == "0800"
    # Every created contact has consent evidence pointing at the import.
    records = ConsentRecord.objects.filter(source_import=contact_import)
    assert records.count() == 4
    assert set(records.values_list("source", "evidence")) == {("in-store sign-up sheet", "scanned sheets, box 4")}
    assert jose.consent_status == ConsentStatus.EXPRESS and jose.consent_at == CONSENT_AT


@pytest.mark.django_db
def test_rejected_rows_file_has_original_columns_row_number_and_reason(tenant, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, MIXED), commit=False)
    text = (Path(imports.media_path(contact_import.rejected_path))).read_text(encoding="utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0] == "First Name,Last Name,Mobile,Email,State,Postcode,Tags,Loyalty,row,outcome,reason"
    assert len(lines) == 1 + 3
    assert lines[1].startswith("Dup,Licate,61412345678,") and ",3,Duplicate in file," in lines[1]
    # The outcome and the reason in words, not codes ("invalid_phone").
    assert ",5,Not a valid phone number,12345 has 5 digits: too short for a phone number" in lines[3]
    assert "invalid_phone" not in text


@pytest.mark.django_db
def test_update_never_blanks_a_field_and_merges_tags_and_custom_fields(tenant, tmp_path):
    run_import(
        tenant, write_csv(tmp_path, "José,Núñez,0412 345 678,jose@example.com,NSW,2000,vip,gold\n"), custom=["Loyalty"]
    )
    second = run_import(
        tenant,
        write_csv(tmp_path, "Joseph,,0412345678,,,,new,\n", name="second.csv"),
        custom=["Loyalty"],
        captured_at=CONSENT_AT + timedelta(days=1),
    )
    assert second.commit_counts["update"] == 1
    jose = Contact.objects.get(tenant=tenant, phone_e164="+61412345678")
    assert (jose.first_name, jose.last_name, jose.email, jose.state, jose.postcode) == (
        "Joseph",
        "Núñez",
        "jose@example.com",
        "NSW",
        "2000",
    )
    assert jose.tags == ["vip", "new"]
    assert jose.custom_fields == {"Loyalty": "gold"}
    assert jose.consent_records.count() == 2


@pytest.mark.django_db
def test_reimporting_the_same_file_changes_nothing_and_is_flagged(tenant, tmp_path):
    path = write_csv(tmp_path, MIXED)
    first = run_import(tenant, path)
    second = run_import(tenant, path)
    assert second.commit_counts["create"] == 0 and second.commit_counts["update"] == 0
    assert second.commit_counts["unchanged"] == first.commit_counts["create"]
    assert ConsentRecord.objects.count() == first.commit_counts["create"]
    assert list(same_file_imports(contact_import=second)) == [first]


@pytest.mark.django_db
def test_data_changed_between_preview_and_commit_is_reported(tenant, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, MIXED), commit=False)
    services.dnc_add(tenant=tenant, phone="+61412345679", reason=DncReason.COMPLAINT)
    services.contact_import_commit(contact_import=contact_import, actor=None)
    services.contact_import_run_commit(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.data_changed
    assert contact_import.commit_counts["dnc"] == contact_import.preview_counts["dnc"] + 1
    assert not Contact.objects.filter(phone_e164="+61412345679").exists()


@pytest.mark.django_db
def test_dnc_survives_contact_deletion_and_reimport(tenant, tmp_path):
    path = write_csv(tmp_path, "Ann,Lee,0412 345 678,,,,,\n")
    run_import(tenant, path)
    contact = Contact.objects.get(tenant=tenant)
    services.dnc_add(tenant=tenant, phone=contact.phone_e164, reason=DncReason.STOP_KEYWORD)
    services.contact_delete(contact=contact, actor=None)
    again = run_import(tenant, write_csv(tmp_path, "Ann,Lee,+61412345678,,,,,\n", name="again.csv"))
    assert again.commit_counts["dnc"] == 1
    assert not Contact.objects.filter(tenant=tenant).exists()
    assert DoNotContact.objects.filter(tenant=tenant, phone_e164="+61412345678").exists()


@pytest.mark.django_db
def test_other_tenants_contacts_are_never_matched_counted_or_updated(tenant, other_tenant, tmp_path):
    path = write_csv(tmp_path, "Theirs,Only,0412 345 678,their@example.com,,,,\n")
    run_import(other_tenant, path)
    services.dnc_add(tenant=other_tenant, phone="0412 345 679", reason=DncReason.MANUAL)
    ours = run_import(tenant, write_csv(tmp_path, "Ours,Too,0412345678,,,,,\nOk,Fine,0412345679,,,,,\n", name="o.csv"))
    assert ours.commit_counts["create"] == 2 and ours.commit_counts["dnc"] == 0
    theirs = Contact.objects.get(tenant=other_tenant)
    assert (theirs.first_name, theirs.email) == ("Theirs", "their@example.com")
    assert ConsentRecord.objects.filter(contact=theirs).count() == 1


@pytest.mark.django_db
def test_withdrawn_consent_is_not_overridden_by_an_older_file(tenant, tmp_path):
    run_import(tenant, write_csv(tmp_path, "Ann,Lee,0412 345 678,,,,,\n"))
    contact = Contact.objects.get(tenant=tenant)
    services.consent_record_add(
        contact=contact,
        actor=None,
        kind="express",
        source="phone call",
        captured_at=CONSENT_AT + timedelta(days=2),
        withdrawn=True,
    )
    again = run_import(tenant, write_csv(tmp_path, "Ann,Lee,0412 345 678,,,,,\n", name="old.csv"))
    assert again.commit_counts["missing_consent"] == 1
    contact.refresh_from_db()
    assert contact.consent_status == ConsentStatus.WITHDRAWN


@pytest.mark.django_db
def test_consent_columns_per_row(tenant, tmp_path):
    header = "Phone,Name,Accepts SMS Marketing,Opt-in Date,Opt-in Source\n"
    body = (
        "0412 345 678,Ann Lee,yes,2026-02-01,web form\n"
        "0412 345 679,Bob Ray,no,2026-02-01,web form\n"
        "0412 345 680,Cy Doe,yes,not a date,web form\n"
        "0412 345 681,Di Poe,yes,,\n"  # falls back to the declared date and source
    )
    path = write_csv(tmp_path, body, header=header)
    contact_import = services.contact_import_upload(tenant=tenant, actor=None, source=path, original_name="shop.csv")
    mapping = {
        "Phone": "phone",
        "Name": "full_name",
        "Accepts SMS Marketing": "consent_kind",
        "Opt-in Date": "consent_date",
        "Opt-in Source": "consent_source",
    }
    services.contact_import_configure(
        contact_import=contact_import,
        actor=None,
        mapping=mapping,
        custom_columns=[],
        add_tags=[],
        consent_mode=ConsentMode.COLUMN,
        consent_kind="",
        consent_source="Shopify checkout",
        consent_captured_at=CONSENT_AT,
    )
    services.contact_import_run_preview(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    reasons = {r["row"]: (r["outcome"], r["reason"]) for r in contact_import.preview_rows}
    assert reasons[1][0] == "create" and reasons[4][0] == "create"
    assert reasons[2] == ("missing_consent", "consent column says 'no'")
    assert reasons[3] == ("missing_consent", "consent date 'not a date' is not a date")
    services.contact_import_commit(contact_import=contact_import, actor=None)
    services.contact_import_run_commit(import_id=contact_import.pk)
    ann = Contact.objects.get(phone_e164="+61412345678")
    assert (ann.first_name, ann.last_name) == ("Ann", "Lee")
    record = ann.consent_records.get()
    assert record.source == "web form"
    assert record.captured_at.astimezone(tenant.zone).isoformat() == "2026-02-01T00:00:00+11:00"
    assert Contact.objects.get(phone_e164="+61412345681").consent_records.get().source == "Shopify checkout"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("encoding", "delimiter"), [("utf-8-sig", ","), ("utf-16", "\t"), ("cp1252", ";"), ("utf-8", "|")]
)
def test_encodings_and_delimiters_reach_the_contacts(tenant, tmp_path, encoding, delimiter):
    text = f"First Name{delimiter}Mobile\nJosé’s{delimiter}0412 345 678\n"
    path = tmp_path / "x.csv"
    path.write_bytes(text.encode(encoding))
    run_import(tenant, path)
    assert Contact.objects.get(tenant=tenant).first_name == "José’s"


@pytest.mark.django_db
def test_the_configuration_is_validated(tenant, tmp_path):
    contact_import = services.contact_import_upload(
        tenant=tenant, actor=None, source=write_csv(tmp_path, MIXED), original_name="a.csv"
    )
    with pytest.raises(ValidationError) as declared:
        services.contact_import_configure(
            contact_import=contact_import,
            actor=None,
            mapping=contact_import.mapping,
            custom_columns=[],
            add_tags=[],
            consent_mode=ConsentMode.DECLARATION,
            consent_kind="express",
            consent_source="",
            consent_captured_at=None,
        )
    assert {"consent_source", "consent_captured_at"} <= set(declared.value.message_dict)
    with pytest.raises(ValidationError) as no_phone:
        services.contact_import_configure(
            contact_import=contact_import,
            actor=None,
            mapping={"First Name": "first_name"},
            custom_columns=[],
            add_tags=[],
            consent_mode=ConsentMode.DECLARATION,
            consent_kind="express",
            consent_source="x",
            consent_captured_at=CONSENT_AT,
        )
    assert "phone" in str(no_phone.value)


@pytest.mark.django_db
def test_a_contact_created_between_lookup_and_write_is_updated_not_duplicated(tenant, tmp_path):
    """The fast path (COPY on PostgreSQL) collides with a contact added meanwhile: upsert instead."""
    contact_import = run_import(tenant, write_csv(tmp_path, "Ann,Lee,0412 345 678,ann@example.com,,,,\n"), commit=False)
    contact_import.refresh_from_db()
    batch, _, _ = next(imports.parsed_batches(contact_import, now=timezone.now()))
    decided = imports.decide_batch(tenant.pk, batch)
    assert decided[0].decision.outcome == ImportOutcome.CREATE
    services.contact_create(tenant=tenant, actor=None, phone="0412345678", first_name="Annie")  # meanwhile
    _write_batch(contact_import, decided)
    contact = Contact.objects.get(tenant=tenant)
    assert (contact.first_name, contact.email, contact.consent_status) == ("Ann", "ann@example.com", "express")
    assert contact.consent_records.get().source_import == contact_import


@pytest.mark.django_db
def test_reconfiguring_after_a_failed_commit_starts_from_the_first_row(tenant, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, MIXED), commit=False)
    # As a commit that failed after its first batch leaves it.
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.FAILED, committed_rows=5_000, commit_counts={"create": 4}
    )
    contact_import.refresh_from_db()
    services.contact_import_configure(
        contact_import=contact_import,
        actor=None,
        mapping=contact_import.mapping,
        custom_columns=[],
        add_tags=["again"],
        consent_mode=ConsentMode.DECLARATION,
        consent_kind="express",
        consent_source="x",
        consent_captured_at=CONSENT_AT,
    )
    services.contact_import_run_preview(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert (contact_import.committed_rows, contact_import.commit_counts) == (0, {})
    services.contact_import_commit(contact_import=contact_import, actor=None)
    services.contact_import_run_commit(import_id=contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.commit_counts == contact_import.preview_counts
    assert Contact.objects.filter(tenant=tenant, tags__icontains="again").count() == 5


@pytest.mark.django_db
def test_running_a_task_twice_is_harmless(tenant, tmp_path):
    contact_import = run_import(tenant, write_csv(tmp_path, MIXED))
    assert services.contact_import_run_preview(import_id=contact_import.pk) is None
    assert services.contact_import_run_commit(import_id=contact_import.pk) is None
    assert Contact.objects.count() == 5 and ConsentRecord.objects.count() == 5  # row 8 is not on the DNC here


# --- a worker killed half-way ----------------------------------------------------------------


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    return (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )


@pytest.mark.django_db(transaction=True)
def test_commit_killed_half_way_is_finished_by_a_rerun_without_duplicates(tenant, tmp_path, settings):
    """A real process runs the commit and is SIGKILLed mid-way; the re-run completes it."""
    rows = 60_000  # 12 batches
    body = "".join(f"P{n},Q,04123{n:05d},,,,,\n" for n in range(rows))
    contact_import = run_import(tenant, write_csv(tmp_path, body), commit=False)
    created_expected = contact_import.preview_counts["create"]
    # What contact_import_commit does, minus enqueueing: tests run tasks eagerly, and here the
    # separate process below must be the worker.
    ContactImport.objects.filter(pk=contact_import.pk).update(
        status=ContactImport.Status.COMMITTING, phase_started_at=timezone.now()
    )

    env = {k: v for k, v in os.environ.items() if k != "PYTEST_VERSION"}
    env.update(
        DJANGO_ENV="development",
        DATABASE_URL=_database_url(),
        CONTACT_IMPORT_LEASE_SECONDS="1",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    env.pop("REDIS_URL", None)
    script = (
        "import django; django.setup(); from contacts import services; "
        f"services.contact_import_run_commit(import_id={contact_import.pk})"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        contact_import.refresh_from_db()
        if contact_import.committed_rows >= 10_000:
            break
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.COMMITTING
    assert 0 < contact_import.committed_rows < rows, "kill the worker while it is half-way"
    assert Contact.objects.filter(tenant=tenant).count() == contact_import.committed_rows

    settings.CONTACT_IMPORT_LEASE_SECONDS = 1
    # The periodic resumer, run two seconds on: the dead worker's one-second lease has lapsed.
    with time_machine.travel(timezone.now() + timedelta(seconds=2), tick=True):
        assert services.contact_imports_resume_stalled() == [contact_import.pk]
        contact_import.refresh_from_db()
        if contact_import.status != ContactImport.Status.COMMITTED:  # eager mode already ran it
            services.contact_import_run_commit(import_id=contact_import.pk)
            contact_import.refresh_from_db()
    assert contact_import.status == ContactImport.Status.COMMITTED
    assert contact_import.commit_counts == contact_import.preview_counts
    assert Contact.objects.filter(tenant=tenant).count() == created_expected
    assert ConsentRecord.objects.filter(source_import=contact_import).count() == created_expected
    assert timezone.now() - contact_import.committed_at < timedelta(minutes=5)


@pytest.mark.django_db
def test_a_growing_import_refreshes_the_planners_statistics_after_batches_1_2_4_8():
    """A new tenant is unknown to PostgreSQL's statistics: without fresh ones each batch's look-up
    walked all the tenant's contacts (bench/import crawled on a fresh database)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from contacts.imports.planner import _refresh_statistics

    with CaptureQueriesContext(connection) as captured:
        for number in range(1, 11):
            _refresh_statistics(number)
    analyzed = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("ANALYZE")]
    assert len(analyzed) == (4 if connection.vendor == "postgresql" else 0)


@pytest.mark.django_db(transaction=True)
def test_stale_planner_statistics_are_refreshed_before_an_import_reads(tenant):
    """Contacts that arrived since the last ANALYZE made every batch look-up walk the tenant."""
    from django.db import connection

    from conftest import require_service
    from contacts.imports import statistics_refresh_if_stale
    from contacts.models import Contact

    require_service("PostgreSQL", connection.vendor == "postgresql", "the planner's statistics are PostgreSQL's")
    Contact.objects.bulk_create(
        [Contact(tenant=tenant, phone_e164=f"+614120{n:05d}", consent_status="express") for n in range(3_000)]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    assert statistics_refresh_if_stale() is True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    assert statistics_refresh_if_stale() is False  # fresh now: no second ANALYZE
