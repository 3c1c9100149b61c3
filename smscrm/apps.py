from django.apps import AppConfig


class SmscrmConfig(AppConfig):
    """Operational plumbing only (heartbeats, health); no business logic lives here."""

    name = "smscrm"
    label = "ops"
    verbose_name = "Operations"

    def ready(self):
        from smscrm import checks  # noqa: F401 (registers the deployment checks)
