"""The date and date-time inputs every form uses.

A browser's ``<input type="date">`` and ``<input type="datetime-local">`` accept only ISO values
(``2026-12-05``, ``2026-12-05T16:48``). Django's own widgets write the locale's format instead
(en-AU: ``05/12/2026``, ``2026-12-05 16:48:38``), which the browser drops: the field shows empty
and saving says "This field is required." These widgets always write ISO. A date-time is shown
and read in the active time zone (the tenant's: the middleware activates it); Django's
``DateTimeField`` converts it to and from UTC for storage.
"""

from django import forms

DATE_FORMAT = "%Y-%m-%d"
DATETIME_LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class DateInput(forms.DateInput):
    """``<input type="date">`` with an ISO value."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATE_FORMAT)


class DateTimeLocalInput(forms.DateTimeInput):
    """``<input type="datetime-local">`` with an ISO value to the minute, in the active time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format=DATETIME_LOCAL_FORMAT)
