"""Magic-link login: single use, 15 minutes, same answer for unknown addresses, rate limits."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import AuditEvent
from tenants.services import TenantAction, login_link_build
from tenants.tests.factories import UserFactory

LOGIN = reverse("tenants:login")
CONFIRM = reverse("tenants:login_confirm")


def _token(link: str) -> str:
    return re.search(r"sesame=([\w-]+)", link).group(1)


def _request_link(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(LOGIN, {"email": email})


@pytest.mark.django_db
def test_known_and_unknown_addresses_get_the_same_page(client, owner, django_capture_on_commit_callbacks):
    known = _request_link(client, owner.email.upper(), django_capture_on_commit_callbacks)
    unknown = _request_link(client, "nobody@nowhere.test", django_capture_on_commit_callbacks)
    assert known.status_code == unknown.status_code == 200
    normalise = lambda r: r.content.decode().replace(owner.email, "X").replace("nobody@nowhere.test", "X")  # noqa: E731
    assert normalise(known) == normalise(unknown)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]


@pytest.mark.django_db
def test_emailed_link_logs_in_once_and_not_twice(client, owner, django_capture_on_commit_callbacks):
    _request_link(client, owner.email, django_capture_on_commit_callbacks)
    link = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    token = _token(link)

    # Opening the link (as a mail scanner would) does not spend it.
    assert client.get(CONFIRM, {"sesame": token}).status_code == 200
    assert client.get(CONFIRM, {"sesame": token}).status_code == 200

    response = client.post(CONFIRM, {"sesame": token})
    assert response.status_code == 302 and response["Location"] == reverse("reporting:dashboard")
    assert client.get(reverse("reporting:dashboard")).status_code == 200
    assert AuditEvent.objects.filter(action=TenantAction.LOGIN, actor=owner).count() == 1

    second = client.__class__()
    assert second.post(CONFIRM, {"sesame": token}).status_code == 400
    assert second.get(CONFIRM, {"sesame": token}).status_code == 400
    assert second.get(reverse("reporting:dashboard")).status_code == 302  # still anonymous


@pytest.mark.django_db
def test_link_expires_after_15_minutes(client, owner):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        token = _token(login_link_build(user=owner))
    with time_machine.travel(start + timedelta(minutes=14, seconds=50), tick=False):
        assert client.get(CONFIRM, {"sesame": token}).status_code == 200
    with time_machine.travel(start + timedelta(minutes=15, seconds=10), tick=False):
        assert client.post(CONFIRM, {"sesame": token}).status_code == 400
        assert client.get(reverse("reporting:dashboard")).status_code == 302


@pytest.mark.django_db
def test_tampered_token_is_refused(client, owner):
    token = _token(login_link_build(user=owner))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.post(CONFIRM, {"sesame": tampered}).status_code == 400


@pytest.mark.django_db
def test_inactive_user_gets_no_link(client, django_capture_on_commit_callbacks):
    UserFactory(email="gone@acme.test", is_active=False)
    _request_link(client, "gone@acme.test", django_capture_on_commit_callbacks)
    assert mail.outbox == []


@pytest.mark.django_db
def test_the_per_address_limit_never_locks_the_owner_out(client, owner, settings, django_capture_on_commit_callbacks):
    """Five requests naming someone's e-mail made the real user's own requests 429 for an hour."""
    settings.LOGIN_RATE_PER_EMAIL = "3/h"
    for n in range(3):  # a stranger, from their own address
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(LOGIN, {"email": owner.email}, REMOTE_ADDR=f"198.51.100.{n}")
        assert response.status_code == 200, n
    sent = len(mail.outbox)
    assert sent == 3
    # The stranger keeps asking: one more e-mail goes per link lifetime, no more.
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(LOGIN, {"email": owner.email}, REMOTE_ADDR=f"198.51.100.{10 + n}")
    assert len(mail.outbox) == sent + 1
    # A link lifetime later (its marker expires; Redis keeps real time, so it is removed here),
    # the owner asks from home: the same page as always, and a fresh link that works.
    from django.core.cache import cache

    from tenants.views import _digest

    assert cache.delete(f"login-link-trickle:{_digest(owner.email)}")
    owners = Client(REMOTE_ADDR="203.0.113.50")
    with django_capture_on_commit_callbacks(execute=True):
        response = owners.post(LOGIN, {"email": owner.email})
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    assert len(mail.outbox) == sent + 2
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    assert owners.post(CONFIRM, {"sesame": _token(link)}).status_code == 302
    # Another address from the same client is not affected by that address's limit.
    assert _request_link(client, "someone@else.test", django_capture_on_commit_callbacks).status_code == 200


@pytest.mark.django_db
def test_behind_the_proxy_each_visitor_has_their_own_bucket(settings, django_capture_on_commit_callbacks):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_RATE_PER_IP = "2/h"
    proxy = "172.18.0.5"  # every request reaches the app from the proxy
    for visitor in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        browser = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=visitor)
        statuses = [browser.post(LOGIN, {"email": f"{n}@x.test"}).status_code for n in range(3)]
        assert statuses == [200, 200, 429], visitor
    # An address the client wrote into the header itself is not believed: the proxy's entry is.
    spoofer = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.1")
    assert spoofer.post(LOGIN, {"email": "z@x.test"}).status_code == 429


@pytest.mark.django_db
def test_login_rate_limited_per_ip(client, settings, django_capture_on_commit_callbacks):
    settings.LOGIN_RATE_PER_IP = "4/h"
    statuses = [
        _request_link(client, f"user{n}@example.test", django_capture_on_commit_callbacks).status_code for n in range(6)
    ]
    assert statuses == [200, 200, 200, 200, 429, 429]
    other_ip = client.post(LOGIN, {"email": "x@example.test"}, REMOTE_ADDR="10.9.8.7")
    assert other_ip.status_code == 200


@pytest.mark.django_db
def test_magic_link_command_prints_a_working_link(client, owner, capsys):
    call_command("magic_link", owner.email)
    link = capsys.readouterr().out.strip()
    assert link.startswith("http://") and "/login/auth/?sesame=" in link
    assert client.post(CONFIRM, {"sesame": _token(link)}).status_code == 302


@pytest.mark.django_db
def test_open_redirect_after_login_is_refused(client, owner):
    token = _token(login_link_build(user=owner))
    response = client.post(CONFIRM, {"sesame": token, "next": "https://evil.example/"})
    assert response["Location"] == reverse("reporting:dashboard")


@pytest.mark.django_db
def test_logout_ends_the_session_and_is_audited(client, owner):
    client.force_login(owner)
    response = client.post(reverse("tenants:logout"))
    assert response.status_code == 302
    assert client.get(reverse("reporting:dashboard")).status_code == 302
    assert AuditEvent.objects.filter(action=TenantAction.LOGOUT, actor=owner).exists()


def test_tokens_are_redacted_from_log_lines():
    import logging

    from smscrm.logging import RedactSecretsFilter

    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s',
        ("GET /login/auth/?sesame=AAAAAQz6IDEG HTTP/1.1", 200),
        None,
    )
    RedactSecretsFilter().filter(record)
    assert "AAAAAQz6IDEG" not in record.getMessage()
    assert "sesame=[redacted]" in record.getMessage()


@pytest.mark.parametrize(
    ("forwarded", "count", "expected"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("1.2.3.4, 203.0.113.9", 1, "203.0.113.9"),  # the client's own entry is not believed
        ("203.0.113.9:51234", 1, "203.0.113.9"),  # a proxy that appends the port
        ("[2001:db8::7]:443", 1, "2001:db8::7"),
        ("not-an-address", 1, "172.18.0.5"),
        ("203.0.113.9", 0, "172.18.0.5"),  # no proxy trusted: the connection's address
    ],
)
def test_the_client_address_behind_the_proxy(settings, rf, forwarded, count, expected):
    from smscrm.clientip import client_ip

    settings.TRUSTED_PROXY_COUNT = count
    request = rf.get("/", REMOTE_ADDR="172.18.0.5", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == expected


def test_an_ipv6_client_is_counted_by_its_64(settings, rf):
    from smscrm.clientip import client_network

    settings.TRUSTED_PROXY_COUNT = 0
    one = rf.get("/", REMOTE_ADDR="2001:db8:1:2::10")
    other = rf.get("/", REMOTE_ADDR="2001:db8:1:2:ffff::1")
    assert client_network(one) == client_network(other) == "2001:db8:1:2::"


@pytest.mark.django_db
def test_with_the_broker_down_the_link_is_mailed_from_the_request(
    client, owner, dead_broker, caplog, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LOGIN, {"email": owner.email})
    assert response.status_code == 200
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [owner.email]
    assert "broker unavailable: tenants.send_login_link not queued; running it here" in caplog.text
