"""bench/reports: the campaign report and the dashboard over a 1,000,000-job campaign.

    python -m bench.reports [--jobs 1000000] [--small 10000] [--keep]

1. Setup (not timed, set-wise SQL): a tenant with J contacts and a two-variant campaign of J
   jobs with realistic outcomes: 95% sent, 3% skipped by the do-not-contact gate, 2% deferred
   by quiet hours; of the sent, 93% delivered, 4% undelivered (30003/30005), 3% failed
   (30007/30008), spread over ten hours; 6% of delivered contacts click as people (some twice),
   10% get a link-preview fetch; 0.5% opt out and 1% reply. A second campaign of S jobs the
   same way, to show the page's query count does not grow with size.
2. The materialisation the beat task runs (CampaignStats, TenantStats): timed, printed.
3. The pages, as a signed-in owner through Django's full request handler: the campaign report
   and the dashboard, 10 times each → median server time and the query count.
4. The pilot check of the big campaign, once (it runs in the worker): its time and verdicts.
   The generated data is 93% delivered, its STOPs never reach a do-not-contact list and it
   writes no spend rows, so delivery, STOP and spend fail, as they must; quiet hours depend on
   the hour the bench runs (sends are spread over the ten hours before it).

Exit status 1 only when a check fails (figures that do not match the generated data).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import statistics
import sys
import time

from bench.cleanup import tenant_purge

common = importlib.import_module("bench.import.__main__")

TARGET_MS = 200.0


def build(tenant, *, jobs: int, offset: int, name: str):
    from django.db import connection
    from django.utils import timezone

    from campaigns import services
    from campaigns.models import Campaign, CampaignStatus
    from messaging.models import SendingNumber

    number = SendingNumber.objects.filter(tenant=tenant).first()
    template = services.template_save(
        tenant=tenant, actor=None, name=f"{name} template", bodies=["A: sale {{ link }}", "B: big sale {{ link }}"]
    )
    campaign = services.campaign_create(
        tenant=tenant, actor=None, name=name, template=template, link_url="https://shop.example/sale"
    )
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING,
        launched_at=now,
        jobs_created_at=now,
        jobs_total=jobs,
        estimated_cost_cents=jobs * 5,
    )
    params = {"tenant": tenant.id, "campaign": campaign.id, "number": number.id, "sender": number.sender,
              "n": jobs, "offset": offset, "now": now}  # fmt: skip
    with connection.cursor() as raw:

        class cursor:  # each step, then fresh statistics: the next step's plan depends on them
            @staticmethod
            def execute(sql, values):
                raw.execute(sql, values)
                table = re.search(r"(?:INSERT INTO|UPDATE)\s+(\w+)", sql).group(1)
                raw.execute(f"ANALYZE {table}")

        cursor.execute(
            """
            INSERT INTO contacts_contact (tenant_id, phone_e164, first_name, last_name, email, timezone, state,
                postcode, custom_fields, tags, consent_status, consent_at, undeliverable, undeliverable_reason,
                created_at, updated_at)
            SELECT %(tenant)s, '+614' || lpad((%(offset)s + g)::text, 8, '0'), 'Pat' || g, 'Citizen', '',
                'Australia/Sydney', 'NSW', '2000', '{}', '[]', 'express', %(now)s, false, '', %(now)s, %(now)s
            FROM generate_series(1, %(n)s) AS g
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO campaigns_sendjob (variant_index, status, next_attempt_at, attempts, gate, outcome, reason,
                decided_at, campaign_id, contact_id, tenant_id)
            SELECT c.id %% 2,
                CASE WHEN c.id * 7919 %% 100 < 95 THEN 'sent' WHEN c.id * 7919 %% 100 < 98 THEN 'skipped'
                     ELSE 'pending' END,
                CASE WHEN c.id * 7919 %% 100 >= 98 THEN %(now)s + interval '10 hours' ELSE %(now)s END,
                1,
                CASE WHEN c.id * 7919 %% 100 < 95 THEN '' WHEN c.id * 7919 %% 100 < 98 THEN 'dnc'
                     ELSE 'quiet_hours' END,
                CASE WHEN c.id * 7919 %% 100 < 95 THEN 'send' WHEN c.id * 7919 %% 100 < 98 THEN 'skip'
                     ELSE 'defer' END,
                CASE WHEN c.id * 7919 %% 100 < 95 THEN '' WHEN c.id * 7919 %% 100 < 98
                     THEN 'On the do-not-contact list.' ELSE 'Quiet hours.' END,
                %(now)s, %(campaign)s, c.id, %(tenant)s
            FROM contacts_contact c
            WHERE c.tenant_id = %(tenant)s AND c.phone_e164 > '+614' || lpad(%(offset)s::text, 8, '0')
              AND c.phone_e164 <= '+614' || lpad((%(offset)s + %(n)s)::text, 8, '0')
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO messaging_message (tenant_id, reference, contact_id, campaign_id, sending_number_id, kind,
                to_phone, from_sender, body, encoding, segments, status, provider_id, dedupe_key, error_code,
                error_message, cost_cents, provider_price_cents, created_at, handed_off_at, status_at, delivered_at,
                intent, matched)
            SELECT %(tenant)s, gen_random_uuid(), j.contact_id, %(campaign)s, %(number)s, 'campaign',
                c.phone_e164, %(sender)s, 'sale', 'GSM-7', 1,
                CASE WHEN b < 93 THEN 'delivered' WHEN b < 97 THEN 'undelivered' ELSE 'failed' END,
                'SM' || md5(j.id::text), 'campaign:' || %(campaign)s || ':' || j.contact_id,
                CASE WHEN b < 93 THEN '' WHEN b < 95 THEN '30003' WHEN b < 97 THEN '30005' WHEN b < 99 THEN '30007'
                     ELSE '30008' END,
                '', 5, CASE WHEN b %% 2 = 0 THEN 4 END,
                t, t, t + interval '5 seconds', CASE WHEN b < 93 THEN t + interval '5 seconds' END, '', ''
            FROM (SELECT j.*, (j.contact_id * 104729) %% 100 AS b,
                         %(now)s - make_interval(secs => (j.contact_id %% 36000)) AS t
                  FROM campaigns_sendjob j WHERE j.campaign_id = %(campaign)s AND j.status = 'sent') AS j
            JOIN contacts_contact c ON c.id = j.contact_id
            """,
            params,
        )
        cursor.execute(
            """
            UPDATE campaigns_sendjob j SET message_id = m.id FROM messaging_message m
            WHERE j.campaign_id = %(campaign)s AND m.campaign_id = %(campaign)s AND m.kind = 'campaign'
              AND m.contact_id = j.contact_id
            """,
            params,
        )
        # Links for the contacts who clicked or were previewed; their clicks.
        cursor.execute(
            """
            INSERT INTO links_shortlink (tenant_id, token, destination, send_job_id, campaign_id, contact_id,
                message_id, created_at, expires_at)
            SELECT %(tenant)s, substr(md5('l' || j.id::text), 1, 12), 'https://shop.example/sale', j.id,
                %(campaign)s, j.contact_id, j.message_id, %(now)s, %(now)s + interval '60 days'
            FROM campaigns_sendjob j JOIN messaging_message m ON m.id = j.message_id
            WHERE j.campaign_id = %(campaign)s AND m.status = 'delivered' AND (j.contact_id * 31) %% 100 < 16
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO links_click (tenant_id, link_id, campaign_id, contact_id, request_id, at, method, user_agent,
                ip_hash, is_human, reason)
            SELECT %(tenant)s, l.id, %(campaign)s, l.contact_id, gen_random_uuid(),
                m.delivered_at + interval '2 minutes', 'GET',
                CASE WHEN human THEN 'Mozilla/5.0 (iPhone)' ELSE 'WhatsApp/2.23' END, '', human,
                CASE WHEN human THEN '' ELSE 'link_preview' END
            FROM (SELECT l.*, (l.contact_id * 31) %% 100 < 6 AS human FROM links_shortlink l
                  WHERE l.campaign_id = %(campaign)s) AS l
            JOIN messaging_message m ON m.id = l.message_id
            CROSS JOIN generate_series(1, 2) AS k
            WHERE k = 1 OR (l.human AND l.contact_id %% 3 = 0)
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO messaging_message (tenant_id, reference, contact_id, campaign_id, kind, to_phone, from_sender,
                body, encoding, segments, status, provider_id, dedupe_key, error_code, error_message, cost_cents,
                created_at, status_at, intent, matched)
            SELECT %(tenant)s, gen_random_uuid(), m.contact_id, %(campaign)s, 'inbound', %(sender)s, m.to_phone,
                CASE WHEN (m.contact_id * 13) %% 1000 < 5 THEN 'STOP' ELSE 'thanks' END, 'GSM-7', 1, 'received',
                'SMin' || md5(m.id::text), '', '', '', 0, m.delivered_at + interval '1 hour',
                m.delivered_at + interval '1 hour',
                CASE WHEN (m.contact_id * 13) %% 1000 < 5 THEN 'opt_out' ELSE 'reply' END, ''
            FROM messaging_message m
            WHERE m.campaign_id = %(campaign)s AND m.kind = 'campaign' AND m.status = 'delivered'
              AND (m.contact_id * 13) %% 1000 < 15
            """,
            params,
        )
    return Campaign.objects.select_related("tenant", "template").get(pk=campaign.pk)


def timed_get(client, url: str, runs: int) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        queries = len(captured)
    return statistics.median(times), queries


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench.reports")
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    common._environment()
    common.ensure_database(os.environ["DATABASE_URL"])
    common.setup_django()
    import uuid

    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from messaging.models import ProviderAccount, SendingNumber
    from reporting.dashboard import tenant_stats_refresh
    from reporting.pilot import pilot_check
    from reporting.stats import campaign_stats_refresh
    from tenants.models import Membership
    from tenants.services import tenant_create

    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = f"bench-reports-{stamp}-{os.getpid()}"
    tenant = tenant_create(name=f"Bench reports {stamp}", slug=slug, business_name="Bench Reports",
                           owner_email=f"{slug}@example.invalid")  # fmt: skip
    account = ProviderAccount.objects.create(tenant=tenant, account_sid=f"AC{uuid.uuid4().hex}", auth_token="x" * 32)
    SendingNumber.objects.create(tenant=tenant, account=account, sender="+61485999201")
    try:
        started = time.perf_counter()
        big = build(tenant, jobs=args.jobs, offset=0, name="Big campaign")
        small = build(tenant, jobs=args.small, offset=args.jobs, name="Small campaign")
        with connection.cursor() as cursor:
            for table in (
                "contacts_contact",
                "campaigns_sendjob",
                "messaging_message",
                "links_shortlink",
                "links_click",
            ):
                cursor.execute(f"ANALYZE {table}")  # noqa: S608 - our own table names
        print(f"tenant {tenant.slug}: campaigns of {args.jobs:,} and {args.small:,} jobs built in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip

        started = time.perf_counter()
        big_stats = campaign_stats_refresh(big)
        refresh_big = time.perf_counter() - started
        campaign_stats_refresh(small)
        started = time.perf_counter()
        tenant_stats_refresh(tenant)
        refresh_tenant = time.perf_counter() - started

        user = Membership.objects.filter(tenant=tenant).select_related("user").first().user
        client = Client()
        client.force_login(user)
        client.get(reverse("reporting:dashboard"))  # warm
        report_big, q_big = timed_get(client, reverse("reporting:campaign_report", args=[big.pk]), args.runs)
        report_small, q_small = timed_get(client, reverse("reporting:campaign_report", args=[small.pk]), args.runs)
        dash, q_dash = timed_get(client, reverse("reporting:dashboard"), args.runs)
        # The pilot check reads the rows themselves (no aggregates): timed once, as a batch job.
        started = time.perf_counter()
        pilot_result = pilot_check(tenant, big)
        pilot_seconds = time.perf_counter() - started

        data = big_stats.data
        print()
        took = f"campaign of {args.jobs:,} jobs {refresh_big:.2f} s; tenant {refresh_tenant:.2f} s"
        print(f"materialise (beat task): {took}")
        print(f"{'page (median of ' + str(args.runs) + ')':44} {'ms':>8} {'queries':>8}")
        print(f"{'campaign report, ' + format(args.jobs, ',') + ' jobs':44} {report_big:8.1f} {q_big:8}")
        print(f"{'campaign report, ' + format(args.small, ',') + ' jobs':44} {report_small:8.1f} {q_small:8}")
        print(f"{'dashboard':44} {dash:8.1f} {q_dash:8}")
        print(f"\npilot_check --campaign (one run, {args.jobs:,} jobs): {pilot_seconds:.2f} s")
        for check in pilot_result.checks:
            print(f"  {check.verdict:<4}  {check.key:<12} {check.figure}")
        print()
        print(f"{'target':44} {'measured':>10}  status")
        for label, value in (("campaign report <= 200 ms", report_big), ("dashboard <= 200 ms", dash)):
            print(f"{label:44} {value:8.1f}ms  {'PASS' if value <= TARGET_MS else 'FAIL'}")
        same = "PASS" if q_big == q_small else "FAIL"
        print(f"{'report queries do not grow with size':44} {q_big:>4} = {q_small:<3}  {same}")
        sent = round(args.jobs * 0.95)
        pilot = {check.key: check for check in pilot_result.checks}
        # The hand-offs outside 09:00-21:00 in Sydney (every generated contact lives there),
        # counted by PostgreSQL itself: the pilot check's grouped count must equal it.
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT count(*) FROM messaging_message WHERE campaign_id = %s AND kind = 'campaign'
                   AND status <> 'rejected' AND extract(hour FROM coalesce(handed_off_at, created_at)
                   AT TIME ZONE 'Australia/Sydney') NOT BETWEEN 9 AND 20""",
                [big.pk],
            )
            quiet = cursor.fetchone()[0]
        reported = int(pilot["quiet_hours"].figure.split(" ", 1)[0])
        checks = [
            (data["audience"] == args.jobs, f"audience {data['audience']:,}"),
            (abs(data["handed_off"] - sent) < args.jobs * 0.01, f"handed off {data['handed_off']:,} (≈95%)"),
            (0.90 < (data["rates"]["delivery"] or 0) < 0.96, f"delivery rate {data['rates']['delivery']:.3f} (≈0.93)"),
            (data["clicks"]["human_clickers"] <= data["delivered"],
             f"human clickers {data['clicks']['human_clickers']:,} ≤ delivered {data['delivered']:,}; "
             f"CTR {data['rates']['human_ctr']:.3f}"),
            (data["opt_outs"] > 0 and data["replies"] > 0,
             f"opt-outs {data['opt_outs']:,}, replies {data['replies']:,}"),
            # The generated data is 93% delivered, its STOPs never reached a do-not-contact list
            # and it has no duplicates: the pilot check must say exactly that.
            (pilot["delivery"].passed is False and pilot["stop_to_dnc"].passed is False
             and pilot["duplicates"].passed and pilot["clicks"].passed,
             "pilot check: delivery FAIL, STOP→DNC FAIL, duplicates PASS, clicks PASS (as generated)"),
            (pilot["spend"].passed is False, "pilot check: spend FAIL (the generated data writes no spend rows)"),
            (reported == quiet and pilot["quiet_hours"].passed is (quiet == 0),
             f"pilot check: {reported:,} hand-offs in quiet hours = {quiet:,} counted by SQL"),
        ]  # fmt: skip
        print("\nverification")
        for ok, text in checks:
            print(f"  {'OK  ' if ok else 'FAIL'}  {text}")
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        if not args.keep:
            tenant_purge(tenant.id)
            print(f"cleaned up tenant #{tenant.id}", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
