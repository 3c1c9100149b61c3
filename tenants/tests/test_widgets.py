"""Date and date-time inputs carry ISO values, the only ones a browser's date inputs keep."""

import datetime as dt
import importlib
import importlib.util
import zoneinfo

from django import forms
from django.utils import timezone, translation

from tenants.widgets import DateInput, DateTimeLocalInput

APPS = ("tenants", "contacts", "messaging", "links", "campaigns", "reporting")
SYDNEY = zoneinfo.ZoneInfo("Australia/Sydney")


def form_classes():
    for app in APPS:
        if importlib.util.find_spec(f"{app}.forms") is None:
            continue
        module = importlib.import_module(f"{app}.forms")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, forms.BaseForm) and value.__module__ == module.__name__:
                yield value


def test_every_date_and_date_time_field_of_our_forms_uses_the_iso_widgets():
    checked, wrong = 0, []
    for form_class in form_classes():
        for name, field in form_class.base_fields.items():
            if isinstance(field, forms.DateTimeField):
                checked += 1
                if not (isinstance(field.widget, DateTimeLocalInput) or field.widget.is_hidden):
                    wrong.append(f"{form_class.__name__}.{name}: {type(field.widget).__name__}")
            elif isinstance(field, forms.DateField):
                checked += 1
                if not isinstance(field.widget, DateInput):
                    wrong.append(f"{form_class.__name__}.{name}: {type(field.widget).__name__}")
    assert checked >= 5  # the sending number's warmup day, campaign start and end, two consent times
    assert wrong == []


class Sample(forms.Form):
    day = forms.DateField(widget=DateInput())
    at = forms.DateTimeField(widget=DateTimeLocalInput())


def test_values_are_iso_in_an_australian_locale_and_the_active_zone():
    with translation.override("en-au"), timezone.override(SYDNEY):
        form = Sample(initial={"day": dt.date(2026, 12, 5), "at": dt.datetime(2026, 12, 5, 5, 48, 38, tzinfo=dt.UTC)})
        page = str(form)
        assert 'type="date" name="day" value="2026-12-05"' in page
        assert 'type="datetime-local" name="at" value="2026-12-05T16:48"' in page

        bound = Sample({"day": "2026-12-05", "at": "2026-12-05T16:48"})
        assert bound.is_valid(), bound.errors
        assert bound.cleaned_data["day"] == dt.date(2026, 12, 5)
        assert bound.cleaned_data["at"] == dt.datetime(2026, 12, 5, 5, 48, tzinfo=dt.UTC)
