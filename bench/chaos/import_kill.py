"""import: an import's commit SIGKILLed twice mid-transaction, finished by the stalled-import sweep.

A generated CSV (bench/import's generator: mixed number formats, invalid rows, duplicates,
numbers on the do-not-contact list; a tenth of its valid numbers already contacts, so that
updates cross the kills too) goes through upload, mapping and the dry run in this process.
Its commit then runs in a process of its own (``contact_import_commit``, the task run in
place) with a short CONTACT_IMPORT_LEASE_SECONDS. Once a batch has committed and the next
one has started writing (its PostgreSQL backend holds a transaction id), the process is
SIGKILLed. A second process asks ``contact_imports_resume_stalled`` until the lease lapses and
it resumes the commit from the checkpoint; it is SIGKILLed the same way one batch further on.
A third one resumes again and finishes.

Proves: every valid row is written exactly once: the commit's counts equal the dry run's (and
the file's expected outcomes), contacts = existing + creates, one consent record per created or
updated contact from this import (none for unchanged ones), no phone twice, no do-not-contact
number imported, and the import ends committed.
"""

from __future__ import annotations

import importlib
import random
import time
from pathlib import Path

from bench.chaos import common

KILLS = 2
EXISTING_SHARE = 0.10


def existing_contacts(tenant, csv_path: Path, made, rng: random.Random) -> int:
    """Make a tenth of the file's valid mobiles contacts already (other names): the import updates them."""
    import csv

    from django.db import connection
    from django.utils import timezone

    from contacts.models import Contact
    from contacts.phones import normalize_phone

    generate = importlib.import_module("bench.import.generate")
    dnc = set(made.dnc)
    phones = set()
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            phone = normalize_phone(row[generate.PHONE_COLUMN])
            if phone.error is None and phone.e164 not in dnc:
                phones.add(phone.e164)
    chosen = rng.sample(sorted(phones), int(len(phones) * EXISTING_SHARE))
    now = timezone.now() - timezone.timedelta(days=400)
    Contact.objects.bulk_create(
        [
            Contact(tenant=tenant, phone_e164=p, first_name="Old", consent_status="express", consent_at=now)
            for p in chosen
        ],
        batch_size=5_000,
    )
    # Statistics as autovacuum would have them by now (it is off on some machines): without them
    # the planner walks the tenant's contacts for every number of the dry run's look-ups (see the
    # suite's notes: 13 s per 5,000 numbers against 19,300 unanalysed contacts, 31 ms after).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE contacts_donotcontact")
    return len(chosen)


def _watch(import_id: int, app: str) -> tuple[int, str, int | None]:
    """(committed rows, status, transaction id of the committing process's open transaction)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.committed_rows, i.status, (SELECT a.backend_xid::text::bigint FROM pg_stat_activity a"
            " WHERE a.application_name = %s AND a.datname = current_database() AND a.backend_xid IS NOT NULL"
            " LIMIT 1) FROM contacts_contactimport i WHERE i.id = %s",
            [app, import_id],
        )
        return cursor.fetchone()


def kill_points(rows: int, rng: random.Random) -> list[int]:
    """Checkpoints (rows committed) after which each kill lands: random batches, the second later,
    both well before the end (for a 20,000-row file: after the first and the second batch)."""
    from contacts.imports import BATCH_ROWS

    batches = -(-rows // BATCH_ROWS)
    first = rng.randint(1, max(1, batches // 3))
    second = rng.randint(first + 1, max(first + 1, 2 * batches // 3))
    return [first * BATCH_ROWS, second * BATCH_ROWS]


def kill_mid_batch(children, child, app: str, import_id: int, after_rows: int, timeout: float = 120) -> dict:
    """SIGKILL ``child`` once the checkpoint is at ``after_rows`` or beyond and its next batch is writing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            committed, status, _ = _watch(import_id, app)
            return {"landed": False, "committed_rows": committed, "status": status, "exit": child.popen.returncode}
        committed, status, xid = _watch(import_id, app)
        if committed >= after_rows and xid is not None:
            children.kill(child)
            committed, status, _ = _watch(import_id, app)
            return {"landed": True, "committed_rows": committed, "status": status, "xid": xid}
        time.sleep(0.005)
    raise TimeoutError(f"the commit did not get past row {after_rows:,} in {timeout:.0f} s")


def run(size: common.Size, children: common.Children, workdir: Path, rng: random.Random, result: common.Result):
    from django.db.models import Count
    from django.utils import timezone

    from contacts import services
    from contacts.models import ConsentKind, ConsentMode, ConsentRecord, Contact, ContactImport, DoNotContact

    rows = size.import_rows
    lease = 2 if rows <= 50_000 else 5
    result.begin(f"an import of {rows:,} rows SIGKILLed twice mid-commit, resumed by the sweep")
    generate = importlib.import_module("bench.import.generate")
    bench_import = importlib.import_module("bench.import.__main__")
    csv_path = workdir / "import.csv"
    made = generate.generate(str(csv_path), rows, seed=rng.randrange(1 << 30))
    tenant = common.new_tenant("import")
    try:
        bench_import.load_dnc(tenant, made.dnc)
        existing = existing_contacts(tenant, csv_path, made, rng)
        imp = services.contact_import_upload(tenant=tenant, actor=None, source=csv_path, original_name="chaos.csv")
        services.contact_import_configure(
            contact_import=imp,
            actor=None,
            mapping=dict(imp.mapping),
            custom_columns=["Loyalty Tier"],
            add_tags=["chaos-import"],
            consent_mode=ConsentMode.DECLARATION,
            consent_kind=ConsentKind.EXPRESS,
            consent_source="Sign-up form (chaos)",
            consent_captured_at=timezone.now() - timezone.timedelta(days=30),
            consent_evidence="Paper forms",
        )  # the dry run runs here, at commit (this process runs tasks eagerly)
        imp.refresh_from_db()
        if imp.status != ContactImport.Status.PREVIEWED:
            raise RuntimeError(f"the dry run ended {imp.status}: {imp.error}")
        result.say(
            f"{existing:,} of the file's numbers were contacts already; dry run: "
            f"{dict((k, v) for k, v in imp.preview_counts.items() if v)}"
        )

        env = {"CELERY_TASK_ALWAYS_EAGER": "true", "CONTACT_IMPORT_LEASE_SECONDS": lease}
        kills, points = [], kill_points(rows, rng)
        for n in range(KILLS + 1):
            name = "import-commit" if n == 0 else f"import-resume-{n}"
            if n == 0:
                child = common.helper(children, name, "import_commit", {"import_id": imp.pk}, **env)
            else:
                child = common.helper(children, name, "import_resume", {"import_id": imp.pk, "seconds": 60}, **env)
            if n == KILLS:
                if not children.wait([child], timeout=300):
                    raise TimeoutError("the last resume did not finish in 300 s")
                if child.popen.returncode != 0:
                    result.fail(f"{name} exited {child.popen.returncode}: {common.tail(child.stderr())}")
                answer = child.stdout().strip().splitlines()
                result.say(f"{name}: {answer[-1] if answer else '(no answer)'}")
                break
            kill = kill_mid_batch(children, child, f"chaos-{name}", imp.pk, points[n])
            kills.append(kill)
            if not kill["landed"]:
                result.fail(f"kill #{n + 1} could not land mid-commit: {name} ended first ({kill})")
                break
            result.say(
                f"kill #{n + 1}: {name} SIGKILLed with its transaction open (xid {kill['xid']}), checkpoint "
                f"at row {kill['committed_rows']:,} of {rows:,}, import {kill['status']}"
            )
            lapse = ContactImport.objects.get(pk=imp.pk).lease_until
            result.say(
                f"  lease held until {lapse:%H:%M:%S.%f}"[:-3] + f" ({lease} s lease); the sweep resumes it after"
            )
        landed = sum(k["landed"] for k in kills)
        result.injected = f"{landed} SIGKILLs mid-commit ({rows:,} rows)"

        imp.refresh_from_db()
        empty = dict.fromkeys(generate_outcomes(), 0)
        preview = {**empty, **(imp.preview_counts or {})}
        commit = {**empty, **(imp.commit_counts or {})}
        expected = {**empty, **made.expected}
        contacts = Contact.objects.filter(tenant=tenant)
        records = ConsentRecord.objects.filter(tenant=tenant, source_import=imp)
        n_contacts, n_records = contacts.count(), records.count()
        twice = records.values("contact_id").annotate(n=Count("id")).filter(n__gt=1)
        extra_records = sum(r["n"] - 1 for r in twice)
        without = contacts.exclude(consent_records__source_import=imp).count() - commit["unchanged"]
        phones_twice = contacts.values("phone_e164").annotate(n=Count("id")).filter(n__gt=1).count()
        dnc_imported = contacts.filter(phone_e164__in=DoNotContact.objects.filter(tenant=tenant).values("phone_e164"))
        dnc_imported = dnc_imported.count()
        creates = commit["create"]
        accepted = {k: preview[k] for k in ("create", "update", "unchanged")}
        preview_as_file = {**preview, "create": sum(accepted.values()), "update": 0, "unchanged": 0}
        result.say(f"import #{imp.pk}: {imp.status}; commit {dict((k, v) for k, v in commit.items() if v)}")
        result.say(
            f"contacts {n_contacts:,} (existing {existing:,} + creates {creates:,}); consent records from this "
            f"import {n_records:,}, "
            f"{extra_records} extra, {without} contacts without one; phones twice {phones_twice}; "
            f"do-not-contact numbers imported {dnc_imported}"
        )
        result.duplicates = extra_records + phones_twice
        result.lost = max(0, existing + creates - n_contacts) + max(0, without)
        result.stuck = 0 if imp.status == ContactImport.Status.COMMITTED else 1
        checks = [
            (imp.status == ContactImport.Status.COMMITTED, f"import ended {imp.status}: {imp.error}"),
            (preview_as_file == expected, f"dry run {preview} ≠ the file's expected {expected}"),
            (
                preview["create"] == expected["create"] - existing,
                f"dry run creates {preview['create']} ≠ {expected['create']} - {existing} existing",
            ),
            (commit == preview, f"commit counts {commit} ≠ dry run {preview}"),
            (n_contacts == existing + creates, f"contacts {n_contacts} ≠ existing {existing} + creates {creates}"),
            (n_records == creates + commit["update"], f"consent records {n_records} ≠ creates + updates"),
            (not extra_records and not without, f"{extra_records} extra consent records, {without} contacts without"),
            (not phones_twice, f"{phones_twice} phones twice"),
            (not dnc_imported, f"{dnc_imported} do-not-contact numbers imported"),
        ]
        for ok, reason in checks:
            if not ok:
                result.fail(reason)
        result.figures.update(
            rows=rows,
            existing_contacts=existing,
            kills=kills,
            commit_counts=commit,
            contacts=n_contacts,
            consent_records=n_records,
            status=imp.status,
        )
    finally:
        from tenants.models import Tenant

        common.purge(Tenant.objects.get(pk=tenant.pk))


def generate_outcomes() -> tuple[str, ...]:
    from contacts.models import ImportOutcome

    return tuple(ImportOutcome.values)
