"""Guess which known contact field each CSV header holds: the fields, their synonyms and :func:`auto_map`."""

from __future__ import annotations

import unicodedata

FIELDS: tuple[tuple[str, str], ...] = (
    ("phone", "Mobile phone"),
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("full_name", "Full name"),
    ("email", "Email"),
    ("timezone", "Time zone"),
    ("state", "State"),
    ("postcode", "Postcode"),
    ("tags", "Tags"),
    ("consent_kind", "Consent type"),
    ("consent_source", "Consent source"),
    ("consent_date", "Consent date"),
    ("consent_evidence", "Consent evidence"),
)
"""The fields a CSV column can be mapped to, as (name, human label), in the order the mapping UI lists them."""


def normalize_header(name: str) -> str:
    """Reduce a header to lowercase ASCII-ish letters and digits: "E-mail 1 - Value" → "email1value".

    Accents are stripped ("Téléphone" → "telephone") and every non-alphanumeric character dropped, so spelling
    variants of one header compare equal.
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())


# Synonyms per field, best first, written as people write them and normalised below. Within a field an earlier
# synonym beats a later one: that is how a "Mobile" column wins over a generic "Phone" column in the same file.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "phone": (
        "mobile",
        "mobile phone",
        "mobile number",
        "mobile phone number",
        "mobile no",
        "mobile ph",
        "mob",
        "cell",
        "cell phone",
        "cellphone",
        "cell number",
        "cell phone number",
        "sms number",
        "msisdn",
        "phone 1 - value",  # Google Contacts
        "phone",
        "phone number",
        "phone no",
        "ph",
        "telephone",
        "telephone number",
        "tel",
        "contact number",
        "contact phone",
        "sms",
        "default address phone",  # Shopify: the address's phone; the customer's own "Phone" ranks above it.
        "billing phone",
        "shipping phone",
    ),
    "first_name": ("first name", "firstname", "given name", "fname", "first", "forename", "preferred name"),
    "last_name": ("last name", "lastname", "surname", "family name", "lname", "last"),
    "full_name": ("name", "full name", "contact name", "customer name", "client name", "display name"),
    "email": ("email", "e-mail", "email address", "e-mail address", "e-mail 1 - value", "email 1 - value", "mail"),
    "timezone": ("timezone", "time zone", "tz"),
    "state": ("state", "province", "region", "state/province", "state/region", "default address province code"),
    "postcode": (
        "postcode",
        "post code",
        "postal code",
        "zip",
        "zip code",
        "zipcode",
        "default address zip",  # Shopify
    ),
    "tags": ("tags", "tag", "labels", "groups", "group membership", "segment", "segments", "lists"),
    "consent_kind": (
        "sms consent",
        "accepts sms marketing",  # Shopify; "Accepts Email Marketing" is deliberately absent: email ≠ SMS consent.
        "consent",
        "consent type",
        "marketing consent",
        "opt in",
        "optin",
        "opted in",
        "sms opt in",
    ),
    "consent_source": ("consent source", "opt in source", "optin source", "sms consent source", "source"),
    # "Created At" is deliberately absent: an account's creation date is not evidence of consent to SMS marketing.
    "consent_date": (
        "consent date",
        "consented at",
        "opt in date",
        "optin date",
        "opt in time",  # Mailchimp OPTIN_TIME
        "confirm time",  # Mailchimp CONFIRM_TIME
        "date subscribed",
        "subscribed at",
        "sms consent date",
        "accepts sms marketing updated at",  # Shopify
    ),
    # A bare "IP Address" column is deliberately absent: only an IP recorded at opt-in says anything about consent.
    "consent_evidence": ("consent evidence", "evidence", "opt in url", "optin url", "opt in ip", "confirm ip"),
}

# Substring fallbacks, best first, for headers like "Customer Mobile" or "Billing Email" that no exact synonym lists.
# Only used for a field no header matched exactly, and never for headers about consent or the *type* of a value.
_FUZZY: dict[str, tuple[str, ...]] = {
    "phone": ("mobile", "cell", "phone", "msisdn"),
    "email": ("email",),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    "postcode": ("postcode", "postalcode", "zip"),
    "tags": ("tags",),
    "timezone": ("timezone",),
}
_FUZZY_BLOCKERS = (
    "accept",
    "consent",
    "optin",
    "optout",
    "subscri",
    "marketing",
    "type",
    "label",
    "status",
    "verified",
    "fax",
    "carrier",
    "extension",
    "date",
)

_EXACT: dict[str, dict[str, int]] = {}
for _field, _names in SYNONYMS.items():
    for _rank, _name in enumerate(_names):
        _EXACT.setdefault(normalize_header(_name), {}).setdefault(_field, _rank)
del _field, _names, _rank, _name


def auto_map(headers: list[str]) -> dict[str, str]:
    """Guess which header holds which known field: ``{header: field_name}`` in header order.

    Exact synonym matches (after :func:`normalize_header`) beat substring fallbacks; within each kind the earlier
    synonym wins, then the leftmost column. Every field and every header is used at most once. Headers matching no
    field are left out; the UI offers them as custom fields.
    """
    candidates: list[tuple[int, int, int, str]] = []
    for index, header in enumerate(headers):
        norm = normalize_header(header)
        if not norm:
            continue
        exact = _EXACT.get(norm, {})
        for field, rank in exact.items():
            candidates.append((0, rank, index, field))
        if any(blocker in norm for blocker in _FUZZY_BLOCKERS):
            continue
        for field, keywords in _FUZZY.items():
            if field in exact:
                continue
            for rank, keyword in enumerate(keywords):
                if keyword in norm:
                    candidates.append((1, rank, index, field))
                    break

    chosen: dict[int, str] = {}
    used_fields: set[str] = set()
    for _kind, _rank, index, field in sorted(candidates):
        if field in used_fields or index in chosen:
            continue
        chosen[index] = field
        used_fields.add(field)
    return {headers[index]: chosen[index] for index in sorted(chosen)}
