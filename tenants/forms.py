from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from tenants.models import DEFAULT_OPT_OUT_PHRASES, ApiKey, Tenant
from tenants.money import DollarsField
from tenants.roles import Role
from tenants.services import SETTINGS_FIELDS
from tenants.widgets import DateInput


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: by field where it names one, else on top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


class LoginForm(forms.Form):
    email = forms.EmailField(
        label="Work e-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True})
    )


class PauseForm(forms.Form):
    reason = forms.CharField(label="Reason (optional, kept in the activity log)", max_length=200, required=False)


# What the keyword reply templates may contain (tenants.models.reply_problem enforces it).
_PLACEHOLDERS = "Must include {business} (the business name); {contact} becomes the contact details."


def short_domain_help() -> str:
    """What the short link domain setting does, naming the shared domain used when it is empty."""
    shared = settings.SHORT_DOMAIN
    return "Host name of your own short links, e.g. go.acme.com.au (point its DNS at this service). " + (
        f"Leave empty to use the shared one, {shared}." if shared else "Leave empty to use this site's address."
    )


class TenantSettingsForm(forms.ModelForm):
    """Validates tenant settings; the view hands the cleaned data to tenant_update_settings."""

    # Budgets are typed in dollars and stored in cents (tenants.money).
    daily_budget_cents = DollarsField(
        label="Daily budget cap ($ AUD)", help_text="Most spent on messages in one local day, e.g. 100.00."
    )
    monthly_budget_cents = DollarsField(
        label="Monthly budget cap ($ AUD)", help_text="Most spent on messages in one calendar month, e.g. 2000.00."
    )

    class Meta:
        model = Tenant
        fields = SETTINGS_FIELDS
        labels = {
            "short_domain": "Short link domain",
            "link_ttl_days": "Short link lifetime (days)",
            "opt_out_line": "Opt-out line",
            "suppression_days": "Suppression window (days)",
            "quiet_hours_start": "No sending from (hour, recipient local)",
            "quiet_hours_end": "Sending resumes at (hour, recipient local)",
            "contact_details": "Contact details for HELP replies",
            "opt_out_reply": "Opt-out confirmation",
            "opt_in_reply": "Opt-in confirmation",
            "help_reply": "HELP reply",
            "opt_out_phrases": "Opt-out phrases",
        }
        help_texts = {
            "opt_out_reply": f"Sent when someone opts out (STOP or a request in other words). {_PLACEHOLDERS}",
            "opt_in_reply": f"Sent when someone replies START. {_PLACEHOLDERS}",
            "help_reply": f"Sent when someone replies HELP or INFO. {_PLACEHOLDERS}",
            "link_ttl_days": "Days a short link keeps working after its message is sent (1 to 365).",
        }
        widgets = {
            "opt_out_reply": forms.Textarea(attrs={"rows": 2}),
            "opt_in_reply": forms.Textarea(attrs={"rows": 2}),
            "help_reply": forms.Textarea(attrs={"rows": 2}),
            "opt_out_phrases": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["short_domain"].help_text = short_domain_help()
        self.fields["opt_out_phrases"].help_text = (
            "Texts containing any of these, as whole words, opt out (Australian law honours any clear request). "
            "One per line; empty uses the built-in list: " + ", ".join(f"“{p}”" for p in DEFAULT_OPT_OUT_PHRASES) + "."
        )


class MemberAddForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STAFF)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TenantSwitchForm(forms.Form):
    tenant = forms.IntegerField()


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="What uses the key, e.g. “Website sign-up form”.")
    role = forms.ChoiceField(
        choices=ApiKey.ROLES,
        initial="staff",
        help_text="Viewer reads; staff also adds contacts and consent and drafts campaigns; admin also launches "
        "campaigns and manages the do-not-contact list and webhooks.",
    )
    expires_on = forms.DateField(
        required=False, widget=DateInput(), help_text="Optional. The key stops working at the start of this day."
    )
