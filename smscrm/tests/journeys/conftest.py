"""What every journey shares: a browser page at one of two viewports that checks each page it visits.

Each journey runs twice, on a 1280×800 desktop and on a 390×844 phone (touch, but not Chromium's
"mobile" emulation: that zooms a too-wide page out until it fits, so the page would never seem
to scroll sideways; the layout must fit 390 px itself). On every page it visits, ``Journey.check``
runs axe-core (0 violations expected) and measures sideways scroll (0 px expected); the problems
are collected with the page's path, printed as they are found (pytest shows them on failure) and
asserted at the end by ``Journey.assert_clean``, so one run names every page that needs work.
Each page with a problem is saved (screenshot and HTML) under var/screenshots/failures/ when the
problem is found, and a failed journey's last page too (the hook in the root conftest.py).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client

from smscrm.testing.browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    describe_violations,
    sideways_overflow,
    widest_elements,
)

VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
FAILURE_SHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots" / "failures"  # kept by CI
TIMEOUT_MS = 5_000

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.6 Mobile/15E148 Safari/604.1"
)
IMESSAGE_PREVIEW = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 "
    "Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0"
)


class Journey:
    """One person's way through the app in one browser page, checking every page on the way."""

    def __init__(self, page, base_url: str, viewport: str, settings, name: str = "journey"):
        self.page = page
        self.base_url = base_url
        self.viewport = viewport
        self.settings = settings
        self.name = name  # the test's, for the files saved when a page has a problem
        self.problems: list[str] = []

    def url(self, path: str) -> str:
        return self.base_url + path

    def go(self, path: str, *, status: int = 200):
        """Open ``path`` (as typed in the address bar), expect ``status``, check the page."""
        response = self.page.goto(self.url(path), wait_until="load")
        assert response is not None and response.status == status, f"{path}: {response and response.status}"
        self.check()
        return response

    def check(self) -> None:
        """axe-core and sideways scroll on the page as it is now; problems are kept, not raised."""
        self.page.wait_for_load_state("load")
        parts = urlsplit(self.page.url)
        where = parts.path + (f"?{parts.query}" if parts.query else "")
        found = []
        violations = axe_violations(self.page)
        if violations:
            found.append(f"[{self.viewport}] {where}: axe-core:\n{describe_violations(violations)}")
        overflow = sideways_overflow(self.page)
        if overflow:
            width = self.page.viewport_size["width"]
            found.append(
                f"[{self.viewport}] {where}: scrolls sideways by {overflow}px at {width}px wide; "
                f"widest: {', '.join(widest_elements(self.page))}"
            )
        new = [problem for problem in found if problem not in self.problems]
        for problem in new:
            print(problem)  # shown by pytest if the journey fails later for another reason
            self.problems.append(problem)
        if new:
            self._save(where)

    def _save(self, where: str) -> None:
        """The page as it was when a problem was found: var/screenshots/failures/<test>--<path>.png/.html."""
        slug = "".join(ch if ch.isalnum() else "_" for ch in where).strip("_") or "root"
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in self.name)[-140:]
        base = FAILURE_SHOTS / f"{stem}--{slug}"
        base.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=f"{base}.png", full_page=True)
        Path(f"{base}.html").write_text(self.page.content(), encoding="utf-8")
        print(f"  saved {base}.png")

    def menu(self):
        """The main menu, unfolded first where it is folded away (on a phone, behind "Menu")."""
        toggle = self.page.get_by_role("button", name="Menu", exact=True)
        if toggle.is_visible() and toggle.get_attribute("aria-expanded") != "true":
            toggle.click()
        return self.page.get_by_role("navigation", name="Main")

    def soft(self, what: str, assertion) -> None:
        """Run ``assertion`` (an ``expect(...)``); a failure is kept as a problem and the journey goes on.

        For what a person reads on a page (a figure, a word) when later steps do not depend on it.
        """
        try:
            assertion()
        except AssertionError as exc:
            parts = urlsplit(self.page.url)
            problem = f"[{self.viewport}] {parts.path}: {what}: {str(exc).splitlines()[0]}"
            print(problem)
            self.problems.append(problem)
            self._save(parts.path)

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)

    def sign_in(self, user) -> None:
        """``user``'s session in this browser (the sign-in journey itself goes through the e-mail)."""
        client = Client()
        client.force_login(user)
        host = urlsplit(self.base_url).hostname
        cookie = client.cookies[self.settings.SESSION_COOKIE_NAME].value
        self.page.context.add_cookies(
            [{"name": self.settings.SESSION_COOKIE_NAME, "value": cookie, "domain": host, "path": "/"}]
        )


class Worker:
    """Celery on an in-memory broker: what the app enqueues waits until the test runs it, here.

    The live server's requests enqueue as in production; ``run`` then takes every waiting task
    (and what those enqueue in turn) and runs it as a worker would.
    """

    def __init__(self, app):
        self.app = app

    def run(self) -> list[str]:
        """Run every queued task until the queues are empty; the names of the tasks run, in order."""
        ran = []
        while batch := self._take():
            for name, args, kwargs in batch:
                self.app.tasks[name].apply(args=args, kwargs=kwargs, throw=True)
                ran.append(name)
        return ran

    def beat(self, *names: str) -> None:
        """Run these periodic tasks now, as beat would send them (each must be in the schedule)."""
        scheduled = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
        for name in names:
            assert name in scheduled, f"{name} is not in CELERY_BEAT_SCHEDULE"
            self.app.tasks[name].apply(throw=True)
        self.run()  # and what they queued

    def _take(self) -> list[tuple[str, list, dict]]:
        taken = []
        with self.app.connection_for_read() as connection:
            for name in django_settings.WORKER_QUEUES:
                queue = connection.SimpleQueue(name)
                try:
                    while True:
                        message = queue.get(block=False)
                        args, kwargs, _ = message.decode()
                        taken.append((message.headers["task"], args, kwargs))
                        message.ack()
                except queue.Empty:
                    pass
                finally:
                    queue.close()
        return taken


@pytest.fixture
def worker():
    """Tasks queue (in memory) instead of running at once; ``worker.run()`` runs them."""
    from smscrm.testing.celery import publishing_to

    with publishing_to("memory://") as app:
        helper = Worker(app)
        try:
            yield helper
        finally:
            helper._take()  # nothing left queued for another test


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request) -> str:
    return request.param


@pytest.fixture
def journey(request, browser_context, live_server, settings, viewport) -> Journey:
    """A page at the journey's viewport, on the live server (links and webhooks point at it)."""
    settings.PUBLIC_BASE_URL = live_server.url  # e-mailed links, short links and webhook signatures
    if viewport == "phone":
        context = browser_context.browser.new_context(viewport=PHONE, has_touch=True)
        context.set_default_timeout(TIMEOUT_MS)
    else:
        context = browser_context
    page = context.new_page()
    page.set_viewport_size(VIEWPORTS[viewport])
    return Journey(page, live_server.url, viewport, settings, name=request.node.nodeid)
