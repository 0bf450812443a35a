"""Request parsers: DRF's JSON parser, made safe against hostile nesting."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's parser turns ValueError into 400, but a body such as ``[[[[…`` nested deeper than
    Python's recursion limit raises RecursionError, which would become a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
