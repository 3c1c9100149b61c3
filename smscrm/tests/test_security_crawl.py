"""The security review, kept as tests: every URL of the project, every role, two tenants.

1. Tenant isolation: each role of tenant A (staff flag set, so the admin is open to them) requests
   every URL filled with tenant B's ids, GET and a CSRF-valid POST. Nothing of B may show, no row
   of B may change, B's objects must answer exactly like missing ones, and nothing may answer 5xx.
2. Role matrix: each role requests every URL filled with A's own ids; each answer is the one the
   permission matrix (tenants.roles) gives for that role, and a refused request changes nothing.
3. Injection: A's free text holds XSS, template and formula payloads; no page shows one unescaped,
   hostile query strings never break a page, and no CSV export lets a spreadsheet run a formula.

A new URL pattern is crawled without anyone touching this file; if the crawl cannot fill its
kwargs, or test 2 does not know what each role should get, the test fails and says what to add
(smscrm/tests/crawl_data.URL_FILLERS, the tables below).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.urls import reverse

from contacts.models import Contact
from smscrm.tests.crawl import (
    Answer,
    Browser,
    Findings,
    Snapshotter,
    csv_rows,
    formula_cells,
    is_csv,
    request_kept,
    rolled_back,
    routes,
    tenant_models,
    tenant_rows,
    unescaped_payloads,
)
from smscrm.tests.crawl_data import (
    FORMULA_PAYLOADS,
    HTML_PAYLOAD,
    POSTS_NAMING_ROWS,
    PayloadTexts,
    PlainTexts,
    RivalTexts,
    Target,
    Unfillable,
    fit,
    global_admin_objects,
    objects_for_admin,
    populate,
    post_for,
    record_heartbeats,
    targets_for,
)
from tenants.admin import OperatorsOnlyMixin, ReadOnlyScopedAdmin, TenantScopedAdmin
from tenants.mixins import TenantScopedMixin
from tenants.models import Tenant
from tenants.roles import Perm, Role, role_allows

pytestmark = pytest.mark.django_db

ROLES = tuple(role.value for role in Role)  # viewer, staff, admin, owner


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quiet_refusals(caplog):
    """Thousands of 403/404/405 answers are the point here: not a warning (with a traceback) each.
    Server errors are still logged, and every answer is checked by the tests themselves."""
    for logger in ("django.request", "django.security", "messaging.webhooks"):
        caplog.set_level(logging.ERROR, logger=logger)


@pytest.fixture
def workdir(settings, tmp_path, clock):
    """Uploads in a directory of the test's own; the clock in Sydney's sending hours; the worker alive."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    record_heartbeats()
    return tmp_path


@pytest.fixture
def staff_members(members):
    """A's user per role, each also allowed into the (tenant-scoped) admin."""
    for user in members.values():
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    return members


@pytest.fixture
def global_objects(db):
    return global_admin_objects()


@pytest.fixture
def own(workdir, tenant, staff_members):
    return populate(tenant, owner=staff_members["owner"], texts=PlainTexts(), slot=1, workdir=workdir)


@pytest.fixture
def rival(workdir, other_tenant, other_owner):
    return populate(other_tenant, owner=other_owner, texts=RivalTexts(), slot=2, workdir=workdir)


@pytest.fixture
def hostile_own(workdir, tenant, staff_members):
    """Tenant A with a payload in every free-text field, its own name and business name included."""
    Tenant.objects.filter(pk=tenant.pk).update(
        name=fit(Tenant, "name", HTML_PAYLOAD), business_name=fit(Tenant, "business_name", HTML_PAYLOAD)
    )
    tenant.refresh_from_db()
    return populate(tenant, owner=staff_members["owner"], texts=PayloadTexts(), slot=1, workdir=workdir)


def crawl_targets(data, global_objects, *, skip=(), id_queries=True) -> list[Target]:
    """Every request of every route for ``data``'s tenant; fails naming the routes it cannot fill."""
    found, unfillable = [], []
    for route in routes():
        if route.key in skip:
            continue
        try:
            found += targets_for(route, data, global_objects, id_queries=id_queries)
        except Unfillable as exc:
            unfillable.append(str(exc))
    assert not unfillable, "URL patterns the crawl cannot fill:\n" + "\n".join(unfillable)
    return found


# --- 1. tenant isolation --------------------------------------------------------------------------------------------

# Not crawled for another tenant's ids, and why. Keep this short: everything else is.
NOT_TENANT_SCOPED = {
    "links:follow": "public by design: whoever holds a short link's token is redirected to its destination "
    "(answered by links.middleware before sessions and tenancy)",
}
# What a page may show of B by design, to whoever holds B's link (the token is the capability):
# the invitation page names its business and the address invited. Accepting it as someone else
# must still change nothing (checked like every other POST).
LINK_HOLDER_MAY_SEE = {"tenants:invitation": lambda rival: {rival.tenant.name, rival.invitation.email}}


def hidden(target: Target, answer: Answer) -> bool:
    """The answer a missing object gets: 404 (or 403 where the role is refused first, 405 where the
    method is); in the admin, its "does not exist" redirect to the index, or the redirect of /<id>/
    to /<id>/change/. (For GET, the answer to a missing id is also compared.)"""
    if answer.status in (403, 404, 405):
        return True
    route = target.route
    if route.key.startswith("admin") and answer.status == 302:
        if answer.location == reverse("admin:index"):
            return True
        if route.admin_kind == "object":
            opts = route.admin_model._meta
            return answer.location == reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[*target.kwargs.values()]
            )
    return False


def same_answer(target: Target, theirs: Answer, missing: Answer) -> bool:
    """Whether their object and a missing one are answered alike (ids aside)."""

    def shape(answer: Answer, values) -> tuple:
        location = answer.location
        for value in values:
            location = location.replace(str(value), "<id>")
        return answer.status, location

    return shape(theirs, target.kwargs.values()) == shape(missing, target.with_missing_ids().kwargs.values())


def test_another_tenants_data_is_invisible_and_untouchable(staff_members, own, rival, global_objects, other_owner):
    uncovered = [m._meta.label for m in tenant_models() if not tenant_rows(m, rival.tenant).exists()]
    assert not uncovered, f"the populated rival tenant has no rows of {uncovered}: add them in crawl_data.populate"
    # The markers are real: B's own owner sees them where A's users must not.
    theirs = Browser(other_owner).request("GET", reverse("contacts:detail", args=[rival.contact.pk]))
    assert theirs.status == 200 and rival.contact.first_name in theirs.text

    markers = {marker.lower() for marker in rival.markers()}
    rows = Snapshotter(rival.tenant)
    with rolled_back():  # the snapshot sees a change when there is one
        Contact.objects.filter(pk=rival.contact.pk).update(first_name="changed")
        assert rows.changes(), "the crawl's snapshot of B's rows missed a change"
    findings = Findings("tenant B's data seen or changed by tenant A's users")
    targets = crawl_targets(rival, global_objects, skip=NOT_TENANT_SCOPED)
    for role in ROLES:
        browser = Browser(staff_members[role])
        for target in targets:
            may_see = {m.lower() for m in LINK_HOLDER_MAY_SEE.get(target.route.key, lambda _: ())(rival)}
            with rolled_back():  # GET, then POST, then B's rows as they left them; all undone
                got = request_kept(browser, "GET", target.url)
                # Their object and a missing one must get the same answer; a 404 is that answer by definition.
                missing = None
                if target.hides and got.status != 404:
                    missing = request_kept(browser, "GET", target.with_missing_ids().url)
                # (A query string naming B's rows is read by GET; the POST of its URL is crawled without it.)
                posted = (
                    None
                    if target.query
                    else request_kept(browser, "POST", target.url, post_for(target, rival, global_objects))
                )
                changed = rows.changes()
            for answer in filter(None, (got, posted)):
                findings.saw(answer)
                where = f"{role} {answer.describe()}"
                if answer.status >= 500:
                    findings.add(f"server error: {where}")
                shown = answer.shown
                leaked = sorted(marker for marker in markers - may_see if marker in shown)
                if leaked:
                    findings.add(f"leak of {leaked}: {where}")
                hides = target.hides or (answer is posted and target.route.key in POSTS_NAMING_ROWS)
                if hides and answer.status < 500 and not hidden(target, answer):
                    findings.add(f"B's object not answered as missing: {where}")
            if missing is not None and not same_answer(target, got, missing):
                findings.add(
                    f"B's object answered unlike a missing one ({missing.describe()}): {role} {got.describe()}"
                )
            if changed:
                findings.add(f"B's rows changed: {changed}: {role} GET and POST {target.url}")
    findings.check()


# --- 2. role matrix -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Perms:
    """A page behind TenantScopedMixin: the permission GET needs, and the one POST needs. A role
    without it gets 403; a role with it gets the page's own answer (the same for every such role)."""

    get: str
    post: str


@dataclass(frozen=True)
class Fixed:
    """A view outside the matrix: the same status for every role."""

    get: int
    post: int


@dataclass(frozen=True)
class AdminRights:
    """What the admin of one model lets a role do (None: no role, only superusers)."""

    view: str | None
    add: str | None
    change: str | None
    delete: str | None


# Every page behind TenantScopedMixin, by URL name: what the README's role table says it needs.
PAGES = {
    "reporting:dashboard": Perms(Perm.VIEW, Perm.VIEW),
    "tenants:switch": Perms(Perm.VIEW, Perm.VIEW),
    "tenants:pause": Perms(Perm.KILL_SWITCH, Perm.KILL_SWITCH),
    "tenants:resume": Perms(Perm.KILL_SWITCH, Perm.KILL_SWITCH),
    "tenants:settings": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "tenants:members": Perms(Perm.MEMBERS_MANAGE, Perm.MEMBERS_MANAGE),
    "tenants:member_role": Perms(Perm.MEMBERS_MANAGE, Perm.MEMBERS_MANAGE),
    "tenants:member_remove": Perms(Perm.MEMBERS_MANAGE, Perm.MEMBERS_MANAGE),
    "tenants:invitation_revoke": Perms(Perm.MEMBERS_MANAGE, Perm.MEMBERS_MANAGE),
    "tenants:activity": Perms(Perm.AUDIT_VIEW, Perm.AUDIT_VIEW),
    "contacts:list": Perms(Perm.VIEW, Perm.VIEW),
    "contacts:create": Perms(Perm.CONTACTS_EDIT, Perm.CONTACTS_EDIT),
    "contacts:export": Perms(Perm.CONTACTS_EXPORT, Perm.CONTACTS_EXPORT),
    "contacts:detail": Perms(Perm.VIEW, Perm.VIEW),
    "contacts:edit": Perms(Perm.CONTACTS_EDIT, Perm.CONTACTS_EDIT),
    "contacts:delete": Perms(Perm.CONTACTS_DELETE, Perm.CONTACTS_DELETE),
    "contacts:consent": Perms(Perm.CONTACTS_EDIT, Perm.CONTACTS_EDIT),
    "contacts:dnc": Perms(Perm.VIEW, Perm.DNC_MANAGE),
    "contacts:dnc_export": Perms(Perm.CONTACTS_EXPORT, Perm.CONTACTS_EXPORT),
    "contacts:dnc_remove": Perms(Perm.DNC_MANAGE, Perm.DNC_MANAGE),
    "contacts:imports": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "contacts:import": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "contacts:import_commit": Perms(Perm.CONTACTS_IMPORT, Perm.CONTACTS_IMPORT),
    "contacts:import_discard": Perms(Perm.CONTACTS_IMPORT, Perm.CONTACTS_IMPORT),
    "contacts:import_progress": Perms(Perm.VIEW, Perm.VIEW),
    "contacts:import_rejected": Perms(Perm.CONTACTS_IMPORT, Perm.CONTACTS_IMPORT),
    "campaigns:list": Perms(Perm.VIEW, Perm.VIEW),
    "campaigns:create": Perms(Perm.CAMPAIGNS_DRAFT, Perm.CAMPAIGNS_DRAFT),
    "campaigns:detail": Perms(Perm.VIEW, Perm.VIEW),
    "campaigns:edit": Perms(Perm.CAMPAIGNS_DRAFT, Perm.CAMPAIGNS_DRAFT),
    "campaigns:launch": Perms(Perm.CAMPAIGNS_LAUNCH, Perm.CAMPAIGNS_LAUNCH),
    "campaigns:pause": Perms(Perm.CAMPAIGNS_LAUNCH, Perm.CAMPAIGNS_LAUNCH),
    "campaigns:resume": Perms(Perm.CAMPAIGNS_LAUNCH, Perm.CAMPAIGNS_LAUNCH),
    "campaigns:cancel": Perms(Perm.CAMPAIGNS_LAUNCH, Perm.CAMPAIGNS_LAUNCH),
    "campaigns:job_decide": Perms(Perm.CAMPAIGNS_LAUNCH, Perm.CAMPAIGNS_LAUNCH),
    "campaigns:templates": Perms(Perm.VIEW, Perm.VIEW),
    "campaigns:template_create": Perms(Perm.CAMPAIGNS_DRAFT, Perm.CAMPAIGNS_DRAFT),
    "campaigns:template": Perms(Perm.VIEW, Perm.CAMPAIGNS_DRAFT),
    "campaigns:template_gsm": Perms(Perm.CAMPAIGNS_DRAFT, Perm.CAMPAIGNS_DRAFT),
    "campaigns:numbers": Perms(Perm.NUMBERS_MANAGE, Perm.NUMBERS_MANAGE),
    "reporting:campaign_report": Perms(Perm.VIEW, Perm.VIEW),
    "reporting:campaign_jobs_csv": Perms(Perm.CONTACTS_EXPORT, Perm.CONTACTS_EXPORT),
    "reporting:pilot_check": Perms(Perm.AUDIT_VIEW, Perm.AUDIT_VIEW),
    "messaging:inbox": Perms(Perm.VIEW, Perm.VIEW),  # the conversations: GET only, POST is 405
    "messaging:texts": Perms(Perm.VIEW, Perm.INBOX_MANAGE),
    "messaging:thread": Perms(Perm.VIEW, Perm.INBOX_MANAGE),
    "messaging:thread_action": Perms(Perm.INBOX_MANAGE, Perm.INBOX_MANAGE),  # POST only: GET is 405
    "messaging:saved_replies": Perms(Perm.VIEW, Perm.SETTINGS_MANAGE),
    "messaging:saved_reply": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "tenants:api_keys": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "tenants:api_key_revoke": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:list": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:detail": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:disable": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:enable": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:delete": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "webhooks:send_again": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "cutover": Perms(Perm.CUTOVER_VIEW, Perm.CUTOVER_VIEW),  # GET only: POST is 405 for owners
}

# The REST API (/api/v1/), reached here with the browser's session: what GET and POST need on
# each route (a method a route does not have is a 405 for every member). Keys are covered per
# endpoint and role by each app's API tests (assert_api_roles).
API_VIEWS: dict[str, Perms] = {
    "api:contact-list": Perms(Perm.VIEW, Perm.CONTACTS_EDIT),
    "api:contact-by-phone": Perms(Perm.VIEW, Perm.VIEW),  # PUT only: GET and POST are 405
    "api:contact-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:contact-consent-list": Perms(Perm.VIEW, Perm.CONTACTS_EDIT),
    "api:dnc-list": Perms(Perm.VIEW, Perm.DNC_MANAGE),
    "api:dnc-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:import-list": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "api:import-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:import-commit": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "api:import-configure": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "api:import-discard": Perms(Perm.VIEW, Perm.CONTACTS_IMPORT),
    "api:import-rejected": Perms(Perm.CONTACTS_IMPORT, Perm.VIEW),
    "api:template-list": Perms(Perm.VIEW, Perm.CAMPAIGNS_DRAFT),
    "api:template-preview-unsaved": Perms(Perm.VIEW, Perm.VIEW),
    "api:template-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:template-preview": Perms(Perm.VIEW, Perm.VIEW),
    "api:campaign-list": Perms(Perm.VIEW, Perm.CAMPAIGNS_DRAFT),
    "api:campaign-detail": Perms(Perm.VIEW, Perm.VIEW),
    **{
        f"api:campaign-{verb}": Perms(Perm.VIEW, Perm.CAMPAIGNS_LAUNCH)
        for verb in ("launch", "pause", "resume", "cancel")
    },
    "api:campaign-report": Perms(Perm.VIEW, Perm.VIEW),
    "api:message-list": Perms(Perm.VIEW, Perm.VIEW),
    "api:message-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:webhook-list": Perms(Perm.SETTINGS_MANAGE, Perm.SETTINGS_MANAGE),
    "api:webhook-detail": Perms(Perm.SETTINGS_MANAGE, Perm.VIEW),  # POST: 405
    "api:conversation-list": Perms(Perm.VIEW, Perm.VIEW),  # GET only: POST is 405
    "api:conversation-detail": Perms(Perm.VIEW, Perm.VIEW),
    "api:conversation-messages": Perms(Perm.VIEW, Perm.INBOX_MANAGE),  # POST only: GET is 405
}

# Views outside the mixin, and the admin site's own pages: the same answer for every role (all
# signed in, all staff). Webhooks are signature-checked, not session-based: unsigned POSTs get 403.
OTHER_VIEWS = {
    "favicon": Fixed(301, 301),
    "health": Fixed(200, 405),
    "health_live": Fixed(200, 405),
    "tenants:login": Fixed(302, 200),  # signed in: GET goes to the dashboard; POST mails a link
    "tenants:login_confirm": Fixed(302, 302),  # no token: back to the login page
    "tenants:logout": Fixed(200, 302),
    "tenants:choose": Fixed(200, 302),  # "which business?": any signed-in user; POST goes back to the page
    "tenants:invitation": Fixed(200, 302),  # the link holder sees the offer; accepting as someone else is refused
    "messaging:provider_webhook": Fixed(405, 403),
    "messaging:status_callback": Fixed(405, 403),
    "messaging:inbound_webhook": Fixed(405, 403),
    "links:follow": Fixed(302, 302),  # public: the token is the capability
    "admin:index": Fixed(200, 200),
    "admin:login": Fixed(403, 403),  # tenants.admin._admin_login: signed-in users are refused
    "admin:logout": Fixed(405, 302),  # to LOGOUT_REDIRECT_URL
    "admin:password_change": Fixed(200, 200),
    "admin:password_change_done": Fixed(200, 405),
    "admin:autocomplete": Fixed(403, 405),
    "admin:jsi18n": Fixed(200, 405),
    "admin:view_on_site": Fixed(404, 404),  # no model has get_absolute_url
    "admin/(?P<url>.*)$": Fixed(404, 404),
    "admin:auth_user_password_change": Fixed(403, 403),
    "metrics": Fixed(404, 405),  # only with METRICS_TOKEN, which the crawl leaves unset
    "api:schema": Fixed(200, 405),
    "api:docs": Fixed(200, 405),
    "api/v1/^(?P<rest>.*)$": Fixed(404, 404),
}

# What each registered admin lets a role do.
NOBODY = AdminRights(None, None, None, None)
READ_ONLY = AdminRights(Perm.VIEW, None, None, None)
ADMIN_RIGHTS = {
    "tenants.Tenant": AdminRights(Perm.VIEW, None, Perm.SETTINGS_MANAGE, None),
    # Joining is the invitee's choice (an invitation from the Members page): nobody adds members here.
    "tenants.Membership": AdminRights(Perm.VIEW, None, Perm.MEMBERS_MANAGE, Perm.MEMBERS_MANAGE),
    "tenants.AuditEvent": AdminRights(Perm.AUDIT_VIEW, None, None, None),
    "contacts.Contact": AdminRights(Perm.VIEW, Perm.CONTACTS_EDIT, Perm.CONTACTS_EDIT, Perm.CONTACTS_DELETE),
    "contacts.ConsentRecord": READ_ONLY,
    "contacts.DoNotContact": AdminRights(Perm.VIEW, Perm.DNC_MANAGE, None, None),  # removal needs a reason: the page
    "contacts.ContactImport": AdminRights(Perm.VIEW, Perm.CONTACTS_IMPORT, None, None),
    "links.ShortLink": READ_ONLY,
    "links.Click": READ_ONLY,
    "messaging.ProviderAccount": AdminRights(Perm.VIEW, Perm.NUMBERS_MANAGE, Perm.NUMBERS_MANAGE, Perm.NUMBERS_MANAGE),
    "messaging.SendingNumber": AdminRights(Perm.VIEW, Perm.NUMBERS_MANAGE, Perm.NUMBERS_MANAGE, Perm.NUMBERS_MANAGE),
    "messaging.Price": AdminRights(Perm.VIEW, Perm.BUDGETS_MANAGE, Perm.BUDGETS_MANAGE, Perm.BUDGETS_MANAGE),
    "messaging.Message": READ_ONLY,
    "messaging.ProviderEvent": READ_ONLY,
    "campaigns.Template": READ_ONLY,
    "campaigns.Campaign": READ_ONLY,
    "campaigns.SendJob": READ_ONLY,
    # The platform operator's (tenants.admin.OperatorsOnlyMixin), and celery beat's: model
    # permissions, which no member holds.
    "auth.Group": NOBODY,
    "auth.User": NOBODY,
    "django_celery_beat.PeriodicTask": NOBODY,
    "django_celery_beat.IntervalSchedule": NOBODY,
    "django_celery_beat.CrontabSchedule": NOBODY,
    "django_celery_beat.SolarSchedule": NOBODY,
    "django_celery_beat.ClockedSchedule": NOBODY,
}

ALLOWED = "allowed"  # the view's own answer, the same for every role that may
ADMIN_PAGE_KINDS = ("changelist", "add", "change", "delete", "history", "object")  # a ModelAdmin's own pages


@dataclass(frozen=True)
class Expected:
    status: int | str  # a status, or ALLOWED
    deletes: bool | None = None  # the admin row named is deleted (True) or kept (False); None: not asked
    location: str | None = None  # where a redirect goes, when it matters


def may(role: str, perm: str | None) -> bool:
    return perm is not None and role_allows(role, perm)


def admin_expected(route, role: str, method: str) -> Expected:
    """Django's admin on a scoped model: 403 for a role without the right (after looking the row
    up, for history and delete); the delete action and the delete page delete only with it."""
    rights = ADMIN_RIGHTS[route.admin_model._meta.label]
    kind, post = route.admin_kind, method == "POST"
    if kind == "object":
        return Expected(302)  # /<id>/ redirects to /<id>/change/ before any check
    if kind == "changelist":
        if not may(role, rights.view):
            return Expected(403)
        if not post:
            return Expected(200)
        return Expected(302, deletes=True) if may(role, rights.delete) else Expected(200, deletes=False)
    if kind == "add":
        return Expected((ALLOWED if post else 200) if may(role, rights.add) else 403)
    if kind == "change":
        if post:
            return Expected(ALLOWED if may(role, rights.change) else 403)
        return Expected(200 if may(role, rights.view) else 403)
    if kind == "delete":
        if post:
            return Expected(302, deletes=True) if may(role, rights.delete) else Expected(403, deletes=False)
        return Expected(200 if may(role, rights.delete) else 403)
    if kind == "history":
        if may(role, rights.view):
            return Expected(200)
        # Django looks the row up first; a scoped admin's queryset hides rows the role may not view
        # (users and groups: every row, for all but superusers), so the refusal is its "does not
        # exist" redirect. Unscoped admins (celery beat's) find the row: 403.
        scoped = isinstance(admin.site._registry[route.admin_model], TenantScopedAdmin | OperatorsOnlyMixin)
        return Expected(302, location=reverse("admin:index")) if scoped else Expected(403)
    raise KeyError(route.key)


def app_list_expected(target: Target, role: str) -> Expected:
    """An admin app's index: 200 when the role sees any of its models, else 404."""
    label = target.kwargs["app_label"]
    visible = any(
        may(role, ADMIN_RIGHTS[model._meta.label].view)
        for model in admin.site._registry
        if model._meta.app_label == label
    )
    return Expected(200 if visible else 404)


def expected(target: Target, role: str, method: str) -> Expected:
    """What ``role`` must get; KeyError for a URL nobody classified."""
    route = target.route
    if route.key in PAGES:
        assert route.view_class and issubclass(route.view_class, TenantScopedMixin), f"{route.key} is not scoped"
        perms = PAGES[route.key]
        return Expected(ALLOWED if role_allows(role, perms.get if method == "GET" else perms.post) else 403)
    if route.key in API_VIEWS:
        perms = API_VIEWS[route.key]
        return Expected(ALLOWED if role_allows(role, perms.get if method == "GET" else perms.post) else 403)
    if route.key in OTHER_VIEWS:
        fixed = OTHER_VIEWS[route.key]
        return Expected(fixed.get if method == "GET" else fixed.post)
    if route.key == "admin:app_list":
        return app_list_expected(target, role)
    if route.admin_model is not None and route.admin_kind in ADMIN_PAGE_KINDS:
        return admin_expected(route, role, method)
    raise KeyError(route.key)


def test_every_url_answers_each_role_as_the_permission_matrix_says(staff_members, own, global_objects):
    targets = crawl_targets(own, global_objects, id_queries=False)
    unclassified = sorted({t.route.key for t in targets if not _classified(t)})
    assert not unclassified, (
        f"URLs with no expected answer per role (add them to PAGES / OTHER_VIEWS / ADMIN_RIGHTS): {unclassified}"
    )
    unscoped = sorted(
        t.route.key for t in targets
        if t.route.view_class and issubclass(t.route.view_class, TenantScopedMixin) and t.route.key not in PAGES
    )  # fmt: skip
    assert not unscoped, f"tenant-scoped pages missing from PAGES: {unscoped}"
    for model, model_admin in admin.site._registry.items():
        scoped = isinstance(model_admin, TenantScopedAdmin)
        assert scoped or ADMIN_RIGHTS[model._meta.label] == NOBODY, f"{model._meta.label}: unscoped admin"
        assert not isinstance(model_admin, ReadOnlyScopedAdmin) or ADMIN_RIGHTS[model._meta.label].change is None

    rows = Snapshotter(own.tenant)
    findings = Findings("answers that differ from the permission matrix")
    allowed_statuses: dict[str, dict[str, int]] = defaultdict(dict)
    for role in ROLES:
        browser = Browser(staff_members[role])
        for target in targets:
            for method in ("GET", "POST"):
                want = expected(target, role, method)
                data = post_for(target, own, global_objects) if method == "POST" else None
                named = (
                    objects_for_admin(own, target.route.admin_model, global_objects)[0]
                    if want.deletes is not None
                    else None
                )
                with rolled_back():
                    answer = browser.request(method, target.url, data)
                    changed = rows.changes() if want.status == 403 and answer.status < 500 else []
                    kept = type(named)._base_manager.filter(pk=named.pk).exists() if named is not None else None
                findings.saw(answer)
                where = f"{role} {answer.describe()}"
                if own.secret_token in answer.text:
                    findings.add(f"the provider account's auth token is shown: {where}")
                if answer.status >= 500:
                    findings.add(f"server error: {where}")
                elif want.status == ALLOWED:
                    allowed_statuses[f"{method} {target.url}"][role] = answer.status
                    if answer.status in (403, 404):
                        findings.add(f"refused, but the matrix allows it: {where}")
                elif answer.status != want.status or (want.location and answer.location != want.location):
                    findings.add(f"expected {want.status}{f' -> {want.location}' if want.location else ''}: {where}")
                elif want.deletes is not None and kept is want.deletes:
                    findings.add(f"the row {'was kept' if kept else 'was deleted'}, expected the opposite: {where}")
                if changed:
                    findings.add(f"refused, yet rows changed: {changed}: {where}")
    for request, by_role in allowed_statuses.items():
        if len(set(by_role.values())) > 1:
            findings.add(f"roles allowed {request} got different answers: {by_role}")
    findings.check()


def _classified(target: Target) -> bool:
    try:
        expected(target, "viewer", "GET")
    except KeyError:
        return False
    return True


# --- 3. injection ---------------------------------------------------------------------------------------------------

# Every export of personal data must be among the CSVs the crawl reads (others are checked too).
CSV_EXPORTS = {"contacts:export", "contacts:dnc_export", "reporting:campaign_jobs_csv", "contacts:import_rejected"}
# Pages that show stored payloads, escaped: proof the payloads reached the pages at all.
PAGES_SHOWING_PAYLOADS = {
    "reporting:dashboard", "tenants:activity", "tenants:settings", "contacts:list", "contacts:detail", "contacts:dnc",
    "contacts:imports", "contacts:import", "campaigns:list", "campaigns:detail", "campaigns:template",
    "campaigns:numbers", "reporting:campaign_report", "reporting:pilot_check", "messaging:inbox", "webhooks:detail",
    "messaging:texts", "messaging:thread", "messaging:saved_replies",
    "admin:contacts_contact_change", "admin:tenants_auditevent_changelist",
}  # fmt: skip
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
QUERY_KEYS = ("q", "tag", "consent", "dnc", "undeliverable", "state", "intent", "campaign", "template", "page", "after",
              "next", "sesame")  # fmt: skip
HOSTILE_QUERIES = {
    "reflected markup": HTML_PAYLOAD,
    "NUL byte": "\x00abc",
}


def hostile(target: Target, value: str) -> Target:
    keys = ("q",) if target.route.key.startswith("admin") else QUERY_KEYS
    return Target(target.route, target.kwargs, {key: value for key in keys})


def test_stored_and_reflected_payloads_are_escaped_and_exports_neutralise_formulas(
    staff_members, hostile_own, global_objects
):
    browser = Browser(staff_members["owner"])
    findings = Findings("injection")
    cells_seen: dict[str, list[str]] = {}
    payload_seen = set()
    for target in crawl_targets(hostile_own, global_objects, id_queries=False):
        with rolled_back():
            answer = browser.request("GET", target.url)
        findings.saw(answer)
        where = f"stored payloads: {answer.describe()}"
        if answer.status >= 500:
            findings.add(f"server error: {where}")
        elif is_csv(answer):
            if answer.status == 200:
                cells_seen[target.route.key] = [cell for row in csv_rows(answer) for cell in row]
            for row, column, cell in formula_cells(answer):
                findings.add(f"CSV cell row {row} column {column} {cell!r} is not neutralised: {where}")
        elif answer.content_type.startswith("text/html"):
            findings.lines += [f"unescaped payload /{p}/: {where}" for p in unescaped_payloads(answer)]
            if ESCAPED in answer.text:
                payload_seen.add(target.route.key)
        for name, value in HOSTILE_QUERIES.items():
            with rolled_back():
                answer = browser.request("GET", hostile(target, value).url)
            where = f"{name} in every query parameter: GET {target.url}?…: {answer.status} {answer.error}".rstrip()
            if answer.status >= 500:
                findings.add(f"server error: {where}")
            elif answer.content_type.startswith("text/html"):
                findings.lines += [f"unescaped payload /{p}/: {where}" for p in unescaped_payloads(answer)]
    assert set(cells_seen) >= CSV_EXPORTS, f"exports the crawl did not get as CSV: {CSV_EXPORTS - set(cells_seen)}"
    for export in CSV_EXPORTS:
        absent = [p for p in FORMULA_PAYLOADS if not any(p in cell for cell in cells_seen[export])]
        assert not absent, f"{export} carried none of {absent}: populate more rows (crawl_data.populate)"
    assert payload_seen >= PAGES_SHOWING_PAYLOADS, (
        f"pages that showed no payload: {PAGES_SHOWING_PAYLOADS - payload_seen}"
    )
    findings.check()
