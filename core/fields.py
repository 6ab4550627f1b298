"""Serializer fields shared by the apps."""

from __future__ import annotations

import zoneinfo

from rest_framework import serializers


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
    """A CharField that refuses numbers and booleans instead of stringifying them."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)
