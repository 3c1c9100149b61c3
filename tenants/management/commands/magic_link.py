from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.services import login_link_build, normalize_email


class Command(BaseCommand):
    help = "Print a fresh single-use magic login link for a user (for operators)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = get_user_model().objects.filter(email__iexact=normalize_email(email), is_active=True).first()
        if user is None:
            raise CommandError(f"No active user with e-mail {email!r}.")
        self.stdout.write(login_link_build(user=user))
