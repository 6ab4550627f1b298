"""The capture server's ASGI application: ``POST /public/v1/event`` without Django's request cycle.

Same answers as the Django path (``events.public_apis.event_create`` behind the
machine middleware, or its lean WSGI path ``events.wsgi_event``), byte for byte:
the same validation functions (``lib.public_bodies``, ``events.ingestion``), the
same error bodies (``events.public_apis.error_response``,
``lib.middleware.unavailable_response``), the same headers after them
(``events.wsgi_event.added_headers``), the same rate limiter counters and public
key cache. What differs is where the time goes: no WSGI environ, no
``HttpRequest``, no middleware, and the store is :class:`LoopCommitter`'s group
commit in the event loop rather than a thread per request.

Nothing blocking runs in the loop. A public key this process holds is answered
from its cache; any other key (a lookup, an unknown key and its throttling by
client address) goes to the *lookups* thread, which calls the Django path's own
``product_id_or_refuse``. The rate limiter counts in the loop and exchanges with
Redis on the *exchanges* thread. The Feature Usage fold is requested as the
view's store requests it (``events_ingested``, whose receiver debounces), at most
once a second from the *signals* thread, where a consumer run inline (Celery
without a broker) cannot hold up the loop.

Everything this module does not mirror goes to ``fallback`` (Django's ASGI
handler with the machine middleware, see ``packedge.capture``): another method
(a preflight), a Host that ``ALLOWED_HOSTS`` refuses, a plain-HTTP request under
``SECURE_SSL_REDIRECT``, another machine path, settings the lean path does not
mirror. The capture server needs PostgreSQL (psycopg's async connection);
SQLite deployments keep the Django path.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from django.conf import settings
from django.db import close_old_connections, connections
from django.http import HttpRequest
from django.utils.http import parse_header_parameters

from events import ingestion, wsgi_event
from events.capture.committer import LoopCommitter
from events.ingestion import IngestError
from events.models import Event
from events.public_apis import SUCCESS, error_response, product_id_or_refuse, rate_limit_check
from events.signals import events_ingested
from lib.middleware import unavailable_response
from lib.public_bodies import public_body_read
from lib.ratelimit import client_address, rate_limit_hit_async

logger = logging.getLogger(__name__)

PATH = wsgi_event.PATH
# At most one events_ingested per this many seconds per process; its receiver debounces again.
SIGNAL_EVERY_SECONDS = 1.0
# Batches in the database at a time per process (LoopCommitter's lanes). Two measured no better than
# one on the 2-core machine (P4's load, fresh rows, load 7, 2026-12-04: 599 and 865 ev/s against 700
# and 655, within the noise), and one makes the largest batches, so the fewest COMMITs.
COMMIT_LANES = 1
_NOT_FOUND = b'{"error": {"code": "not_found", "message": "The capture server serves POST /public/v1/event only."}}'


class _Body:
    """What ``public_body_read`` and ``client_address`` read of a request: a body already received, and META."""

    __slots__ = ("content_type", "META", "_body")

    def __init__(self, content_type: str, meta: dict, body: bytes) -> None:
        self.content_type, self.META, self._body = content_type, meta, body

    def read(self, size: int) -> bytes:
        return self._body[:size]


class CaptureApplication:
    """One per worker process; ``fallback`` is an ASGI application answering what this one does not mirror."""

    def __init__(self, fallback) -> None:
        self.fallback = fallback
        self.machine_prefixes = tuple(settings.MACHINE_PATH_PREFIXES)
        # One thread each, so that Django's per-thread objects (a database connection, the cache
        # client and its connection pool) are made once and reused.
        self._lookups = ThreadPoolExecutor(1, thread_name_prefix="capture-lookups")
        self._exchanges = ThreadPoolExecutor(1, thread_name_prefix="capture-exchanges")
        self._signals = ThreadPoolExecutor(1, thread_name_prefix="capture-signals")
        self._signalled_at = -SIGNAL_EVERY_SECONDS
        self._signal_running = False
        self._unsignalled = 0
        self.committer = LoopCommitter(connect=database_connect, on_stored=self._stored, lanes=COMMIT_LANES)

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            return await self._lifespan(receive, send)
        if kind != "http":
            return await self.fallback(scope, receive, send)
        path = scope["path"]
        if path != PATH or scope["method"] != "POST" or not wsgi_event.mirrored_settings():
            if path.startswith(self.machine_prefixes):
                return await self.fallback(scope, receive, send)
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(_NOT_FOUND)))]
            return await _send(send, 404, headers, _NOT_FOUND)
        meta = _meta(scope)
        secure = _is_secure(scope, meta)
        if not wsgi_event.host_valid(_raw_host(scope, meta), id(settings._wrapped)) or (
            settings.SECURE_SSL_REDIRECT and not secure
        ):
            return await self.fallback(scope, receive, send)  # Django's 400, or its redirect to HTTPS
        status, headers, body = await self._answer(scope, receive, meta, secure)
        await _send(send, status, headers, body)

    async def _answer(self, scope, receive, meta: dict, secure: bool) -> tuple[int, list, bytes]:
        origin = meta.get("HTTP_ORIGIN")
        with_origin = bool(origin) and wsgi_event.origin_parses(origin)
        try:
            content_type, _ = parse_header_parameters(meta.get("CONTENT_TYPE", ""))
            received = await _read_body(receive, limit=ingestion.MAX_EVENT_BODY_BYTES + 1)
            request = _Body(content_type, meta, received)
            body = public_body_read(request, limit=ingestion.MAX_EVENT_BODY_BYTES, error=IngestError)
            data = ingestion.body_parse(body)
            public_key = ingestion.public_key_from(data)
            product_id = ingestion.product_id_if_cached(public_key)
            if product_id is None:
                product_id = await self._on(self._lookups, _product_lookup, public_key, client_address(request))
            rate_limit_check(
                await rate_limit_hit_async(scope="ingest", identity=public_key, blocking=self._exchange_run)
            )
            now = ingestion.now_utc()
            fallback = ingestion.fallback_domain_from_headers(origin, meta.get("HTTP_REFERER"))
            event = ingestion.event_parse(data, now=now, fallback_domain=fallback)
            await self.committer.store(product_id=product_id, event=event, received_at=now)
        except IngestError as error:
            response = error_response(error)
        except Exception as error:
            response = unavailable_response(PATH, error)
            if response is None:
                response = await self._on(self._lookups, _django_500, scope, meta, error)
        else:
            return 200, _success_headers(id(settings._wrapped), with_origin, secure), SUCCESS
        items = list(response.items())
        return (
            response.status_code,
            [*items, ("Content-Length", str(len(response.content))), *_tail(with_origin, secure)],
            response.content,
        )

    async def _on(self, executor: ThreadPoolExecutor, function, *args):
        # run_in_executor does not copy the loop's context: the thread keeps its own, and with it
        # Django's per-thread cache and database objects.
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)

    async def _exchange_run(self, function):
        """The rate limiter's work off the loop (an exchange with Redis, or a count in another cache)."""
        return await self._on(self._exchanges, function)

    def _stored(self, count: int) -> None:
        """After a batch committed: ``events_ingested``, as the Django path sends it, at most once a second."""
        self._unsignalled += count
        now = time.monotonic()
        if self._signal_running or now - self._signalled_at < SIGNAL_EVERY_SECONDS:
            return
        self._signalled_at, self._signal_running = now, True
        count, self._unsignalled = self._unsignalled, 0
        future = asyncio.get_running_loop().run_in_executor(self._signals, _signal, count)
        future.add_done_callback(self._signal_done)

    def _signal_done(self, future: asyncio.Future) -> None:
        self._signal_running = False
        if not future.cancelled() and future.exception() is not None:
            logger.warning("events_ingested failed", exc_info=future.exception())

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        """Close the committer's connection and each thread's Django connections (the threads stay usable)."""
        await self.committer.close()
        for executor in (self._lookups, self._exchanges, self._signals):
            await self._on(executor, connections.close_all)


async def database_connect() -> psycopg.AsyncConnection:
    """An autocommit connection to the default database (the statements hold their own BEGIN … COMMIT).

    A client-side binding cursor, as Django's psycopg backend uses by default: several
    statements, parameters bound, go in one round trip.
    """
    return await psycopg.AsyncConnection.connect(
        **connection_params(), autocommit=True, cursor_factory=psycopg.AsyncClientCursor
    )


def connection_params() -> dict:
    """psycopg's connection keywords from ``settings.DATABASES['default']``, read at each connect (tests rename it)."""
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError(
            "the capture server needs PostgreSQL (DATABASE_URL=postgres://…); SQLite keeps the Django path"
        )
    options = {
        name: value
        for name, value in database.get("OPTIONS", {}).items()
        if name not in ("pool", "server_side_binding", "isolation_level", "assume_role")
    }
    params = {"dbname": database["NAME"], **options}
    for key, name in (("USER", "user"), ("PASSWORD", "password"), ("HOST", "host"), ("PORT", "port")):
        if database.get(key):
            params[name] = str(database[key])
    return params


def _product_lookup(public_key: str, address: str) -> int:
    # The lookups thread answers no request cycle: CONN_MAX_AGE and broken connections are checked here.
    close_old_connections()
    return product_id_or_refuse(public_key, address)


def _signal(count: int) -> None:
    try:
        events_ingested.send(sender=Event, count=count)
    finally:
        close_old_connections()  # a consumer run inline may have used the database


def _django_500(scope, meta: dict, error: Exception):
    """Django's own answer to an unexpected exception (logged, ``got_request_exception`` sent)."""
    from django.core.handlers.exception import response_for_exception

    request = HttpRequest()
    request.method, request.path, request.path_info = "POST", PATH, PATH
    server = scope.get("server") or ("localhost", 80)
    request.META = {
        **meta,
        "REQUEST_METHOD": "POST",
        "PATH_INFO": PATH,
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or ""),
    }
    request._get_scheme = lambda: scope.get("scheme", "http")
    return response_for_exception(request, error)


# ASGI header name → the WSGI META key the shared functions read.
_META_KEYS = {
    b"host": "HTTP_HOST",
    b"content-type": "CONTENT_TYPE",
    b"content-length": "CONTENT_LENGTH",
    b"origin": "HTTP_ORIGIN",
    b"referer": "HTTP_REFERER",
    b"x-forwarded-for": "HTTP_X_FORWARDED_FOR",
    b"x-forwarded-host": "HTTP_X_FORWARDED_HOST",
    b"x-forwarded-proto": "HTTP_X_FORWARDED_PROTO",
}


def _meta(scope) -> dict:
    meta = {"REMOTE_ADDR": scope["client"][0] if scope.get("client") else ""}
    for name, value in scope["headers"]:
        key = _META_KEYS.get(name)
        if key is not None:
            text = value.decode("latin-1")
            # Repeated headers are joined with commas, as ASGIRequest and WSGI servers do.
            meta[key] = f"{meta[key]},{text}" if key in meta else text
    return meta


def _is_secure(scope, meta: dict) -> bool:
    """``HttpRequest.is_secure()``: SECURE_PROXY_SSL_HEADER when it came, else the connection's scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = meta.get(header)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme", "http") == "https"


def _raw_host(scope, meta: dict) -> str:
    """``HttpRequest._get_raw_host()`` over the ASGI scope."""
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return meta["HTTP_X_FORWARDED_HOST"]
    if "HTTP_HOST" in meta:
        return meta["HTTP_HOST"]
    server = scope.get("server") or ("localhost", None)
    host, port = server[0], str(server[1] or "")
    default_port = "443" if scope.get("scheme") == "https" else "80"
    return host if not port or port == default_port else f"{host}:{port}"


async def _read_body(receive, *, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes of it (the rest is left unread, as the WSGI path leaves it)."""
    chunks, size = [], 0
    while size < limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _tail(with_origin: bool, secure: bool) -> tuple[tuple[str, str], ...]:
    return wsgi_event.added_headers(id(settings._wrapped), with_origin, secure)


@functools.lru_cache(maxsize=64)
def _success_headers(settings_holder: int, with_origin: bool, secure: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(SUCCESS))),
        *wsgi_event.added_headers(settings_holder, with_origin, secure),
    ]
    return _encoded(headers)


def _encoded(headers) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]


async def _send(send, status: int, headers: list, body: bytes) -> None:
    if headers and isinstance(headers[0][0], str):
        headers = _encoded(headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
