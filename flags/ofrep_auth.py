"""SDK-key authentication and the per-key rate limit of the OFREP endpoints, served stale while the database is down."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError

from flags.models import SdkKey
from lib.process_cache import ProcessCache
from lib.ratelimit import client_address, invalid_key_hit, invalid_key_retry_after, rate_limit_hit
from tenancy import keys

SDK_KEY_PREFIX = "sdk_"
THROTTLE_SCOPE = "ofrep"


class SdkKeyRejected(Exception):
    def __init__(self, status: int, details: str, retry_after: int = 0):
        super().__init__(details)
        self.status, self.details, self.retry_after = status, details, retry_after


# secret hash -> row or None; see authenticate_sdk_key
_sdk_keys: ProcessCache[tuple | None] = ProcessCache("sdk keys", seconds=lambda: settings.FLAG_CONFIG_CACHE_SECONDS)


def forget_cached_keys() -> None:
    _sdk_keys.clear()


def _presented_key(meta) -> str:
    # Read from META directly: building request.headers costs more than the rest of the check.
    scheme, _, token = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    api_key = meta.get("HTTP_X_API_KEY", "").strip()
    if bearer and api_key and bearer != api_key:
        # Two different keys: which one the caller meant is a guess, and a guess would let a
        # wrong (or revoked) key pass unnoticed beside a good one.
        raise SdkKeyRejected(401, "Authorization and X-API-Key name different keys; send one SDK key.")
    return bearer or api_key


def authenticate_sdk_key(request) -> tuple[int, int, int]:
    """(key id, environment id, environment config version) of the request's key.

    Looked up in the database at most once a second per key and process: at a
    thousand evaluations a second the lookup, not the evaluation, would be the
    cost of a request. A write in this process forgets the cache at once
    (services call ``forget_cached_keys``); other workers see a revoked key or
    a changed flag within ``FLAG_CONFIG_CACHE_SECONDS``.
    """
    raw = _presented_key(request.META)
    if not raw:
        raise SdkKeyRejected(401, "An SDK key is required: Authorization: Bearer sdk_… or X-API-Key: sdk_….")
    address = client_address(request)
    if not raw.startswith(SDK_KEY_PREFIX):
        _refuse_guessing(address, counted=True)
        raise SdkKeyRejected(401, "Flag evaluation needs an environment SDK key (sdk_…).")
    digest = keys.hash_secret(raw)
    row = _sdk_key_row(digest, before_lookup=lambda: _refuse_guessing(address))
    if row is None:
        _refuse_guessing(address, counted=True)
        raise SdkKeyRejected(401, "The SDK key is unknown.")
    key_id, revoked_at, environment_id, version = row
    if revoked_at is not None:
        raise SdkKeyRejected(403, "The SDK key was revoked.")
    return key_id, environment_id, version


def _refuse_guessing(address: str, *, counted: bool = False) -> None:
    """429 once the client address sent too many unknown keys (``counted``: this request is one of them).

    Checked before a lookup the cache cannot answer (a made-up key is new each time), so a
    flood of them costs no queries; a key this process knows is never refused here.
    """
    retry_after = invalid_key_hit(address) if counted else invalid_key_retry_after(address)
    if retry_after is not None:
        raise SdkKeyRejected(
            429, "Too many requests with unknown SDK keys from this address; retry later.", retry_after
        )


def _sdk_key_row(digest: str, *, before_lookup: Callable[[], None] = lambda: None) -> tuple | None:
    """The key's row from the database, or while it is unreachable the row last loaded (stale serving)."""

    def load() -> tuple | None:
        if not _sdk_keys.seen(digest):  # a key this process served before is never refused unseen
            before_lookup()
        return (
            SdkKey.objects.filter(secret_hash=digest)
            .values_list("pk", "revoked_at", "environment_id", "environment__config_version")
            .first()
        )

    if not database_recently_down():
        try:
            return _sdk_keys.get_or_load(digest, load)
        except DATABASE_ERRORS:
            database_marked_down()
    row = _sdk_keys.peek(digest, max_stale=settings.FLAG_STALE_SERVE_SECONDS)
    if row is None:
        raise DatabaseUnavailable("The database is unavailable and this SDK key's configuration was not loaded.")
    return row


# ---------------------------------------------------------------- stale serving while the database is down
#
# OFREP keeps answering from the configuration it last loaded for FLAG_STALE_SERVE_SECONDS
# after it expired: a flag evaluation must not fail because the database blinked. After a
# failed lookup the database is left alone for DATABASE_DOWN_BACKOFF_SECONDS, so that a
# thousand evaluations a second do not each wait on a connection attempt.

DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_DOWN_BACKOFF_SECONDS = 1.0
_database_down_until = 0.0


class DatabaseUnavailable(OperationalError):
    """Nothing to serve: the middleware answers 503 (in OFREP's shape on /ofrep/)."""


def database_marked_down() -> None:
    global _database_down_until
    _database_down_until = time.monotonic() + DATABASE_DOWN_BACKOFF_SECONDS


def database_marked_up() -> None:
    global _database_down_until
    _database_down_until = 0.0


def database_recently_down() -> bool:
    return time.monotonic() < _database_down_until


def rate_limit_retry_after(key_id: int, scope: str = THROTTLE_SCOPE) -> int | None:
    """Seconds to wait when the key is over its rate (``RATE_LIMITS[scope]``, "ofrep" by default), else None."""
    return rate_limit_hit(scope=scope, identity=str(key_id))
