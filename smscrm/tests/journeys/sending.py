"""What the campaign journeys start from: a business that can send, its regulars, and the provider's side.

The provider is the in-memory backend (messaging.backends.locmem, as in every test); what Twilio
would post back (status callbacks, replies) is posted to the live server, signed with the
account's auth token exactly as Twilio signs it (messaging/tests/signing.py).
"""

from __future__ import annotations

import datetime as dt
import http.server
import re
import threading
from contextlib import contextmanager

from twilio.request_validator import RequestValidator

from campaigns import dispatch, services
from campaigns.tests.factories import TemplateFactory
from contacts.tests.factories import ContactFactory
from messaging.models import Message, Price, ProviderAccount, SendingNumber
from messaging.tests.signing import OUR_NUMBER, TOKEN, inbound_params, status_params

ACCOUNT_SID = "AC" + "1" * 32
SYDNEY = "Australia/Sydney"
BODIES = (
    "Hi {{ first_name|there }}, fresh sourdough today: {{ link }}",
    "{{ first_name|Hello }}, the bread you like is back: {{ link }}",
)
SHORT_TOKEN = re.compile(r"/s/([A-Za-z0-9]{10})\b")


def ready_to_send(tenant) -> SendingNumber:
    """A Twilio account (locmem in tests), one warmed-up number and a price for Australia."""
    account = ProviderAccount.objects.create(
        tenant=tenant, provider="twilio", account_sid=ACCOUNT_SID, auth_token=TOKEN
    )
    number = SendingNumber.objects.create(
        tenant=tenant, account=account, sender=OUR_NUMBER, warmup_started_on=dt.date(2026, 1, 1), warmup_curve=[1000]
    )
    Price.objects.create(
        tenant=tenant, provider="twilio", country="AU", cents_per_segment=5, effective_from=dt.date(2020, 1, 1)
    )
    return number


def regulars(tenant):
    """Three consenting customers in Sydney."""
    names = (("Alice", "Nguyen", "+61412345601"), ("Bob", "Smith", "+61412345602"), ("Chloé", "Martin", "+61412345603"))
    return [
        ContactFactory(
            tenant=tenant, first_name=first, last_name=last, phone_e164=phone, consent="express", timezone=SYDNEY
        )
        for first, last, phone in names
    ]


def bread_template(tenant):
    return TemplateFactory(tenant=tenant, name="Bread day", bodies=list(BODIES))


def sent_campaign(tenant, contacts, *, link_url: str = "https://acme.example/bread"):
    """A campaign launched (by the services) and handed to the provider: one message per contact."""
    template = bread_template(tenant)
    campaign = services.campaign_create(
        tenant=tenant, actor=None, name="Spring bread", template=template, link_url=link_url
    )
    services.campaign_launch(campaign=campaign, actor=None)
    services.campaign_create_jobs(campaign_id=campaign.pk)  # idempotent: the launch may have run it at commit
    assert dispatch.dispatch().sent == len(contacts)
    return campaign


def signed_post(request_context, base_url: str, path: str, params: dict):
    """POST ``params`` to the live server as Twilio would: form-encoded, X-Twilio-Signature over URL and params."""
    url = base_url + path
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    return request_context.post(url, form=params, headers={"X-Twilio-Signature": signature})


def deliver_all(request_context, base_url: str, campaign) -> None:
    """Twilio's "delivered" status callback for every message of ``campaign``."""
    for message in Message.objects.filter(campaign=campaign):
        params = status_params(message, "delivered", account_sid=ACCOUNT_SID)
        response = signed_post(request_context, base_url, "/webhooks/twilio/status", params)
        assert response.status == 200, f"status callback refused: {response.status} {response.text()}"


def reply(request_context, base_url: str, contact, body: str):
    params = inbound_params(body, phone=contact.phone_e164, account_sid=ACCOUNT_SID)
    response = signed_post(request_context, base_url, "/webhooks/twilio/inbound", params)
    assert response.status == 200, f"inbound webhook refused: {response.status} {response.text()}"
    return response


class _ShopPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # the standard library calls it by this name
        body = b"<!doctype html><title>Acme Bakery</title><h1>Fresh bread</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def shop_site():
    """The business's own web site, where its short links lead: a local server; yields its base URL.

    (Playwright cannot intercept a redirect's target, so the browser really goes there.)
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
