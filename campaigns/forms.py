"""Forms of the campaigns pages: templates, campaigns and sending numbers. Parsing only: the
rules (placeholders, tenancy, warmup curves) are the services' to enforce."""

from django import forms
from django.utils import timezone

from campaigns.models import Template
from contacts.forms import TagsField
from messaging.models import DEFAULT_WARMUP_CURVE, ProviderAccount, SenderIdStatus, SenderKind
from tenants.widgets import DateInput, DateTimeLocalInput

MAX_VARIANTS = 5


class TemplateForm(forms.Form):
    """A name and up to five variant bodies (``body_1`` … ``body_5``); empty ones are dropped."""

    name = forms.CharField(max_length=120)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for number in range(1, MAX_VARIANTS + 1):
            self.fields[f"body_{number}"] = forms.CharField(
                label=f"Variant {number}",
                required=False,
                max_length=1600,
                strip=False,
                widget=forms.Textarea(attrs={"rows": 4, "data-segments": "1"}),
                help_text="Campaigns rotate through the variants." if number == 1 else "",
            )

    @classmethod
    def initial_for(cls, template: Template) -> dict:
        initial = {"name": template.name}
        for number, variant in enumerate(template.variants.all()[:MAX_VARIANTS], start=1):
            initial[f"body_{number}"] = variant.body
        return initial

    def body_fields(self):
        return [self[f"body_{number}"] for number in range(1, MAX_VARIANTS + 1)]

    def bodies(self) -> tuple[list[str], list[str]]:
        """The non-empty bodies in order, and the name of the field each came from."""
        bodies, fields = [], []
        for number in range(1, MAX_VARIANTS + 1):
            body = self.cleaned_data.get(f"body_{number}") or ""
            if body.strip():
                bodies.append(body)
                fields.append(f"body_{number}")
        return bodies, fields


class CampaignForm(forms.Form):
    name = forms.CharField(max_length=120)
    template = forms.ModelChoiceField(queryset=Template.objects.none())
    tags = TagsField(
        required=False, help_text="Only contacts with any of these tags, separated by commas. Empty: every contact."
    )
    link_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Link URL",
        help_text="What {{ link }} points to; needed when the template uses {{ link }}.",
    )
    starts_at = forms.DateTimeField(
        required=False, widget=DateTimeLocalInput(), label="Start", help_text="Empty: as soon as it is launched."
    )
    ends_at = forms.DateTimeField(
        required=False, widget=DateTimeLocalInput(), label="End", help_text="Unsent messages expire after this."
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        # Only the tenant's own templates can be chosen; another tenant's id is "not one of the choices".
        self.fields["template"].queryset = Template.objects.filter(tenant=tenant).order_by("name")


class WarmupCurveField(forms.CharField):
    """Comma-separated whole numbers → list[int] (the service checks the length and signs)."""

    def to_python(self, value):
        text = super().to_python(value) or ""
        caps = []
        for item in text.replace(";", ",").split(","):
            item = item.strip()
            if not item:
                continue
            try:
                caps.append(int(item))
            except ValueError:
                raise forms.ValidationError(f"{item!r} is not a whole number.") from None
        return caps

    def prepare_value(self, value):
        return ", ".join(str(cap) for cap in value) if isinstance(value, list | tuple) else value


class SendingNumberForm(forms.Form):
    account = forms.ModelChoiceField(queryset=ProviderAccount.objects.none(), label="Provider account")
    sender = forms.CharField(
        max_length=40, help_text="A number in any format (0412 345 678) or a sender ID (AcmeBakery)."
    )
    kind = forms.ChoiceField(choices=SenderKind.choices)
    sender_id_status = forms.ChoiceField(
        choices=SenderIdStatus.choices,
        label="ACMA Sender ID Register status",
        help_text="Alphanumeric sender IDs only; campaigns may use one only once it is registered.",
    )
    messages_per_second = forms.IntegerField(min_value=1, max_value=1000, initial=10, label="Messages per second")
    warmup_started_on = forms.DateField(widget=DateInput(), label="Warmup started on", initial=timezone.localdate)
    warmup_curve = WarmupCurveField(
        initial=DEFAULT_WARMUP_CURVE,
        max_length=400,
        help_text="Daily caps from the first day on, separated by commas; the last applies from then on.",
    )

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = ProviderAccount.objects.filter(tenant=tenant, is_active=True)
