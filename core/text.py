"""What text may hold: the character checks every input path shares (no imports, so the parser can use them)."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls and DEL, and the surrogates JSON lets through but UTF-8 cannot hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def has_unstorable_characters(value: str) -> bool:
    """NUL and lone surrogates: PostgreSQL stores neither (text or jsonb)."""
    return _UNSTORABLE.search(value) is not None


def has_control_characters(value: str) -> bool:
    return _CONTROL.search(value) is not None


def has_unsafe_characters(value: str) -> bool:
    """Control characters, or format characters (U+202E, zero-width space, BOM) that hide what a text says."""
    return has_control_characters(value) or any(unicodedata.category(ch) == "Cf" for ch in value)
