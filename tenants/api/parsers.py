"""The API's body parsers, refusing a NUL character anywhere in the body at the edge (as
``smscrm.edge`` does for paths, query strings and forms): PostgreSQL cannot store one."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, MultiPartParser

from smscrm.edge import NUL_REFUSED, contains_nul


class NulRefusingJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if contains_nul(data):
            raise ParseError(NUL_REFUSED)
        return data


class NulRefusingMultiPartParser(MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        fields = {key: parsed.data.getlist(key) for key in parsed.data}
        names = [upload.name or "" for upload in parsed.files.values()]
        if contains_nul(fields) or contains_nul(names):
            raise ParseError(NUL_REFUSED)
        return parsed
