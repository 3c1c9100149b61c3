"""Text one of a tenant's numbers as a person would, through the signed inbound webhook.

    python manage.py simulate_inbound --tenant demo --from 0412 345 678 --body "STOP"

For development and demos: the message travels the same path a Twilio webhook does
(signature, keywords, do-not-contact, inbox) and the answer we would send is printed.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contacts.phones import normalize_phone
from messaging import simulation
from messaging.models import SendingNumber
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Post a signed inbound text to the webhook, as Twilio would, and print our answer."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug, e.g. demo.")
        parser.add_argument("--from", dest="phone", required=True, help="The texter's number.")
        parser.add_argument("--body", required=True)
        parser.add_argument("--to", default="", help="Which of the tenant's numbers (default: the first).")

    def handle(self, *args, tenant: str, phone: str, body: str, to: str, **options):
        tenant_obj = Tenant.objects.filter(slug=tenant).first()
        if tenant_obj is None:
            raise CommandError(f"No tenant with slug {tenant!r}.")
        numbers = SendingNumber.objects.filter(tenant=tenant_obj, kind="number").select_related("account")
        number = numbers.filter(sender=to).first() if to else numbers.order_by("id").first()
        if number is None:
            raise CommandError(f"{tenant!r} has no sending number {to!r}." if to else f"{tenant!r} has no numbers.")
        parsed = normalize_phone(phone)
        if parsed.e164 is None:
            raise CommandError(f"{phone!r} is not a phone number.")
        if settings.SMS_SIMULATOR_CALLBACKS != "http":
            self.stdout.write("(posting in-process; set SMS_SIMULATOR_CALLBACKS=http to go over HTTP)")
        status, answer = simulation.simulate_inbound(number=number, phone=parsed.e164, body=body)
        if status != 200:
            raise CommandError(f"The webhook answered HTTP {status}.")
        self.stdout.write(answer)
