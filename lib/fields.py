"""Serializer fields shared by the apps."""

from __future__ import annotations

import re
import zoneinfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lib.text import SAFE_MULTILINE_TEXT_PATTERN, SAFE_TEXT_PATTERN, has_unsafe_characters


def _zone_names() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@extend_schema_field({"type": "string", "enum": _zone_names(), "description": "An IANA time zone name."})
class TimeZoneField(serializers.CharField):
    default_error_messages = {"invalid_zone": "'{value}' is not an IANA time zone name (e.g. Europe/Paris)."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in valid_time_zones():
            self.fail("invalid_zone", value=value)
        return value


_ZONES: set[str] | None = None


def valid_time_zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = set(zoneinfo.available_timezones())
    return _ZONES


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans instead of stringifying them, and control characters.

    Names are shown in the console, in CSV exports and in logs, where a control
    or format character (a newline, ESC, U+202E) forges or hides text; a
    ``multiline`` field (a description) may hold line breaks and tabs. A
    ``pattern`` (a JSON Schema one, searched) narrows what it holds further, with
    ``pattern_message`` as its error. The OpenAPI schema states the character
    rule or the pattern (lib.openapi.StrictCharFieldExtension).
    """

    default_error_messages = {
        "not_a_string": "Must be a string.",
        "control_characters": "Must not contain control or invisible formatting characters.",
    }

    def __init__(self, *, multiline: bool = False, pattern: str | None = None, pattern_message: str = "", **kwargs):
        self.multiline = multiline
        self.pattern = pattern
        self.pattern_message = pattern_message or "Does not have the expected form."
        super().__init__(**kwargs)

    @property
    def schema_pattern(self) -> str:
        if self.pattern:
            return self.pattern
        pattern = SAFE_MULTILINE_TEXT_PATTERN if self.multiline else SAFE_TEXT_PATTERN
        # Surrounding whitespace is trimmed first: a name of spaces alone is a blank one.
        return pattern if self.allow_blank else "^(?=[\\s\\S]*\\S)" + pattern[1:]

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        checked = data.replace("\n", "").replace("\r", "").replace("\t", "") if self.multiline else data
        if has_unsafe_characters(checked):
            self.fail("control_characters")
        value = super().to_internal_value(data)
        if self.pattern and not re.search(self.pattern, value):
            raise serializers.ValidationError(self.pattern_message)
        return value
