from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class MessagingConfig(AppConfig):
    name = "messaging"

    def ready(self):
        from messaging import webhooks
        from messaging.models import ProviderAccount, SendingNumber

        # The webhooks remember accounts and numbers briefly; a change here forgets them at once.
        for model in (ProviderAccount, SendingNumber):
            post_save.connect(webhooks.signers_forget, sender=model, dispatch_uid=f"signers-{model.__name__}-saved")
            post_delete.connect(webhooks.signers_forget, sender=model, dispatch_uid=f"signers-{model.__name__}-gone")
