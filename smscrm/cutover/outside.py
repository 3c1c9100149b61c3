"""Cutover items that ask the outside world: the provider's API, our own public URL, DNS.

Every request has a timeout (CUTOVER_TIMEOUT_SECONDS) and every error becomes a FAIL naming its
cause, never its secret: auth tokens travel only in the Authorization header and no evidence
quotes a request or its headers. The simulator (and the tests' in-memory backend) send nothing
anywhere: with them the provider items pass saying "simulator", except in production.

DNS goes through ``resolve`` (a module attribute, so tests swap in a stub resolver).
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.http.request import validate_host
from django.urls import reverse

from messaging.models import Provider, ProviderAccount, SenderKind, SendingNumber
from messaging.selectors import status_callback_url
from smscrm.cutover import FAIL, PASS, TODO, Result
from smscrm.logging import redact
from tenants.models import Tenant

API_VERSION = "2010-04-01"
#: What our own webhook views (require_POST) answer a plain GET with: the app is there. Not 400 or
#: 403: those come from before the view (our host check refusing PUBLIC_BASE_URL's host, a proxy's
#: deny), and the provider's POSTs would get them too.
OUR_REFUSALS = {405}


def _timeout() -> float:
    return settings.CUTOVER_TIMEOUT_SECONDS


def _uses_simulator(account: ProviderAccount) -> bool:
    return account.provider == Provider.SIMULATOR or "twilio" not in settings.SMS_BACKEND.lower()


def _simulated(what: str, note: str = "") -> Result:
    if settings.PRODUCTION:
        return Result(
            FAIL,
            f"{what} goes through the simulator in production: no text reaches a phone",
            "Set SMS_BACKEND=twilio and give each provider account its Twilio credentials.",
        )
    return Result(PASS, f"simulator ({what}; development, no provider asked){note}")


def _within(seconds: float, work, name: str):
    """``work()``'s result, or TimeoutError after ``seconds``. In a daemon thread: getaddrinfo has
    no timeout of its own, and the interpreter joins a pool's threads at exit, so a resolver that
    never answers would hold the page's worker or the command's exit after the check reported."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(name)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def _get(url: str, **options) -> requests.Response:
    """``requests.get(url)`` with the timeout, its host's DNS lookup included: requests' timeout
    covers the connection and each read, not getaddrinfo. Connecting and reading each have the
    timeout: only a lookup (or a trickle) outlasts both."""
    try:
        return _within(
            2 * _timeout(),
            lambda: requests.get(url, timeout=_timeout(), allow_redirects=False, **options),
            "cutover-get",
        )
    except TimeoutError:
        raise requests.ConnectTimeout(f"no connection within {2 * _timeout():g} s (DNS lookup or connect)") from None


def _twilio_get(account: ProviderAccount, path: str, params: dict | None = None) -> requests.Response:
    url = f"{settings.TWILIO_API_BASE_URL}/{API_VERSION}/Accounts/{account.account_sid}{path}"
    return _get(url, params=params, auth=(account.account_sid, account.token))


def _unreachable(exc: Exception) -> str:
    return f"provider API unreachable ({type(exc).__name__})"


def _account_problem(account: ProviderAccount) -> str | None:
    """Why Twilio does not accept ``account``'s credentials, or None when it does."""
    if not account.token:
        return f"{account}: no auth token (neither stored nor in TWILIO_AUTH_TOKENS)"
    try:
        answer = _twilio_get(account, ".json")
    except requests.RequestException as exc:
        return f"{account}: {_unreachable(exc)}"
    if answer.status_code == 401:
        return f"{account}: credentials refused (HTTP 401)"
    if answer.status_code != 200:
        return f"{account}: the provider answered HTTP {answer.status_code}"
    try:
        status = answer.json().get("status", "")
    except ValueError:
        return f"{account}: the provider's answer is not JSON"
    if status and status != "active":
        return f"{account}: the account is {status}"
    return None


def provider_credentials(tenant: Tenant) -> Result:
    accounts = list(ProviderAccount.objects.filter(tenant=tenant, is_active=True).order_by("id"))
    if not accounts:
        return Result(TODO, "no active provider account", "Add the Twilio account in the admin (Provider accounts).")
    if all(_uses_simulator(account) for account in accounts):
        return _simulated(f"{len(accounts)} account(s)")
    checked = [account for account in accounts if not _uses_simulator(account)]
    problems = [problem for account in checked if (problem := _account_problem(account))]
    if problems:
        return Result(
            FAIL,
            "; ".join(problems),
            "Copy the Account SID and Auth Token from the Twilio console into the account (or TWILIO_AUTH_TOKENS).",
        )
    return Result(PASS, f"{len(checked)} Twilio account(s) accepted: " + ", ".join(str(a) for a in checked))


def inbound_url() -> str:
    """Where Twilio must post the texts people send to our numbers ("A message comes in")."""
    return settings.PUBLIC_BASE_URL + reverse("messaging:inbound_webhook")


def _sms_url(number: SendingNumber) -> tuple[str | None, str]:
    """(the number's SmsUrl at Twilio, "") or (None, why it could not be read)."""
    try:
        answer = _twilio_get(number.account, "/IncomingPhoneNumbers.json", {"PhoneNumber": number.sender})
    except requests.RequestException as exc:
        return None, _unreachable(exc)
    if answer.status_code == 401:
        return None, "credentials refused (HTTP 401)"
    if answer.status_code != 200:
        return None, f"the provider answered HTTP {answer.status_code}"
    try:
        found = answer.json().get("incoming_phone_numbers") or []
    except (ValueError, AttributeError):
        return None, "the provider's answer is not JSON"
    if not found:
        return None, f"not a number of the account {number.account}"
    return found[0].get("sms_url") or "", ""


def _shown(url: str) -> str:
    """A webhook URL as evidence: without the ``user:password@`` Twilio sends as basic auth, tokens redacted."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(a URL that cannot be parsed)"
    if "@" in parts.netloc:
        parts = parts._replace(netloc="[redacted]@" + parts.netloc.rpartition("@")[2])
    return redact(urlunsplit(parts))


def inbound_webhooks(tenant: Tenant) -> Result:
    senders = list(SendingNumber.objects.filter(tenant=tenant, is_active=True).select_related("account"))
    numbers = [s for s in senders if s.kind == SenderKind.NUMBER]
    alpha = [s.sender for s in senders if s.kind == SenderKind.ALPHA]
    note = f"; {', '.join(alpha)}: alphanumeric, cannot receive replies" if alpha else ""
    if not numbers:
        if alpha:
            return Result(PASS, f"no phone numbers to receive texts{note}")
        return Result(TODO, "no active sending number", "Add a sending number (Campaigns → Numbers).")
    expected = inbound_url()
    # The combined webhook takes inbound texts too.
    accepted = {expected, settings.PUBLIC_BASE_URL + reverse("messaging:provider_webhook")}
    if all(_uses_simulator(s.account) for s in numbers):
        return _simulated(f"{len(numbers)} number(s)", note)
    wrong = []
    for number in (s for s in numbers if not _uses_simulator(s.account)):
        sms_url, problem = _sms_url(number)
        if problem:
            wrong.append(f"{number.sender}: {problem}")
        elif sms_url not in accepted:
            wrong.append(f"{number.sender} posts to {_shown(sms_url) if sms_url else '(nothing)'}, not {expected}")
    if wrong:
        return Result(
            FAIL,
            "; ".join(wrong) + note,
            f'In the Twilio console set each number\'s "A message comes in" webhook to {expected} (HTTP POST).',
        )
    return Result(PASS, f"{len(numbers)} number(s) post to {expected}{note}")


def status_callback(tenant: Tenant) -> Result:
    url = status_callback_url()
    next_step = f"Make {url} reachable from the internet (PUBLIC_BASE_URL, ALLOWED_HOSTS, the proxy, the firewall)."
    try:
        answer = _get(url)
    except requests.ReadTimeout:
        # Connected, no answer: from the page, a single busy web worker cannot answer itself.
        return Result(
            FAIL,
            f"{url} took the connection but gave no answer within {_timeout():g} s",
            "Run `manage.py cutover_check` from a shell (the page's own worker may be the one busy); " + next_step,
        )
    except requests.RequestException as exc:
        return Result(FAIL, f"{url} unreachable ({type(exc).__name__})", next_step)
    if answer.status_code in OUR_REFUSALS:
        return Result(PASS, f"{url} answers (HTTP {answer.status_code} to an unsigned GET, as it should)")
    return Result(FAIL, f"{url} answered HTTP {answer.status_code}: not this app's webhook", next_step)


def _resolve_with_system(host: str) -> set[str]:
    return {info[4][0] for info in socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)}


#: host → the addresses it resolves to (raises OSError when it does not). Tests replace it.
resolve = _resolve_with_system


def _addresses(host: str) -> tuple[set[str], str]:
    """(addresses, "") or (empty, why not): resolved within the timeout."""
    try:
        return _within(_timeout(), lambda: resolve(host), f"cutover-dns-{host}"), ""
    except TimeoutError:
        return set(), "DNS lookup timed out"
    except OSError as exc:
        return set(), f"does not resolve ({type(exc).__name__})"


def short_domain(tenant: Tenant) -> Result:
    domain = tenant.short_domain or settings.SHORT_DOMAIN
    whose = "the business's own" if tenant.short_domain else "SHORT_DOMAIN"
    if not domain:
        return Result(
            TODO,
            f"none set: links live on {settings.PUBLIC_BASE_URL}/s/",
            "Choose a short domain: SHORT_DOMAIN (or the business's own in Settings), in DNS and ALLOWED_HOSTS.",
        )
    if not validate_host(domain, settings.ALLOWED_HOSTS):
        return Result(FAIL, f"{domain} ({whose}) is not in ALLOWED_HOSTS", f"Add {domain} to ALLOWED_HOSTS.")
    ours_host = urlsplit(settings.PUBLIC_BASE_URL).hostname or ""
    theirs, problem = _addresses(domain)
    if problem:
        return Result(FAIL, f"{domain}: {problem}", f"Point {domain} at this server in DNS (as {ours_host} is).")
    ours, problem = _addresses(ours_host)
    if problem:
        return Result(FAIL, f"our own host {ours_host}: {problem}", "Check PUBLIC_BASE_URL and its DNS.")
    if not theirs & ours:
        return Result(
            FAIL,
            f"{domain} resolves to {', '.join(sorted(theirs))}; {ours_host} to {', '.join(sorted(ours))}",
            f"Point {domain} at this server in DNS (as {ours_host} is).",
        )
    return Result(
        PASS, f"{domain} ({whose}) is allowed and resolves to {', '.join(sorted(theirs & ours))}, as {ours_host}"
    )
