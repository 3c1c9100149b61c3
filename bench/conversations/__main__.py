"""bench/conversations: the Inbox's list of conversations at 100,000 threads (issue 19).

    python -m bench.conversations [--threads 100000] [--runs 30] [--deep-pages 200] [--keep]

The issue asks for "keyset pagination that stays fast at 100,000 threads". This bench:

1. Sets up (not timed, set-wise SQL on PostgreSQL): tenant A with N threads
   (messaging_conversation rows) and tenant B with N more, so the tenant filter matters. For
   each tenant: N contacts (a third without a name, the rest with one of 20 first and 20 last
   names, plus one rare "Zelda Quixote"), 8 campaigns, and one thread per number;
   ``last_message_at`` spread uniformly over the last 90 days; ~70% of threads have a
   contact, the rest are strangers; ~20% unread, ~10% needs reply (a subset of the unread);
   ~5% assigned to the owner ("assigned to me") and ~10% to a second member; ~40% carry one
   of the campaigns; ~1% of the numbers on the do-not-contact list (opted out). Then ANALYZE.
2. Measures, warm, median and p95 over R runs each, the selector the page calls,
   ``messaging.conversation_selectors.conversations_for`` with the page's page size (PAGE):
   the first page; page 201, reached by following the keyset cursor 200 pages in; a page near
   the end (the cursor built for the row 100 from the last); each filter (unread, needs
   reply, opted out, assigned to me, one campaign); a search by a number written in national
   format, by a part of a number, and by a rare name; and ``unread_conversation_count``.
   Then the whole ``/inbox/`` page through Django's test Client, signed in as the owner
   (DEBUG off): the first page and the "Unread" filter.
3. The floor, measured in the same run the same way: a bare ``SELECT id FROM
   messaging_conversation WHERE tenant_id = %s ORDER BY last_message_at DESC, id DESC LIMIT
   PAGE``. Every figure is printed with its ratio to it.
4. Targets (PASS/FAIL, median): first and deep pages < 20 ms; each filter < 50 ms; the
   /inbox/ page < 150 ms. A missed target prints FAIL and does not change the exit status.
5. Verifies (exit 1 if not): EXPLAIN of the first page, the deep pages and the searches is
   printed, and the first and deep pages read an index (no Seq Scan of
   messaging_conversation, no Sort over its rows); the 200 followed pages hold exactly the
   first 200 × PAGE rows of the SQL order, without a gap or a repeat; each filter's rows
   all match it and none of tenant B's rows appear; the unread count equals SQL's count.

Everything it creates is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import statistics
import sys
import time
import uuid
from urllib.parse import urlencode

from bench.cleanup import tenant_purge

common = importlib.import_module("bench.import.__main__")

PAGE_TARGET_MS = 20.0
FILTER_TARGET_MS = 50.0
INBOX_TARGET_MS = 150.0
FIRST = ["Olivia", "Jack", "Charlotte", "Noah", "Amelia", "William", "Isla", "Oliver", "Mia", "Henry",
         "Ava", "Leo", "Grace", "Thomas", "Chloe", "James", "Zoe", "Lucas", "Ruby", "Ethan"]  # fmt: skip
LAST = ["Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin", "Anderson",
        "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson", "Kelly", "King"]  # fmt: skip


def build(tenant, *, threads: int, member_ids: tuple[int, int]) -> list[int]:
    """Contacts, campaigns, threads and DNC rows of one tenant; returns its campaign ids."""
    from django.db import connection
    from django.utils import timezone

    from campaigns import services

    template = services.template_save(tenant=tenant, actor=None, name="Bench template", bodies=["Sale {{ link }}"])
    campaigns = [
        services.campaign_create(
            tenant=tenant, actor=None, name=f"Campaign {k}", template=template, link_url="https://shop.example/"
        ).pk
        for k in range(8)
    ]
    params = {"tenant": tenant.id, "n": threads, "now": timezone.now(), "first": FIRST, "last": LAST,
              "campaigns": campaigns, "rare": threads * 7 // 90 * 10 + 1,  # a number with a contact
              "me": member_ids[0], "other": member_ids[1]}  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.19)")
        cursor.execute(
            """
            INSERT INTO contacts_contact (tenant_id, phone_e164, first_name, last_name, email, timezone, state,
                postcode, custom_fields, tags, consent_status, consent_at, undeliverable, undeliverable_reason,
                created_at, updated_at, search_name, search_surname, search_email)
            SELECT %(tenant)s, phone, fn, ln, '', 'Australia/Sydney', '', '', '{}', '[]', 'express', %(now)s, false,
                '', %(now)s, %(now)s, lower(trim(fn || ' ' || ln)), lower(trim(ln || ' ' || fn)), ''
            FROM (SELECT '+6141' || lpad(g::text, 7, '0') AS phone,
                         CASE WHEN g = %(rare)s THEN 'Zelda' WHEN g %% 3 = 0 THEN ''
                              ELSE (%(first)s::text[])[1 + (g * 7) %% 20] END AS fn,
                         CASE WHEN g = %(rare)s THEN 'Quixote' WHEN g %% 3 = 0 THEN ''
                              ELSE (%(last)s::text[])[1 + (g * 13 / 20) %% 20] END AS ln
                  FROM generate_series(1, %(n)s) AS g WHERE g %% 10 < 7) AS s
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO messaging_conversation (tenant_id, phone_e164, contact_id, campaign_id, last_message_at,
                last_inbound_at, last_outbound_at, last_body, last_direction, unread_count, needs_reply,
                waiting_since, assigned_to_id, closed_at, notified_at, created_at)
            SELECT %(tenant)s, s.phone, c.id,
                CASE WHEN r2 < 0.4 THEN (%(campaigns)s::bigint[])[1 + floor(r2 * 20)::int] END,
                at, CASE WHEN inbound THEN at ELSE at - interval '1 hour' END,
                CASE WHEN inbound THEN NULL ELSE at END,
                CASE WHEN inbound THEN 'Is the sale still on?' ELSE 'Yes, until Sunday.' END,
                CASE WHEN inbound THEN 'in' ELSE 'out' END,
                CASE WHEN r1 < 0.2 THEN 1 + floor(r1 * 15)::int ELSE 0 END, r1 < 0.1,
                CASE WHEN r1 < 0.1 THEN at END,
                CASE WHEN r3 < 0.05 THEN %(me)s WHEN r3 < 0.15 THEN %(other)s END,
                CASE WHEN r3 > 0.9 THEN at + interval '1 day' END, NULL, at - interval '30 days'
            FROM (SELECT g, '+6141' || lpad(g::text, 7, '0') AS phone,
                         %(now)s - random() * interval '90 days' AS at,
                         random() AS r1, random() AS r2, random() AS r3, random() < 0.6 AS inbound
                  FROM generate_series(1, %(n)s) AS g) AS s
            LEFT JOIN contacts_contact c ON c.tenant_id = %(tenant)s AND c.phone_e164 = s.phone
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO contacts_donotcontact (tenant_id, phone_e164, reason, note, source, created_at)
            SELECT %(tenant)s, phone_e164, 'stop_keyword', '', 'bench', %(now)s
            FROM messaging_conversation WHERE tenant_id = %(tenant)s AND (id * 7919) %% 100 = 0
            """,
            params,
        )
    return campaigns


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def captured_sql(fn) -> str:
    """The SQL of the last query ``fn`` ran, as sent (the selector's own, not a copy of it)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return captured.captured_queries[-1]["sql"]


def explain(sql: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql)
        return [row[0] for row in cursor.fetchall()]


def rows_read(plan: list[str]) -> int:
    """Rows the plan's scans of messaging_conversation produced plus those their filters removed."""
    total = 0
    inside = False
    for line in plan:
        if "->" in line or not line.startswith(" "):
            inside = "Scan" in line and "on messaging_conversation" in line
            if inside:
                found = re.search(r"actual rows=(\d+) loops=(\d+)", line)
                total += int(found.group(1)) * int(found.group(2)) if found else 0
        elif inside and "Rows Removed by Filter:" in line:
            total += int(line.split(":")[1])
    return total


def reads_index(plan: list[str], threads: int) -> bool:
    """An index of conversation_ read, no Seq Scan of the table, and no Sort over a large part of it."""
    text = "\n".join(plan)
    index = re.search(r"(Index Scan|Index Scan Backward|Bitmap Index Scan) (using |on )conversation_", text)
    seq = "Seq Scan on messaging_conversation" in text
    sort = any("Sort Key" in line and "last_message_at" in line for line in plan)
    return bool(index) and not seq and not (sort and rows_read(plan) > threads // 100)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.conversations")
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deep-pages", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    common._environment()
    version = common.ensure_database(os.environ["DATABASE_URL"])
    common.setup_django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from messaging.conversation_models import Conversation
    from messaging.conversation_selectors import (
        PAGE,
        ConversationFilters,
        conversations_for,
        encode_cursor,
        unread_conversation_count,
    )
    from messaging.models import ProviderAccount, SendingNumber
    from tenants.models import Membership
    from tenants.roles import Role
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    tenants = []
    try:
        for side in ("a", "b"):
            slug = f"bench-conv-{side}-{stamp}-{os.getpid()}"
            tenant = tenant_create(
                name=f"Bench conversations {side} {stamp}",
                slug=slug,
                business_name="Bench Conversations",
                owner_email=f"{slug}@example.invalid",
            )
            tenants.append(tenant)
            account = ProviderAccount.objects.create(
                tenant=tenant, account_sid=f"AC{uuid.uuid4().hex}", auth_token="x" * 32
            )
            SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485999202")
        tenant, other_tenant = tenants
        owner = Membership.objects.filter(tenant=tenant).select_related("user").first().user
        email = f"colleague-{stamp}-{os.getpid()}@example.invalid"
        colleague = get_user_model().objects.create_user(username=email, email=email, password=None)
        Membership.objects.create(user=colleague, tenant=tenant, role=Role.STAFF)
        other_owner = Membership.objects.filter(tenant=other_tenant).select_related("user").first().user

        started = time.perf_counter()
        campaigns = build(tenant, threads=args.threads, member_ids=(owner.pk, colleague.pk))
        build(other_tenant, threads=args.threads, member_ids=(other_owner.pk, other_owner.pk))
        with connection.cursor() as cursor:
            for table in ("contacts_contact", "messaging_conversation", "contacts_donotcontact"):
                cursor.execute(f"ANALYZE {table}")  # noqa: S608 - our own table names
        seeded = time.perf_counter() - started
        print(f"PostgreSQL {version}; tenants #{tenant.id} and #{other_tenant.id}: {args.threads:,} threads each, "
              f"seeded in {seeded:.1f} s; page size {PAGE}", flush=True)  # fmt: skip

        # The cursor 200 pages in, by following "Next" as the page does (untimed).
        after = None
        followed: list[int] = []
        for _ in range(args.deep_pages):
            page = conversations_for(tenant=tenant, after=after)
            followed += [c.id for c in page.items]
            after = page.after
        deep_after = after
        near_end = (
            Conversation.objects.filter(tenant=tenant).order_by("-last_message_at", "-id")[args.threads - 101 :][:1]
        ).get()
        end_after = encode_cursor(near_end)
        campaign_id = campaigns[3]
        sample = Conversation.objects.filter(tenant=tenant, contact__isnull=False).order_by("id")[500]
        national = "0" + sample.phone_e164[3:6] + " " + sample.phone_e164[6:9] + " " + sample.phone_e164[9:]
        partial = sample.phone_e164[-6:]

        def page_of(filters=None, after=None):
            return lambda: conversations_for(tenant=tenant, filters=filters, after=after, limit=PAGE)

        F = ConversationFilters
        selector_cases = [
            ("first page", "page", page_of()),
            (f"page {args.deep_pages + 1} (cursor followed)", "page", page_of(after=deep_after)),
            ("page near the end (100 rows left)", "page", page_of(after=end_after)),
            ("filter: unread", "filter", page_of(F(unread=True))),
            ("filter: needs reply", "filter", page_of(F(needs_reply=True))),
            ("filter: opted out", "filter", page_of(F(opted_out=True))),
            ("filter: assigned to me", "filter", page_of(F(assigned_to=owner.pk))),
            ("filter: one campaign", "filter", page_of(F(campaign_id=campaign_id))),
            ("filter: unread, page 2", "filter", None),
            (f"search: number {national!r}", "filter", page_of(F(search=national))),
            (f"search: part of a number {partial!r}", "filter", page_of(F(search=partial))),
            ("search: name 'Zelda Quixote'", "filter", page_of(F(search="Zelda Quixote"))),
            ("search: common name 'Olivia'", "filter", page_of(F(search="Olivia"))),
            ("unread_conversation_count", "filter", lambda: unread_conversation_count(tenant=tenant)),
        ]
        second_unread = conversations_for(tenant=tenant, filters=F(unread=True)).after
        selector_cases[8] = ("filter: unread, page 2", "filter", page_of(F(unread=True), after=second_unread))

        def floor():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id FROM messaging_conversation WHERE tenant_id = %s"
                    " ORDER BY last_message_at DESC, id DESC LIMIT %s",
                    [tenant.id, PAGE],
                )
                cursor.fetchall()

        floor_ms, floor_p95 = timed(floor, args.runs)
        results = [(label, kind, *timed(fn, args.runs)) for label, kind, fn in selector_cases]

        assert not settings.DEBUG, "measure with DEBUG off"
        client = Client()
        client.force_login(owner)
        inbox = reverse("messaging:inbox")

        def get(url):
            def call():
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            return call

        page_results = [
            ("/inbox/ first page", "inbox", *timed(get(inbox), args.runs)),
            ("/inbox/?show=unread", "inbox", *timed(get(inbox + "?show=unread"), args.runs)),
            (f"/inbox/ page {args.deep_pages + 1}", "inbox",
             *timed(get(inbox + "?" + urlencode({"after": deep_after})), args.runs)),
        ]  # fmt: skip

        print(f"\n{'median of ' + str(args.runs) + ', warm':46} {'median':>9} {'p95':>9} {'× floor':>8}")
        print(f"{'floor: bare SELECT id … LIMIT ' + str(PAGE):46} {floor_ms:7.2f}ms {floor_p95:7.2f}ms {1:8.1f}")
        for label, _kind, median, p95 in results + page_results:
            print(f"{label:46} {median:7.2f}ms {p95:7.2f}ms {median / floor_ms:8.1f}")

        plans = {
            "first page": explain(captured_sql(page_of())),
            f"page {args.deep_pages + 1} (cursor followed)": explain(captured_sql(page_of(after=deep_after))),
            "page near the end": explain(captured_sql(page_of(after=end_after))),
            "search: number": explain(captured_sql(page_of(F(search=national)))),
            "search: name": explain(captured_sql(page_of(F(search="Zelda Quixote")))),
        }
        for label, plan in plans.items():
            print(f"\nEXPLAIN ANALYZE {label} ({rows_read(plan):,} rows of messaging_conversation read):")
            for line in plan:
                print(f"  {line}")

        targets = {"page": PAGE_TARGET_MS, "filter": FILTER_TARGET_MS, "inbox": INBOX_TARGET_MS}
        print(f"\n{'target (median)':60} {'measured':>10}  status")
        for label, kind, median, _p95 in results + page_results:
            target = targets[kind]
            print(f"{label + ' < ' + format(target, 'g') + ' ms':60} {median:8.2f}ms  "
                  f"{'PASS' if median < target else 'FAIL'}")  # fmt: skip

        # Verification.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM messaging_conversation WHERE tenant_id = %s ORDER BY last_message_at DESC, id DESC"
                " LIMIT %s",
                [tenant.id, args.deep_pages * PAGE],
            )
            expected = [row[0] for row in cursor.fetchall()]
        unread_sql = Conversation.objects.filter(tenant=tenant, unread_count__gt=0).count()

        def rows(filters):
            return conversations_for(tenant=tenant, filters=filters).items

        found = rows(F(search=national))
        end_page = conversations_for(tenant=tenant, after=end_after)
        filter_checks = [
            all(c.unread_count > 0 for c in rows(F(unread=True))),
            all(c.needs_reply for c in rows(F(needs_reply=True))),
            all(c.opted_out for c in rows(F(opted_out=True))) and rows(F(opted_out=True)),
            all(c.assigned_to_id == owner.pk for c in rows(F(assigned_to=owner.pk))),
            all(c.campaign_id == campaign_id for c in rows(F(campaign_id=campaign_id))),
        ]
        all_rows = [c for f in (None, F(unread=True), F(opted_out=True), F(search="Olivia")) for c in rows(f)]
        checks = [
            (all(reads_index(plans[k], args.threads) for k in list(plans)[:3]),
             "first, followed and near-end pages read a conversation_ index (no Seq Scan, no Sort)"),
            (followed == expected and len(set(followed)) == len(followed),
             f"{args.deep_pages} followed pages = the first {len(expected):,} rows of the SQL order, no gap or repeat"),
            (len(end_page.items) == PAGE and end_page.after is not None,
             f"the near-end page holds {len(end_page.items)} rows and a next cursor (100 rows were left)"),
            (all(bool(ok) for ok in filter_checks), "every filter's rows match it (and opted out finds some)"),
            (all(c.tenant_id == tenant.id for c in all_rows),
             "no row of the other tenant in any list"),
            ([c.id for c in found] == [sample.id], f"the number {national!r} finds its one thread"),
            ([c.contact.last_name for c in rows(F(search="Zelda Quixote"))] == ["Quixote"],
             "the rare name finds its one thread"),
            (unread_conversation_count(tenant=tenant) == unread_sql,
             f"unread_conversation_count = {unread_sql:,} counted by SQL"),
        ]  # fmt: skip
        print("\nverification")
        for ok, text in checks:
            print(f"  {'OK  ' if ok else 'FAIL'}  {text}")
        deep_read = rows_read(plans[f"page {args.deep_pages + 1} (cursor followed)"])
        if deep_read > 4 * PAGE:  # a finding, not a failed check: the plan's own figures say it
            print(f"  NOTE  page {args.deep_pages + 1} reads {deep_read:,} rows of messaging_conversation for "
                  f"{PAGE + 1}: the cursor's OR is a Filter on the index walk, not an Index Cond, so a page's "
                  "cost grows with its depth")  # fmt: skip
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        if not args.keep:
            for t in tenants:
                tenant_purge(t.id)
                print(f"cleaned up tenant #{t.id}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
