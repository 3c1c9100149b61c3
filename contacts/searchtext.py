"""How names and e-mail addresses are folded for search: accents and case never matter.

"Zoë", "ZOË", "Zoe" and "zoe" all fold to "zoe"; so do "Ｚｏｅ" (full-width) and "Zoe\u0308"
(an e with a separate combining diaeresis, as macOS writes it). The same ``fold`` runs on the
stored search columns of a contact (``Contact.search_name`` and its siblings, written on every
save and by the import's bulk writes) and on what a person types into the search box, so the
two always agree.
"""

import unicodedata

# Letters that Unicode does not decompose into a base letter and a mark, but that people type
# without the stroke or ligature when they search ("Søren" is found by "soren").
_UNDECOMPOSED = str.maketrans(
    {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ı": "i", "ŧ": "t", "æ": "ae", "œ": "oe", "þ": "th"}
)


def fold(text: str) -> str:
    """``text`` for comparison: NFKD, combining marks removed, casefolded, spaces collapsed."""
    if not text:
        return ""
    # casefold before and after decomposing: "İ".casefold() is "i" plus a combining dot, and
    # "ǅ" decomposes into letters that casefold further.
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = stripped.casefold().translate(_UNDECOMPOSED)
    return " ".join(folded.split())


def contact_search_keys(*, first_name: str, last_name: str, email: str) -> tuple[str, str, str]:
    """A contact's stored search columns, folded: (first last, last first, e-mail).

    A search is a prefix of any of the three, so one B-tree index on (tenant, column) per
    column serves it (``LIKE 'zoe%'``): "zoe" finds a first name, "nguy" a last name, "zoe ng"
    a full name, "zoe@" an e-mail. Cheap to keep up under a million-row import, unlike a
    trigram index.
    """
    first, last = fold(first_name), fold(last_name)
    return " ".join(filter(None, (first, last))), " ".join(filter(None, (last, first))), fold(email)
