from django.apps import AppConfig
from django.db.models.signals import post_save


class LinksConfig(AppConfig):
    name = "links"

    def ready(self):
        from links import middleware
        from tenants.models import Tenant

        # A tenant's new short domain is served at once in this process (others: within a minute).
        post_save.connect(middleware.hosts_forget, sender=Tenant, dispatch_uid="links-short-hosts")
