"""The Settings › Webhooks form: a URL and the events it receives."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from webhooks.addresses import MAX_URL_LENGTH, target_check
from webhooks.models import EventType


class SubscriptionForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=MAX_URL_LENGTH,
        help_text="An https:// address on the public internet; each event is POSTed there as JSON.",
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/sms", "inputmode": "url"}),
    )
    events = forms.MultipleChoiceField(label="Events", choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        try:
            target_check(url)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return url
