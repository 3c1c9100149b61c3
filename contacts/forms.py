from django import forms

from contacts import csvfiles, services
from contacts.models import AustralianState, ConsentKind, ConsentMode, DncReason, reserved_custom_field_problem
from contacts.rowvalues import split_tags
from tenants.models import validate_timezone
from tenants.widgets import DateTimeLocalInput


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

    def clean_phone(self):
        # The service checks it again; checking here too shows a wrong number with the other errors.
        services.phone_require_mobile(self.cleaned_data["phone"])
        return self.cleaned_data["phone"]


class ConsentForm(forms.Form):
    """Consent typed in by a person. Nothing is preset: it is recorded only when they choose how it
    was given, where and when (``services.consent_problems`` is the rule). ``optional=True`` (the
    "Add contact" page) lets the whole form be left empty, for a contact without consent."""

    kind = forms.ChoiceField(
        choices=[("", "— choose —"), *ConsentKind.choices], required=False, label="Kind of consent"
    )
    source = forms.CharField(
        max_length=200, required=False, help_text="Where consent was given, e.g. 'in-store sign-up sheet'."
    )
    captured_at = forms.DateTimeField(
        required=False,
        label="Obtained at",
        widget=DateTimeLocalInput(),
        help_text="The date and time the person gave consent, in the business's time zone.",
    )
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, help_text="Text or a URL.")
    withdrawn = forms.BooleanField(required=False, label="This records a withdrawal of consent")

    def __init__(self, *args, optional: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.optional = optional
        if optional:
            del self.fields["withdrawn"]  # a new contact has no consent to withdraw

    def _typed_anything(self) -> bool:
        return any(str(self.data.get(self.add_prefix(name), "")).strip() for name in services.CONSENT_FIELDS)

    def clean(self):
        data = super().clean()
        if self.optional and not self._typed_anything():
            return data
        problems = services.consent_problems(
            kind=data.get("kind", ""), source=data.get("source", ""), captured_at=data.get("captured_at")
        )
        for field, problem in problems.items():
            if field not in self.errors:  # an unreadable date already says so
                self.add_error(field, problem)
        return data

    def consent(self) -> dict | None:
        """The consent to record with a new contact, or None when the form was left empty."""
        if not self._typed_anything():
            return None
        return {name: self.cleaned_data[name] for name in services.CONSENT_FIELDS}


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
    consent_captured_at = forms.DateTimeField(required=False, widget=DateTimeLocalInput(), label="Consent obtained at")
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
