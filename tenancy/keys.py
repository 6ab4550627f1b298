"""Generating and checking the three kinds of keys and the public ids.

Secrets (``sk_…`` API keys, ``sdk_…`` environment keys) are stored as a SHA-256
digest: they are long random strings, so a fast hash is as strong as a slow
one and keeps the per-request lookup to a single indexed query.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PUBLIC_ID_BYTES = 12
SECRET_BYTES = 24
# How many characters of a secret are kept in clear to tell keys apart.
DISPLAY_PREFIX_CHARS = 8


def new_public_id(prefix: str) -> str:
    """An opaque, URL-safe id such as ``prd_8fK2…``; never a database integer."""
    return f"{prefix}_{secrets.token_urlsafe(PUBLIC_ID_BYTES).replace('-', 'x').replace('_', 'y')}"


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def secrets_match(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(raw), stored_hash)


def display_prefix(raw: str) -> str:
    """``sk_AbCd1234`` — enough to recognise a key in a list, useless to an attacker."""
    kind, _, body = raw.partition("_")
    return f"{kind}_{body[:DISPLAY_PREFIX_CHARS]}"


# Module-level defaults, so migrations can reference them by import path.
def new_product_id() -> str:
    return new_public_id("prd")


def new_license_id() -> str:
    return new_public_id("lic")


def new_public_key() -> str:
    return new_public_id("pk")


def new_project_id() -> str:
    return new_public_id("proj")


def new_environment_id() -> str:
    return new_public_id("env")


def new_flag_id() -> str:
    return new_public_id("flag")


def new_audit_entry_id() -> str:
    return new_public_id("aud")
