"""A local stand-in for Twilio's Messages API (2010-04-01), for tests: no internet, no account.

    server = FakeTwilio().start()               # or the ``fake_twilio`` fixture (conftest.py)
    settings.TWILIO_API_BASE_URL = server.url
    server.add_account("AC...", "token")        # ACCOUNT_SID / AUTH_TOKEN are there already
    server.script_to("+61400000001", error(21610))       # every send to this number
    server.queue(rate_limited(retry_after="7"), None)    # the next sends, whatever the number
    ...
    server.requests          # every request: method, path, account_sid, auth, form, headers, peer
    server.messages          # sid → the message resources it created

It speaks what the SMS backend uses:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``: HTTP basic auth (account sid and
  auth token; 401 with Twilio's error JSON otherwise); form fields To, From, Body, StatusCallback,
  ValidityPeriod...; 201 with a message resource, status "queued".
- ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json``: a stored message, or 404.
- ``GET /2010-04-01/Accounts/{AccountSid}.json``: the account resource (status "active" unless a
  test set ``account_status``), 401 for unknown credentials.
- ``GET /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json?PhoneNumber=+61...``: the
  account's numbers matching (``add_number(phone, sms_url=...)`` sets one up and its SmsUrl).

Errors use Twilio's legacy shape: ``{"code": 21610, "message": ..., "more_info": ..., "status": 400}``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "feedfacecafebeef0123456789abcdef"

MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")
ACCOUNT_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)\.json$")
NUMBERS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/IncomingPhoneNumbers\.json$")
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

#: What Twilio says for the errors tests script most (https://www.twilio.com/docs/api/errors).
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    30007: "Message filtered",
}

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")


def num_segments(body: str) -> int:
    """Roughly what Twilio bills: GSM-7 160/153 septets, else UCS-2 70/67 units."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body):
        units, single, multi = sum(2 if ch in GSM7_EXTENDED else 1 for ch in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)


@dataclass(frozen=True)
class Reply:
    """A scripted answer. Build one with error(), rate_limited(), server_error(), hang(), close(), accept()."""

    kind: str  # "error" | "hang" | "close" | "accept"
    status: int = 201
    code: int | None = None
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None  # sent as is instead of Twilio's error JSON
    seconds: float = 0.0  # hang: how long before answering (stop() cuts it short)
    then_accept: bool = True  # hang / close: Twilio still creates the message
    fields: dict = field(default_factory=dict)  # accept: resource fields to override


def error(code: int, message: str | None = None, *, status: int = 400, headers: dict | None = None) -> Reply:
    return Reply(
        "error", status=status, code=code, message=message or ERROR_MESSAGES.get(code, "Error"), headers=headers or {}
    )


def rate_limited(retry_after: str | None = "1", *, code: int = 20429) -> Reply:
    return error(code, status=429, headers={"Retry-After": retry_after} if retry_after is not None else {})


def server_error(status: int = 500, *, raw_body: str | None = None) -> Reply:
    return Reply("error", status=status, code=20500, message=ERROR_MESSAGES[20500], raw_body=raw_body)


def hang(seconds: float = 5.0, *, then_accept: bool = True) -> Reply:
    """Answer only after ``seconds`` (past the client's timeout); by default the message is created anyway."""
    return Reply("hang", seconds=seconds, then_accept=then_accept)


def close(*, then_accept: bool = True) -> Reply:
    """Read the request, then drop the connection without a word (the message may still be created)."""
    return Reply("close", then_accept=then_accept)


def accept(**fields) -> Reply:
    """Success with some resource fields changed, e.g. accept(price="-0.0515", status="accepted")."""
    return Reply("accept", fields=fields)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    account_sid: str | None
    auth: tuple[str, str] | None
    form: dict[str, str]
    headers: dict[str, str]
    peer: tuple[str, int] = ("", 0)  # the client's address: one port for one kept-alive connection


class FakeTwilio:
    def __init__(self, accounts: dict[str, str] | None = None):
        self.accounts: dict[str, str] = dict(accounts) if accounts is not None else {ACCOUNT_SID: AUTH_TOKEN}
        self.requests: list[RecordedRequest] = []
        self.messages: dict[str, dict] = {}
        self.by_to: dict[str, Reply] = {}
        self.account_status: dict[str, str] = {}  # account sid → "suspended" / "closed"; else "active"
        self.numbers: dict[tuple[str, str], dict] = {}  # (account sid, phone) → incoming number resource
        self.sequence: list[Reply | None] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- control --------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), name="fake-twilio", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.released.set()  # wake any hanging handler
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def add_account(self, account_sid: str, auth_token: str) -> None:
        with self.lock:
            self.accounts[account_sid] = auth_token

    def add_number(self, phone: str, *, sms_url: str, account_sid: str = ACCOUNT_SID) -> None:
        """An incoming phone number of ``account_sid`` whose "A message comes in" webhook is ``sms_url``."""
        sid = "PN" + secrets.token_hex(16)
        resource = {
            "account_sid": account_sid,
            "sid": sid,
            "phone_number": phone,
            "friendly_name": phone,
            "sms_url": sms_url,
            "sms_method": "POST",
            "status_callback": "",
            "capabilities": {"sms": True, "mms": False, "voice": True},
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sid}.json",
        }
        with self.lock:
            self.numbers[(account_sid, phone)] = resource

    def account_resource(self, account_sid: str) -> dict:
        with self.lock:
            status = self.account_status.get(account_sid, "active")
        return {
            "sid": account_sid,
            "friendly_name": "Fake account",
            "status": status,
            "type": "Full",
            "owner_account_sid": account_sid,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}.json",
        }

    def numbers_page(self, account_sid: str, phone: str | None) -> dict:
        with self.lock:
            found = [
                resource
                for (account, number), resource in self.numbers.items()
                if account == account_sid and (phone is None or number == phone)
            ]
        return {"incoming_phone_numbers": found, "page": 0, "page_size": 50, "next_page_uri": None}

    def script_to(self, to: str, reply: Reply | None) -> None:
        """Answer every message to ``to`` with ``reply`` (None: back to normal)."""
        with self.lock:
            if reply is None:
                self.by_to.pop(to, None)
            else:
                self.by_to[to] = reply

    def queue(self, *replies: Reply | None) -> None:
        """Answer the next message creations in this order (None: a normal answer); before script_to."""
        with self.lock:
            self.sequence.extend(replies)

    @property
    def sends(self) -> list[RecordedRequest]:
        """The message creation requests, in arrival order."""
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and MESSAGES_PATH.match(r.path)]

    # -- behaviour ------------------------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def authenticate(self, account_sid: str, auth: tuple[str, str] | None) -> bool:
        if auth is None:
            return False
        username, password = auth
        with self.lock:
            token = self.accounts.get(username)
        return token is not None and hmac.compare_digest(token, password) and username == account_sid

    def next_reply(self, to: str) -> Reply | None:
        with self.lock:
            if self.sequence:
                return self.sequence.pop(0)
            return self.by_to.get(to)

    def create(self, account_sid: str, form: dict[str, str], fields: dict | None = None) -> dict:
        sid = "SM" + secrets.token_hex(16)
        now = format_datetime(datetime.now(UTC).replace(microsecond=0))
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
        body = form.get("Body", "")
        resource = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "num_media": "0",
            "num_segments": str(num_segments(body)),
            "price": None,
            "price_unit": "AUD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "to": form.get("To"),
            "uri": uri,
        }
        resource.update(fields or {})
        with self.lock:
            self.messages[resource["sid"]] = resource
        return resource

    def validate(self, form: dict[str, str]) -> Reply | None:
        to = form.get("To", "")
        if not to:
            return error(21604)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return error(21603)
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            return error(21602)
        if not E164.match(to):
            return error(21211, f"Invalid 'To' Phone Number: {to}")
        if len(form.get("Body", "")) > 1600:
            return error(21617)
        return None


def error_body(status: int, code: int | None, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API does
    server_version = "FakeTwilio/1.0"
    timeout = 10  # an idle kept-alive connection ends after this

    @property
    def fake(self) -> FakeTwilio:
        return self.server.fake

    def log_message(self, format, *args):
        logger.debug("fake twilio: " + format, *args)

    # -- plumbing -------------------------------------------------------------------------------

    def _auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (username, password) if sep else None

    def _read_form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return dict(parse_qsl(raw, keep_blank_values=True))

    def _send_json(self, status: int, payload, headers: dict | None = None, raw: str | None = None) -> None:
        data = (raw if raw is not None else json.dumps(payload)).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Twilio-Request-Id", "RQ" + secrets.token_hex(16))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True

    def _error(self, reply: Reply) -> None:
        self._send_json(
            reply.status, error_body(reply.status, reply.code, reply.message), reply.headers, reply.raw_body
        )

    def _unauthorized(self) -> None:
        payload = error_body(401, 20003, "Authenticate")
        payload["detail"] = "Your AccountSid or AuthToken was incorrect."
        self._send_json(401, payload)

    def _record(self, form: dict[str, str], account_sid: str | None) -> None:
        self.fake.record(
            RecordedRequest(
                method=self.command,
                path=urlsplit(self.path).path,
                account_sid=account_sid,
                auth=self._auth(),
                form=form,
                headers=dict(self.headers.items()),
                peer=tuple(self.client_address[:2]),
            )
        )

    # -- routes ---------------------------------------------------------------------------------

    def do_POST(self):
        form = self._read_form()
        path = urlsplit(self.path).path
        match = MESSAGES_PATH.match(path)
        self._record(form, match["account"] if match else None)
        if not match:
            self._error(error(20404, f"The requested resource {path} was not found", status=404))
            return
        account_sid = match["account"]
        if not self.fake.authenticate(account_sid, self._auth()):
            self._unauthorized()
            return
        reply = self.fake.next_reply(form.get("To", ""))
        if reply is not None and reply.kind == "error":
            self._error(reply)
            return
        if reply is not None and reply.kind == "close":
            if reply.then_accept and self.fake.validate(form) is None:
                self.fake.create(account_sid, form)
            self.close_connection = True
            return
        if reply is not None and reply.kind == "hang":
            self.fake.released.wait(reply.seconds)
            if not reply.then_accept:
                self.close_connection = True
                return
        invalid = self.fake.validate(form)
        if invalid is not None:
            self._error(invalid)
            return
        fields = reply.fields if reply is not None and reply.kind == "accept" else None
        self._send_json(201, self.fake.create(account_sid, form, fields))

    def do_GET(self):
        path = urlsplit(self.path).path
        if ACCOUNT_PATH.match(path) or NUMBERS_PATH.match(path):
            self._get_account_resource(path)
            return
        match = MESSAGE_PATH.match(path)
        self._record({}, match["account"] if match else None)
        if not match:
            self._error(error(20404, f"The requested resource {path} was not found", status=404))
            return
        if not self.fake.authenticate(match["account"], self._auth()):
            self._unauthorized()
            return
        with self.fake.lock:
            resource = self.fake.messages.get(match["sid"])
        if resource is None or resource["account_sid"] != match["account"]:
            self._error(error(20404, f"The requested resource {path} was not found", status=404))
            return
        self._send_json(200, resource)

    def _get_account_resource(self, path: str) -> None:
        account_match, numbers_match = ACCOUNT_PATH.match(path), NUMBERS_PATH.match(path)
        account_sid = (account_match or numbers_match)["account"]
        self._record({}, account_sid)
        if not self.fake.authenticate(account_sid, self._auth()):
            self._unauthorized()
            return
        if account_match:
            self._send_json(200, self.fake.account_resource(account_sid))
            return
        query = dict(parse_qsl(urlsplit(self.path).query))
        self._send_json(200, self.fake.numbers_page(account_sid, query.get("PhoneNumber")))

    def _not_allowed(self):
        self._record({}, None)
        self.close_connection = True  # the body, if any, is left unread
        self._error(error(20004, "Method not allowed", status=405))

    do_PUT = do_DELETE = do_PATCH = _not_allowed
