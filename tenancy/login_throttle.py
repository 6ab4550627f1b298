"""Failed sign-ins counted on the one rate limiter (lib.ratelimit), so that a stranger cannot lock a customer out.

Only failures count: a user who signs in correctly all day is never slowed.
Three counts, as the OWASP Authentication Cheat Sheet weighs lock-out against guessing:

- per username *and* client address (``RATE_LIMITS["login"]``, 5 per 15 min):
  stops one guesser on one account; a stranger's failures from their own
  address never refuse the customer's sign-in from the customer's address;
- per username from any address (``RATE_LIMITS["login_user"]``, 100 per hour):
  a slower global cap on distributed guessing; reaching it takes many
  addresses, so one address cannot renew a lock-out forever;
- per address (``RATE_LIMITS["login_ip"]``): one address trying many usernames.

Once a count is over its rate every attempt it covers is refused, a right
password included, until the window ends.
"""

from __future__ import annotations

from lib.ratelimit import rate_limit_exceeded, rate_limit_hit

PAIR_SCOPE = "login"
USERNAME_SCOPE = "login_user"
ADDRESS_SCOPE = "login_ip"


def _username_identity(username: str) -> str:
    # Case-folded and bounded: "Alice" and "ALICE" count against the same account.
    return username.casefold()[:150]


def _scopes(*, username: str, address: str) -> list[tuple[str, str]]:
    scopes = []
    if username:
        user = _username_identity(username)
        scopes.append((PAIR_SCOPE, f"{user}|{address}"))
        scopes.append((USERNAME_SCOPE, user))
    if address:
        scopes.append((ADDRESS_SCOPE, address))
    return scopes


def login_retry_after(*, username: str, address: str) -> int | None:
    """Seconds until a sign-in may be tried again, or None; counts nothing."""
    waits = [
        rate_limit_exceeded(scope=scope, identity=identity)
        for scope, identity in _scopes(username=username, address=address)
    ]
    waits = [wait for wait in waits if wait is not None]
    return max(waits) if waits else None


def login_failure_record(*, username: str, address: str) -> None:
    for scope, identity in _scopes(username=username, address=address):
        rate_limit_hit(scope=scope, identity=identity)
