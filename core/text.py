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


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def has_lone_surrogates(value: str) -> bool:
    """JSON's ``\\ud800`` escapes decode to text that UTF-8, and so every database column, cannot hold."""
    return _SURROGATE.search(value) is not None


def lone_surrogate_path(data, *, path: str) -> str | None:
    """The dotted path of the first string (or object key) holding a lone surrogate in ``data``, or None.

    A bad key names the object holding it. Iterative: a document may be nested as deep as its parser allowed.
    """
    stack = [(data, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and _SURROGATE.search(key):
                    return where
                stack.append((value, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((value, f"{where}[{i}]") for i, value in enumerate(item))
    return None
