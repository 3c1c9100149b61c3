from django import forms
from django.utils import timezone

from contacts import csvfiles
from contacts.models import AustralianState, ConsentKind, ConsentMode, DncReason, reserved_custom_field_problem
from contacts.rowvalues import split_tags
from tenants.models import validate_timezone


class TagsField(forms.CharField):
    def to_python(self, value):
        return split_tags(super().to_python(value) or "")

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class CustomFieldsField(forms.CharField):
    """Custom fields as people type them: one "name: value" per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        fields = {}
        for number, line in enumerate((super().to_python(value) or "").splitlines(), start=1):
            if not line.strip():
                continue
            name, colon, text = line.partition(":")
            if not colon or not name.strip():
                raise forms.ValidationError(f"Line {number}: write each field as “name: value”.")
            fields[name.strip()[:60]] = text.strip()[:500]
        return fields

    def validate(self, value):
        super().validate(value)
        problems = [problem for name in value if (problem := reserved_custom_field_problem(name))]
        if problems:
            raise forms.ValidationError(problems)

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{name}: {text}" for name, text in value.items())
        return value


class ContactForm(forms.Form):
    phone = forms.CharField(max_length=40, help_text="Any format: 0412 345 678, +61 412 345 678, …")
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    email = forms.EmailField(required=False)
    timezone = forms.CharField(
        max_length=64, required=False, validators=[validate_timezone], help_text="IANA zone, e.g. Australia/Perth"
    )
    state = forms.ChoiceField(choices=[("", "—"), *AustralianState.choices], required=False)
    postcode = forms.RegexField(regex=r"^\d{4}$", required=False, error_messages={"invalid": "Four digits."})
    tags = TagsField(required=False, help_text="Separated by commas.")
    custom_fields = CustomFieldsField(
        required=False,
        help_text="One per line, as “name: value”. A name in lower case with underscores (favourite_cake) can be "
        "used in templates as {{ favourite_cake }}. first_name, last_name, business_name and link are filled in by "
        "the product and cannot be custom fields.",
    )


class ConsentForm(forms.Form):
    kind = forms.ChoiceField(choices=ConsentKind.choices)
    source = forms.CharField(max_length=200, help_text="Where consent was given, e.g. 'in-store sign-up sheet'.")
    captured_at = forms.DateTimeField(
        label="Obtained at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), initial=timezone.now
    )
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Text or a URL.")
    withdrawn = forms.BooleanField(required=False, label="This records a withdrawal of consent")


class DncAddForm(forms.Form):
    numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One number, or a pasted list: one per line or separated by commas.",
    )
    reason = forms.ChoiceField(
        choices=[(DncReason.MANUAL, DncReason.MANUAL.label), (DncReason.COMPLAINT, DncReason.COMPLAINT.label)]
    )
    note = forms.CharField(max_length=500, required=False)


class DncRemoveForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why may this number be messaged again? Kept in the activity log.",
    )


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV or TSV, up to 1,000,000 rows. Excel: File › Save As › CSV UTF-8.")


class ImportSettingsForm(forms.Form):
    """Column mapping (one select per header) and the consent settings of one import."""

    consent_mode = forms.ChoiceField(choices=ConsentMode.choices, widget=forms.RadioSelect)
    consent_kind = forms.ChoiceField(choices=[("", "—"), *ConsentKind.choices], required=False)
    consent_source = forms.CharField(max_length=200, required=False)
    consent_captured_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Consent obtained at"
    )
    consent_evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    add_tags = TagsField(required=False, label="Tag every imported contact with")

    FIELD_CHOICES = [("", "— not imported —"), *csvfiles.FIELDS, ("custom", "Keep as custom field")]

    def __init__(self, *args, headers: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.headers = headers
        for i, header in enumerate(headers):
            self.fields[f"col_{i}"] = forms.ChoiceField(choices=self.FIELD_CHOICES, required=False, label=header)

    def column_fields(self):
        return [self[f"col_{i}"] for i in range(len(self.headers))]

    def mapping(self) -> tuple[dict[str, str], list[str]]:
        mapping, custom = {}, []
        for i, header in enumerate(self.headers):
            choice = self.cleaned_data.get(f"col_{i}") or ""
            if choice == "custom":
                custom.append(header)
            elif choice:
                mapping[header] = choice
        return mapping, custom
