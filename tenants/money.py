"""Money as people read and type it: Australian dollars on screen and in inputs, integer cents stored.

Every amount is stored as integer cents (budgets, prices, costs). ``format_aud`` is the one way
to show an amount (templates use it through the ``aud`` filter, messages and admin columns call it
directly), and ``DollarsField`` is the one form field that takes dollars ("100", "100.5",
"$1,250.00") and hands the form integer cents.
"""

import re
from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.core.exceptions import ValidationError


def format_aud(cents) -> str:
    """Integer cents as Australian dollars: 123456 → "$1,234.56"; nothing → ""."""
    if cents is None or cents == "":
        return ""
    amount = Decimal(str(cents))
    sign = "-" if amount < 0 else ""
    dollars = (abs(amount) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{sign}${dollars:,.2f}"


def cents_as_dollars(cents) -> str:
    """Integer cents as the plain dollar figure an input shows: 10000 → "100.00"."""
    if cents is None or cents == "":
        return ""
    return f"{Decimal(int(cents)) / 100:.2f}"


# What may be typed once "$", thousands separators and spaces are dropped: digits with an optional point.
_AMOUNT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
# The largest amount a cents column (a 64-bit integer) holds.
BIGINT_MAX = 9_223_372_036_854_775_807


class DollarsInput(forms.TextInput):
    """A text input for an amount of dollars (numeric keyboard on phones)."""

    def __init__(self, attrs=None):
        super().__init__({"inputmode": "decimal", "autocomplete": "off", **(attrs or {})})


class DollarsField(forms.Field):
    """An amount typed in dollars ("100", "100.50", "$1,250") cleaned to integer cents (10000, 10050, 125000).

    Refuses, with a message that says why: anything that is not a number, negative amounts, and
    more than two decimal places (no fractions of a cent). ``max_cents`` bounds the amount.
    """

    widget = DollarsInput
    default_error_messages = {
        "invalid": "Enter an amount in dollars, such as 100 or 12.50.",
        "negative": "The amount cannot be negative.",
        "decimals": "Use at most two decimal places (whole cents), such as 12.50.",
        "too_large": "The amount cannot be more than %(most)s.",
    }

    def __init__(self, *, max_cents: int = BIGINT_MAX, **kwargs):
        # A model field's form field arguments (max_value, min_value…) are in cents: drop them.
        for key in ("max_value", "min_value", "step_size", "max_length", "min_length", "empty_value"):
            kwargs.pop(key, None)
        self.max_cents = max_cents
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, int) and not isinstance(value, bool):
            return cents_as_dollars(value)
        return value

    def to_python(self, value) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already cents (an initial value)
        text = str(value).strip().replace(",", "").replace(" ", "")
        if text.startswith("$"):
            text = text[1:]
        if text.startswith("-$"):
            text = "-" + text[2:]
        if text in self.empty_values:
            return None
        if not _AMOUNT.fullmatch(text):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if text.startswith("-") and text.strip("-0.") != "":
            raise ValidationError(self.error_messages["negative"], code="negative")
        whole, _, fraction = text.lstrip("-").partition(".")
        if len(fraction.rstrip("0")) > 2:
            raise ValidationError(self.error_messages["decimals"], code="decimals")
        # Whole integers, never a float or a rounding Decimal context: "12.30" is exactly 1230 cents.
        cents = int(whole or "0") * 100 + int((fraction + "00")[:2])
        if cents > self.max_cents:
            raise ValidationError(
                self.error_messages["too_large"], code="too_large", params={"most": format_aud(self.max_cents)}
            )
        return cents

    def has_changed(self, initial, data) -> bool:
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


def dollars_label(name: str) -> str:
    """A cents field's name as a label in dollars: "daily_budget_cents" → "Daily budget ($)"."""
    words = name.replace("_", " ")
    if words.startswith("cents per "):
        words = "price per " + words.removeprefix("cents per ")
    words = words.removesuffix(" cents")
    return f"{words[:1].upper()}{words[1:]} ($)"


def dollars_formfield(db_field) -> DollarsField:
    """The DollarsField for a model's integer-cents field, bounded by what its column holds."""
    big = db_field.get_internal_type() in ("BigIntegerField", "PositiveBigIntegerField")
    return DollarsField(
        required=not db_field.blank,
        label=dollars_label(db_field.name),
        help_text=db_field.help_text,
        initial=db_field.get_default() if db_field.has_default() else None,
        max_cents=BIGINT_MAX if big else 2_147_483_647,
    )


def is_cents_field(db_field) -> bool:
    """A model field that holds integer cents, by this codebase's naming (``*_cents``, ``cents_per_*``)."""
    return db_field.name.endswith("_cents") or db_field.name.startswith("cents_")
