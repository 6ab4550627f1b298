"""The /v1 JSON parser: every parse failure is a 400, and no text the database cannot store gets through.

The stock parser lets ``RecursionError`` (100,000 nested ``[``) escape as a
500, and accepts ``\\u0000`` and lone surrogates inside strings, which
PostgreSQL refuses (in text and jsonb alike) with an error instead of a row.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from lib.text import has_unstorable_characters


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        if _holds_unstorable_text(data):
            raise ParseError("JSON parse error - strings must not contain NUL characters or lone surrogates.")
        return data


def _holds_unstorable_text(data) -> bool:
    # Iterative: the document may be nested as deep as the parser allowed.
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_unstorable_characters(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
