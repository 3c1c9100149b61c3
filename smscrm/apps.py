from django.apps import AppConfig


class SmscrmConfig(AppConfig):
    """Operational plumbing only (heartbeats, health); no business logic lives here."""

    name = "smscrm"
    label = "ops"
    verbose_name = "Operations"
