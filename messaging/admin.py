"""Admin for messaging: tenant-scoped; accounts and prices are saved through the services."""

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError

from messaging import services
from messaging.models import Message, Price, ProviderAccount, ProviderEvent, SendingNumber
from tenants.admin import ReadOnlyScopedAdmin, TenantScopedAdmin, money_column
from tenants.roles import Perm


class ProviderAccountForm(forms.ModelForm):
    auth_token = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text=(
            "Stored encrypted and never shown again. Leave empty to keep the current token, or, for a new "
            "account, to use its entry in TWILIO_AUTH_TOKENS."
        ),
    )

    class Meta:
        model = ProviderAccount
        fields = ["tenant", "provider", "label", "account_sid", "auth_token", "is_active", "max_concurrent_requests"]

    def clean_auth_token(self):
        token = self.cleaned_data.get("auth_token", "")
        in_environment = self.data.get("account_sid", "") in settings.TWILIO_AUTH_TOKENS
        if not token and not (self.instance and self.instance.pk) and not in_environment:
            raise ValidationError("A new account needs its auth token (or an entry in TWILIO_AUTH_TOKENS).")
        return token or self.instance.auth_token


@admin.register(ProviderAccount)
class ProviderAccountAdmin(TenantScopedAdmin):
    change_perm = Perm.NUMBERS_MANAGE
    form = ProviderAccountForm
    list_display = ["__str__", "provider", "account_sid", "is_active", "tenant"]
    # The token controls the provider account and signs its webhooks: never shown, only whether
    # it is set and its last four characters.
    secret_fields = ("auth_token",)
    readonly_fields = ["token_status"]

    @admin.display(description="Auth token")
    def token_status(self, obj):
        return obj.token_hint if obj is not None and obj.pk else "—"

    def save_via_service(self, request, obj, form, change):
        services.provider_account_save(account=obj, actor=request.user)


@admin.register(SendingNumber)
class SendingNumberAdmin(TenantScopedAdmin):
    change_perm = Perm.NUMBERS_MANAGE
    list_display = ["sender", "kind", "sender_id_status", "is_active", "messages_per_second", "tenant"]

    def save_via_service(self, request, obj, form, change):
        if change:
            services.sending_number_save(number=obj, actor=request.user)
        else:
            created = services.sending_number_create(
                tenant=obj.tenant,
                actor=request.user,
                account=obj.account,
                sender=obj.sender,
                kind=obj.kind,
                sender_id_status=obj.sender_id_status,
                messages_per_second=obj.messages_per_second,
                warmup_started_on=obj.warmup_started_on,
                warmup_curve=obj.warmup_curve,
            )
            obj.pk = created.pk


@admin.register(Price)
class PriceAdmin(TenantScopedAdmin):
    change_perm = Perm.BUDGETS_MANAGE
    list_display = ["tenant", "provider", "country", money_column("cents_per_segment"), "effective_from"]

    def save_via_service(self, request, obj, form, change):
        services.price_save(price=obj, actor=request.user)


@admin.register(Message)
class MessageAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "created_at",
        "to_phone",
        "from_sender",
        "kind",
        "status",
        "segments",
        money_column("cost_cents"),
        "tenant",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["to_phone", "provider_id"]
    show_full_result_count = False


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyScopedAdmin):
    """Every webhook as it came (the signature covered all its parameters): for investigations."""

    list_display = ["received_at", "kind", "message_sid", "status", "error_code", "applied", "tenant"]
    list_filter = ["kind", "status", "applied"]
    search_fields = ["message_sid"]
    show_full_result_count = False
