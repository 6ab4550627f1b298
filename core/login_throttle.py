"""Failed sign-ins counted per username and per client address, on the one rate limiter (core.ratelimit).

Only failures count: a user who signs in correctly all day is never slowed.
Once either count is over its rate (``RATE_LIMITS["login"]`` per username,
``RATE_LIMITS["login_ip"]`` per address) every attempt is refused, a right
password included, until the window ends: that is what stops a guesser.
"""

from __future__ import annotations

from django.conf import settings

from core.ratelimit import rate_limit_exceeded, rate_limit_hit

USERNAME_SCOPE = "login"
ADDRESS_SCOPE = "login_ip"


def client_address(request) -> str:
    """REMOTE_ADDR, or behind a trusted proxy (``BEHIND_PROXY=1``) the address the proxy appended last."""
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded.strip():
            return forwarded.split(",")[-1].strip()[:64]
    return request.META.get("REMOTE_ADDR", "")[:64]


def _username_identity(username: str) -> str:
    # Case-folded and bounded: "Alice" and "ALICE" count against the same account.
    return username.casefold()[:150]


def login_retry_after(*, username: str, address: str) -> int | None:
    """Seconds until a sign-in may be tried again, or None; counts nothing."""
    waits = [
        rate_limit_exceeded(scope=USERNAME_SCOPE, identity=_username_identity(username)) if username else None,
        rate_limit_exceeded(scope=ADDRESS_SCOPE, identity=address) if address else None,
    ]
    waits = [wait for wait in waits if wait is not None]
    return max(waits) if waits else None


def login_failure_record(*, username: str, address: str) -> None:
    if username:
        rate_limit_hit(scope=USERNAME_SCOPE, identity=_username_identity(username))
    if address:
        rate_limit_hit(scope=ADDRESS_SCOPE, identity=address)
