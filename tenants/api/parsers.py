"""The API's body parsers, refusing a NUL character anywhere in a body at the edge (as
``smscrm.edge`` does for paths and query strings): PostgreSQL cannot store one. The refusal is a
validation error naming the top-level field it was found in, in REST framework's own words, so a
field a serializer does not check (a JSON object's keys, say) answers like one it does."""

from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser, MultiPartParser

from smscrm.edge import NUL

MESSAGE = "Null characters are not allowed."


def _nul_in(value) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_nul_in(key) or _nul_in(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_nul_in(item) for item in value)
    return False


def refuse_nul(fields: dict) -> None:
    """Raise a 400 naming the first top-level field whose name or value holds a NUL."""
    for name, value in fields.items():
        if _nul_in(name) or _nul_in(value):
            raise ValidationError({name.replace(NUL, "") or "non_field_errors": [MESSAGE]})


class NulRefusingJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if isinstance(data, dict):
            refuse_nul(data)
        elif _nul_in(data):
            raise ValidationError([MESSAGE])
        return data


class NulRefusingMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        refuse_nul({key: parsed.data.getlist(key) for key in parsed.data})
        refuse_nul({key: upload.name or "" for key, upload in parsed.files.items()})
        return parsed
