"""What every chaos scenario shares: child processes, throw-away servers, setup and the checks.

- ``Children``: every process a scenario starts, each in its own session (process group) and
  told by the kernel to die with this process (PR_SET_PDEATHSIG), so a Ctrl-C, an exception or
  even a SIGKILL of the suite leaves no process running (tenants a killed run left are purged
  by the next one); output goes to files in the run's directory, never to pipes that could
  fill up.
- ``PrivateRedis`` and ``Proxy``: a redis-server of our own on a free port (stopped, started
  empty) and a TCP proxy in front of PostgreSQL that can be cut (smscrm.testing.services), the
  proxy in a child process so that this process stays single-threaded for ``fork``.
- ``sending_tenant`` / ``campaign_for``: a tenant in a zone where it is afternoon now (quiet
  hours let everything through), contacts by COPY, rate limits and warmup lifted unless asked,
  a campaign launched through the services.
- ``audit``: the counts every sending scenario is judged on (see its docstring).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

from bench import seed
from smscrm.testing.services import RedisServer

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/smscrm_chaos"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"  # what the other benches use; never stopped or flushed
PRICE = 5  # cents per segment
LOG_LINE = 72  # "<uuid4 reference> SM<32 hex>\n": the simulator's receipt log has fixed-width lines


# --- sizes ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    name: str
    kill_jobs: int
    kill_rate: int
    kill_count: tuple[int, int]
    redis_jobs: int
    redis_side: int  # contacts of each campaign launched around the outage
    postgres_jobs: int
    import_rows: int
    webhook_messages: int
    webhook_stops: int
    budget_contacts: int
    budget_rounds: int


SIZES = {
    "ci": Size(
        "ci",
        kill_jobs=3_000,
        kill_rate=300,
        kill_count=(8, 12),
        redis_jobs=2_000,
        redis_side=200,
        postgres_jobs=2_000,
        import_rows=20_000,
        webhook_messages=2_000,
        webhook_stops=200,
        budget_contacts=1_000,
        budget_rounds=2,
    ),
    "full": Size(
        "full",
        kill_jobs=25_000,
        kill_rate=500,
        kill_count=(50, 70),
        redis_jobs=10_000,
        redis_side=1_000,
        postgres_jobs=10_000,
        import_rows=200_000,
        webhook_messages=7_000,
        webhook_stops=800,
        budget_contacts=2_500,
        budget_rounds=6,
    ),
}


# --- child processes ------------------------------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the process groups and the finally blocks still clean up
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    out: Path
    err: Path
    killed: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.out.read_text(errors="replace") if self.out.exists() else ""

    def stderr(self) -> str:
        return self.err.read_text(errors="replace") if self.err.exists() else ""


class Children:
    """Every process started by the suite; ``stop_all`` ends each by its process group."""

    def __init__(self, logs: Path):
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.all: list[Child] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], *, stdin=subprocess.DEVNULL) -> Child:
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        with out.open("wb") as out_file, err.open("wb") as err_file:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=stdin,
                stdout=out_file,
                stderr=err_file,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        child = Child(name, popen, out, err)
        self.all.append(child)
        return child

    def kill(self, child: Child, sig: int = signal.SIGKILL) -> None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, sig)
            child.killed = child.killed or sig == signal.SIGKILL
        if sig == signal.SIGKILL:
            child.popen.wait(timeout=10)

    def wait(self, children: list[Child], timeout: float) -> bool:
        """Wait for the children to exit by themselves; False when some did not in time, and those
        are then stopped (a reconciler must never run beside a live dispatcher)."""
        deadline = time.monotonic() + timeout
        for child in children:
            try:
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stop(children)
                return False
        return True

    def stop(self, children: list[Child]) -> None:
        """SIGTERM each running child's process group, SIGKILL what is left after 10 s."""
        running = [child for child in children if child.alive()]
        for child in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in running:
            try:
                child.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(child)

    def stop_all(self) -> None:
        self.stop(self.all)


def child_env(**extra) -> dict[str, str]:
    """The environment of a product process: development settings, the suite's database."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER", "PYTEST_VERSION")}
    env.update(DJANGO_ENV="development", DEBUG="false", DB_CONNECT_TIMEOUT="2", PYTHONPATH=str(ROOT))
    env.update({key: str(value) for key, value in extra.items()})
    return env


def with_app_name(url: str, name: str) -> str:
    """DATABASE_URL with PostgreSQL's application_name set, so pg_stat_activity shows who is who."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "application_name"] + [("application_name", name)]
    return parts._replace(query=urlencode(query)).geturl()


def database_url_via(port: int) -> str:
    """DATABASE_URL, but through 127.0.0.1:<port> (the cuttable proxy)."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{auth}127.0.0.1:{port}").geturl()


def wait_for(condition, *, seconds: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise TimeoutError(f"gave up after {seconds:.0f} s waiting for {what}")


def dispatcher(
    children: Children,
    name: str,
    *,
    log: Path,
    idle_exit: float = 2.0,
    batch: int = 100,
    database_url: str | None = None,
    **extra,
) -> Child:
    """``manage.py dispatch --loop`` as a sender process runs it, handing off to the simulator."""
    env = child_env(
        DATABASE_URL=with_app_name(database_url or os.environ["DATABASE_URL"], f"chaos-{name}"),
        SMS_BACKEND="simulator",
        SMS_SIMULATOR_CALLBACKS="off",
        SMS_SIMULATOR_LOG=log,
        DISPATCH_BATCH_SIZE=batch,
        **extra,
    )
    argv = [sys.executable, "manage.py", "dispatch", "--loop", "--idle-exit", str(idle_exit)]
    return children.start(name, argv, env)


def helper(children: Children, name: str, action: str, payload: dict, **extra) -> Child:
    """``python -m bench.chaos.child ACTION JSON``: one product call in a process of its own."""
    env = child_env(DATABASE_URL=with_app_name(os.environ["DATABASE_URL"], f"chaos-{name}"), **extra)
    return children.start(name, [sys.executable, "-m", "bench.chaos.child", action, json.dumps(payload)], env)


# --- throw-away servers ---------------------------------------------------------------------------------------------


class PrivateRedis(RedisServer):
    """smscrm.testing.services.RedisServer, started as one of our children (dies with the suite)."""

    def __init__(self, workdir: Path, children: Children):
        super().__init__(workdir)
        self.children = children
        self.child: Child | None = None
        self.starts = 0

    def start(self) -> PrivateRedis:
        self.starts += 1
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.child = self.children.start(f"redis-{self.port}-{self.starts}", argv, os.environ.copy())
        self.process = self.child.popen
        wait_for(self._answers, seconds=10, what=f"redis-server on port {self.port}")
        return self

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
            return True
        return False

    def stop(self) -> None:
        if self.child is not None:
            self.children.kill(self.child)
        self.child = self.process = None

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)


class Proxy:
    """A TcpProxy (smscrm.testing.services) in front of PostgreSQL, run in a child process.

    Commands go over its stdin and are acknowledged on its stdout: ``cut()`` returns once every
    connection through it has been dropped and new ones are refused.
    """

    def __init__(self, children: Children, name: str = "pg-proxy"):
        parts = urlsplit(os.environ["DATABASE_URL"])
        self.child = children.start(
            name,
            [sys.executable, "-m", "bench.chaos.proxy", parts.hostname or "127.0.0.1", str(parts.port or 5432)],
            child_env(),
            stdin=subprocess.PIPE,
        )
        wait_for(lambda: self.child.stdout().strip() != "" or not self.child.alive(), seconds=15, what="the proxy")
        self.port = int(self.child.stdout().split()[0])
        self._acks = 1

    def _command(self, word: str) -> None:
        self.child.popen.stdin.write(f"{word}\n".encode())
        self.child.popen.stdin.flush()
        self._acks += 1
        wait_for(lambda: len(self.child.stdout().split()) >= self._acks, seconds=10, what=f"the proxy to {word}")

    def cut(self) -> None:
        self._command("cut")

    def restore(self) -> None:
        self._command("restore")


# --- setup ----------------------------------------------------------------------------------------------------------


def afternoon_zone() -> str:
    return seed.daytime_zone()


def new_tenant(label: str, **fields):
    from tenants.services import tenant_create

    slug = f"chaos-{label}-{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
    return tenant_create(
        name=f"Chaos {label}", slug=slug, business_name="Chaos Test", owner_email=f"{slug}@example.invalid", **fields
    )


def sending_tenant(
    label: str,
    *,
    groups: dict[str, int],
    rate: int = 30_000,
    daily_cap: int = 10**12,
    monthly_cap: int = 10**12,
    senders: int = 10,
    paused: bool = False,
):
    """A tenant ready to send: afternoon zone, simulator account, warmed-up senders, a price,
    and consenting contacts tagged by group (``{"a": 3000, "b": 200}``), made by COPY."""
    from datetime import date, timedelta

    from django.db import connection

    from messaging.models import Price, ProviderAccount, SendingNumber
    from tenants.models import Tenant

    zone = afternoon_zone()
    tenant = new_tenant(label, timezone=zone)
    Tenant.objects.filter(pk=tenant.pk).update(
        messages_per_second=rate, daily_budget_cents=daily_cap, monthly_budget_cents=monthly_cap, is_paused=paused
    )
    tenant.refresh_from_db()
    account = ProviderAccount.objects.create(
        tenant=tenant, provider="simulator", account_sid=f"AC{uuid.uuid4().hex}", auth_token="x" * 32
    )
    for n in range(senders):
        SendingNumber.objects.create(
            tenant=tenant,
            account=account,
            sender=f"+614850{n:05d}",
            messages_per_second=30_000,
            warmup_started_on=date.today() - timedelta(days=30),
            warmup_curve=[10_000_000],
        )
    Price.objects.create(
        tenant=tenant, provider="simulator", country="AU", cents_per_segment=PRICE, effective_from=date(2020, 1, 1)
    )
    seed.copy_contacts(tenant.id, zone, groups)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
    return tenant


def campaign_for(tenant, tag: str, *, launch: bool = True):
    """A two-variant campaign to the contacts tagged ``tag``; launched (jobs made) unless told not to."""
    from campaigns import services
    from campaigns.models import Template

    template = Template.objects.filter(tenant=tenant, name="Chaos").first() or services.template_save(
        tenant=tenant,
        actor=None,
        name="Chaos",
        bodies=[
            "Hi {{ first_name|there }}, spring sale: 20% off today {{ link }}",
            "{{ first_name|Hello }}, our spring range is in. 20% off today only {{ link }}",
        ],
    )
    campaign = services.campaign_create(
        tenant=tenant, actor=None, name=f"Chaos {tag}", template=template, tags=[tag], link_url="https://example.com/s"
    )
    if launch:
        # CELERY_TASK_ALWAYS_EAGER in this process: the job-making task runs here at commit.
        services.campaign_launch(campaign=campaign, actor=None)
        campaign.refresh_from_db()
        if not campaign.jobs_created_at:
            raise RuntimeError(f"campaign {campaign.pk}: launched but no jobs were made")
    return campaign


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE campaigns_sendjob")


@contextlib.contextmanager
def simulator_log(path: Path):
    """This process's simulator (reconciler, final dispatch) reads and writes the scenario's log."""
    from django.conf import settings

    before = settings.SMS_SIMULATOR_LOG
    settings.SMS_SIMULATOR_LOG = path
    try:
        yield
    finally:
        settings.SMS_SIMULATOR_LOG = before


def accepted(log: Path) -> int:
    try:
        return log.stat().st_size // LOG_LINE
    except FileNotFoundError:
        return 0


def reconcile(log: Path) -> dict[str, int]:
    """campaigns.dispatch.reconcile_sending (older_than=0) until it finds nothing more."""
    from datetime import timedelta

    from campaigns import dispatch
    from messaging.backends.base import get_backend

    totals = Counter(found=0, requeued=0, unknown=0)
    with simulator_log(log):
        backend = get_backend("simulator")
        while True:
            counts = dispatch.reconcile_sending(backend=backend, older_than=timedelta(0))
            totals.update(counts)
            if not sum(counts.values()):
                return dict(totals)


def settle(campaign_ids: list[int], log: Path, *, seconds: float = 90) -> int:
    """The final dispatch, in this process: until no job of the campaigns is due within 10 s."""
    from datetime import timedelta

    from django.utils import timezone

    from campaigns import dispatch
    from campaigns.models import JobStatus, SendJob
    from messaging.backends.base import get_backend

    sent = 0
    deadline = time.monotonic() + seconds
    with simulator_log(log):
        backend = get_backend("simulator")
        while time.monotonic() < deadline:
            stats = dispatch.dispatch(backend=backend, max_seconds=10)
            sent += stats.sent
            soon = timezone.now() + timedelta(seconds=10)
            due = SendJob.objects.filter(
                campaign_id__in=campaign_ids, status=JobStatus.PENDING, next_attempt_at__lte=soon
            )
            if not due.exists():
                break
            if not stats.claimed:
                time.sleep(0.2)
        dispatch.campaigns_advance()
    return sent


# --- the checks -----------------------------------------------------------------------------------------------------


@dataclass
class Audit:
    """What the provider's log and our tables say after a sending scenario settled.

    - duplicates: recipients (campaign, contact) the simulator accepted more than one message
      for, plus references it accepted twice, plus (campaign, contact) pairs with more than one
      live (not rejected) message in our table: each is a person texted twice;
    - lost: jobs still pending (other than the deferrals the scenario expects) or sending, and
      jobs we call sent whose message the provider never received;
    - stuck: jobs ``unknown`` (a person would have to decide);
    - mismatched: messages the provider accepted that our tables do not record as sent;
    - overspend: cents above a cap, by the Spend rows or by the live messages' cost;
    - spend_drift: Spend (day rows) minus the live messages' cost (0: every reservation is real).
    """

    jobs: dict[str, int]
    jobs_total: int
    accepted: int
    log_dup_references: int
    log_dup_recipients: int
    db_dup_recipients: int
    sent_not_at_provider: int
    mismatched: int
    unknown_references: int
    lost: int
    stuck: int
    expected_pending: int
    spend_day: int
    spend_month: int
    live_cost: int
    daily_cap: int
    monthly_cap: int
    overspend: int
    spend_drift: int

    @property
    def duplicates(self) -> int:
        return self.log_dup_references + self.log_dup_recipients + self.db_dup_recipients

    def problems(self, *, unknown_allowed: str = "") -> list[str]:
        out = []
        if self.log_dup_references or self.log_dup_recipients:
            out.append(
                f"duplicates in the provider's log: {self.log_dup_references} references accepted twice, "
                f"{self.log_dup_recipients} recipients accepted more than once"
            )
        if self.db_dup_recipients:
            out.append(f"{self.db_dup_recipients} (campaign, contact) pairs with more than one live message")
        if self.lost:
            out.append(
                f"{self.lost} jobs lost (jobs {self.jobs}; sent but never at the provider: {self.sent_not_at_provider})"
            )
        if self.stuck and not unknown_allowed:
            out.append(f"{self.stuck} jobs stuck as unknown")
        if self.mismatched or self.unknown_references:
            out.append(
                f"{self.mismatched} messages accepted by the provider not recorded as sent, "
                f"{self.unknown_references} references in its log we have no message for"
            )
        if self.overspend:
            out.append(
                f"overspend {self.overspend}¢ (day {self.spend_day}¢ of {self.daily_cap}¢, month "
                f"{self.spend_month}¢ of {self.monthly_cap}¢, live messages {self.live_cost}¢)"
            )
        if self.spend_drift:
            out.append(f"spend rows {self.spend_day}¢ ≠ live messages' cost {self.live_cost}¢")
        return out

    def lines(self) -> list[str]:
        return [
            f"jobs {self.jobs_total:,} by status {self.jobs}",
            f"provider's log: {self.accepted:,} accepted, {self.log_dup_references} references twice, "
            f"{self.log_dup_recipients} recipients twice, {self.unknown_references} unknown references",
            f"messages table: {self.db_dup_recipients} recipients with >1 live message; "
            f"{self.mismatched} accepted but not recorded sent; {self.sent_not_at_provider} sent but not at the "
            "provider",
            f"lost {self.lost}, stuck {self.stuck}"
            + (f", deferred as expected {self.expected_pending:,}" if self.expected_pending else ""),
            f"spend: day {self.spend_day:,}¢ / cap {self.daily_cap:,}¢, month {self.spend_month:,}¢ / cap "
            f"{self.monthly_cap:,}¢; live messages {self.live_cost:,}¢; overspend {self.overspend}¢",
        ]


def read_log(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[0] for line in log.read_text().splitlines() if line.strip()]


def audit(tenant, campaign_ids: list[int], log: Path, *, expected_pending=None, month_seed: int = 0) -> Audit:
    """Count duplicates, losses, stuck jobs and overspend for the tenant's campaigns (see Audit).

    ``expected_pending``: a Q of pending jobs the scenario expects to stay pending (budget
    deferrals); ``month_seed``: cents put on the month's Spend row before the scenario.
    """
    from django.db.models import Count, Sum

    from campaigns.models import JobStatus, SendJob
    from messaging.models import Message, MessageKind, MessageStatus, Spend
    from tenants.models import Tenant

    tenant = Tenant.objects.get(pk=tenant.pk)
    jobs = SendJob.objects.filter(campaign_id__in=campaign_ids)
    by_status = dict(jobs.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    expected = jobs.filter(status=JobStatus.PENDING).filter(expected_pending).count() if expected_pending else 0
    open_jobs = by_status.get(JobStatus.PENDING, 0) - expected + by_status.get(JobStatus.SENDING, 0)

    references = read_log(log)
    counted = Counter(references)
    distinct = list(counted)
    messages = {}
    for start in range(0, len(distinct), 5_000):
        chunk = distinct[start : start + 5_000]
        for ref, campaign_id, contact_id, status in Message.objects.filter(
            tenant=tenant, reference__in=chunk
        ).values_list("reference", "campaign_id", "contact_id", "status"):
            messages[str(ref)] = (campaign_id, contact_id, status)
    recipients = Counter((m[0], m[1]) for ref, m in messages.items())
    job_status = (
        dict(jobs.filter(message__reference__in=list(messages)).values_list("message__reference", "status"))
        if messages
        else {}
    )
    job_status = {str(k): v for k, v in job_status.items()}
    mismatched = sum(
        1
        for ref, (_, _, status) in messages.items()
        if status in (MessageStatus.REJECTED, MessageStatus.SENDING, MessageStatus.UNKNOWN)
        or job_status.get(ref) != JobStatus.SENT
    )
    sent_refs = {str(ref) for ref in jobs.filter(status=JobStatus.SENT).values_list("message__reference", flat=True)}
    live = Message.objects.filter(tenant=tenant, kind=MessageKind.CAMPAIGN, campaign_id__in=campaign_ids).exclude(
        status=MessageStatus.REJECTED
    )
    db_dups = live.values("campaign_id", "contact_id").annotate(n=Count("id")).filter(n__gt=1).count()
    live_cost = live.aggregate(c=Sum("cost_cents"))["c"] or 0
    spend = Spend.objects.filter(tenant=tenant)
    spend_day = spend.filter(period="day").aggregate(c=Sum("cents"))["c"] or 0
    spend_month = spend.filter(period="month").aggregate(c=Sum("cents"))["c"] or 0
    worst_day = max(spend.filter(period="day").values_list("cents", flat=True), default=0)
    worst_month = max(spend.filter(period="month").values_list("cents", flat=True), default=0)
    overspend = max(
        0,
        worst_day - tenant.daily_budget_cents,
        worst_month - tenant.monthly_budget_cents,
        live_cost - tenant.daily_budget_cents,
        live_cost + month_seed - tenant.monthly_budget_cents,
    )
    return Audit(
        jobs=by_status,
        jobs_total=sum(by_status.values()),
        accepted=len(references),
        log_dup_references=sum(n - 1 for n in counted.values() if n > 1),
        log_dup_recipients=sum(n - 1 for n in recipients.values() if n > 1),
        db_dup_recipients=db_dups,
        sent_not_at_provider=len(sent_refs - set(counted)),
        mismatched=mismatched,
        unknown_references=len(set(counted) - set(messages)),
        lost=open_jobs + len(sent_refs - set(counted)),
        stuck=by_status.get(JobStatus.UNKNOWN, 0),
        expected_pending=expected,
        spend_day=spend_day,
        spend_month=spend_month,
        live_cost=live_cost,
        daily_cap=tenant.daily_budget_cents,
        monthly_cap=tenant.monthly_budget_cents,
        overspend=overspend,
        spend_drift=spend_day - live_cost,
    )


# --- results --------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    title: str = ""
    injected: str = ""
    duplicates: int | None = None
    lost: int | None = None
    stuck: int | None = None
    overspend: int | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the readable block, in order
    figures: dict = field(default_factory=dict)  # the JSON line
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        return "PASS" if not self.failures else "FAIL"

    def begin(self, title: str) -> None:
        self.title = title
        print(f"  {title}", flush=True)

    def say(self, text: str) -> None:
        """One line of the readable block, printed at once (a long scenario shows progress)."""
        self.notes.append(text)
        print(f"  {text}", flush=True)

    def fail(self, reason: str) -> None:
        self.failures.append(reason)
        print(f"  FAIL: {reason}", flush=True)

    def take(self, audit: Audit, *, unknown_allowed: str = "") -> None:
        self.duplicates = (self.duplicates or 0) + audit.duplicates
        self.lost = (self.lost or 0) + audit.lost
        self.stuck = (self.stuck or 0) + audit.stuck
        self.overspend = max(self.overspend or 0, audit.overspend)
        for line in audit.lines():
            self.say(line)
        for problem in audit.problems(unknown_allowed=unknown_allowed):
            self.fail(problem)
        if audit.stuck and unknown_allowed:
            self.say(f"{audit.stuck} unknown jobs allowed: {unknown_allowed}")

    def json(self) -> str:
        return json.dumps(
            {
                "scenario": self.name,
                "verdict": self.verdict,
                "injected": self.injected,
                "duplicates": self.duplicates,
                "lost": self.lost,
                "stuck": self.stuck,
                "overspend_cents": self.overspend,
                "seconds": round(self.seconds, 1),
                **self.figures,
                "failures": self.failures,
            },
            default=str,
        )


def purge(tenant) -> None:
    """bench.cleanup.tenant_purge, and the tenant's owner account (made only for the run)."""
    from django.contrib.auth import get_user_model

    from bench.cleanup import tenant_purge
    from tenants.models import Membership

    owners = list(Membership.objects.filter(tenant_id=tenant.pk).values_list("user_id", flat=True))
    tenant_purge(tenant.pk)
    get_user_model().objects.filter(pk__in=owners, email__endswith="@example.invalid").delete()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def outage_lines(text: str) -> tuple[int, int]:
    """How many 'unavailable' and 'back after' lines a dispatch loop's log has."""
    return text.count("unavailable ("), text.count("back after")


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
