"""Shape checks for what arrives in a URL, a query string or a body, before any query uses it.

A NUL byte reaches PostgreSQL as an error ("string literal cannot contain NUL"),
not as "no such row": checked here, every malformed id is the same 404 an
unknown one is, and a malformed query parameter a 400 (lib.text), never a 500. Every
selector that looks a row up by what a client sent calls one of these first.
"""

from __future__ import annotations

import re

from lib.errors import NotFound

# keys.new_public_id: "<prefix>_" then URL-safe base64 with '-' and '_' replaced.
_PUBLIC_ID = re.compile(r"[a-z]{2,6}_[A-Za-z0-9]{1,34}")
# flags/definitions.NAME_PATTERN: what a flag key may be.
_FLAG_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_KEY_PREFIX = re.compile(r"[a-z]{2,4}_[A-Za-z0-9_-]{1,8}")


def public_id_shaped(value: object, *, prefix: str) -> bool:
    return isinstance(value, str) and value.startswith(prefix + "_") and _PUBLIC_ID.fullmatch(value) is not None


def public_id_require(value: object, *, prefix: str, message: str) -> str:
    """The id when it has the shape of a ``<prefix>_…`` id; otherwise the 404 an unknown id gets."""
    if not public_id_shaped(value, prefix=prefix):
        raise NotFound(message)
    return value  # type: ignore[return-value]


def flag_key_require(value: object, *, message: str) -> str:
    if not isinstance(value, str) or _FLAG_KEY.fullmatch(value) is None:
        raise NotFound(message)
    return value


def key_prefix_shaped(value: object, *, kind: str) -> bool:
    """``sk_AbCd1234`` / ``sdk_AbCd1234``: the displayed start of a secret (keys.display_prefix)."""
    return isinstance(value, str) and value.startswith(kind + "_") and _KEY_PREFIX.fullmatch(value) is not None
