"""The capture server (events/capture/) answers exactly as the Django path does, and commits in groups.

Each case sends the same request to the capture application (ASGI, called
directly) and to the Django machine handler (WSGI, the reference of
tests/events/test_wsgi_event.py) and compares status, headers in order, and
body. The capture server needs PostgreSQL to store; the refusals, which store
nothing, are compared on SQLite too. ``transaction=True``: the capture server's
threads and its own connection must see the test's rows.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from http import HTTPStatus

import psycopg
import pytest
from django.db import OperationalError, connection, utils

from events import group_commit
from events.capture import CaptureApplication
from events.capture.committer import LoopCommitter
from events.ingestion import IncomingEvent, IngestError
from events.models import Event
from packedge.capture import MachineASGIHandler
from packedge.wsgi import application
from tests.events.factories import ProductFactory
from tests.events.test_wsgi_event import answer, environ_for
from tests.packedge.test_wsgi import connections_kept_open
from tests.tenancy.factories import OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the capture server stores on PostgreSQL"
)
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def capture():
    return CaptureApplication(fallback=MachineASGIHandler())


def scope_for(environ: dict) -> dict:
    """The ASGI scope of the WSGI environ that ``answer`` sends (same client, server, scheme, headers)."""
    headers = [
        (key[5:].replace("_", "-").lower().encode(), value.encode())
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    headers += [
        (b"content-type", environ["CONTENT_TYPE"].encode()),
        (b"content-length", environ["CONTENT_LENGTH"].encode()),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ["wsgi.url_scheme"],
        "path": environ["PATH_INFO"],
        "raw_path": environ["PATH_INFO"].encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (environ["REMOTE_ADDR"], 50000),
        "server": (environ["SERVER_NAME"], int(environ["SERVER_PORT"])),
    }


async def _call(app: CaptureApplication, scope: dict, body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected (Django's ASGI handler listens for a disconnect)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    status = f"{start['status']} {HTTPStatus(start['status']).phrase}"
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in start["headers"]]
    return status, headers, b"".join(message.get("body", b"") for message in sent[1:])


def captured(app: CaptureApplication, body: bytes, **options):
    """The capture server's answer; its connections are closed after (each call is its own event loop)."""

    async def run():
        try:
            return await _call(app, scope_for(environ_for(body, **options)), body)
        finally:
            await app.close()

    return asyncio.run(run())


def both(app, body: bytes, **options):
    """(capture's answer, Django's answer) to the same request."""
    return captured(app, body, **options), answer(application.machine, body, **options)


@pytest.fixture
def product(org):
    return ProductFactory(organization=org)


def event_body(product, **fields) -> bytes:
    return json.dumps({"public_key": product.public_key, "event": "export_pdf", **fields}).encode()


@postgresql_only
@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "https://shop.example"}, {"referer": "https://blog.example/post"}, {"origin": "null"}],
    ids=["no origin", "origin", "referer", "null origin"],
)
def test_an_accepted_event_answers_alike(capture, product, headers):
    ours = captured(capture, event_body(product, uuid="capture"), **headers)
    django = answer(application.machine, event_body(product, uuid="django"), **headers)
    assert ours == django
    assert ours[0] == "200 OK" and json.loads(ours[2]) == {"success": True}
    assert ("access-control-allow-origin" in [name.lower() for name, _ in ours[1]]) == ("origin" in headers)
    stored = {row.uuid: row for row in Event.objects.filter(product=product)}
    assert sorted(stored) == ["capture", "django"]
    # The same row, but for the time received: the same statement stored both.
    fields = ("event", "feature", "is_system", "properties", "license_key", "domain", "license_id")
    assert [getattr(stored["capture"], f) for f in fields] == [getattr(stored["django"], f) for f in fields]


@pytest.mark.parametrize(
    ("body", "options", "status"),
    [
        (b"", {}, "400 Bad Request"),
        (b"{not json", {}, "400 Bad Request"),
        (b"[1]", {}, "400 Bad Request"),
        (b'{"public_key": "pk_nope", "event": "x"}', {}, "401 Unauthorized"),
        (b'{"public_key": "pk_AAAAAAAAAAAAAAAA", "event": "x"}', {}, "401 Unauthorized"),
        (b'{"event": "x"}', {}, "400 Bad Request"),
        (b'{"public_key": "x"}' + b" " * (65 * 1024), {}, "413 Request Entity Too Large"),
        (b'{"properties": ' + b"[" * 50_000, {}, "400 Bad Request"),
        (b'{"public_key": "x"}', {"content_type": "application/xml"}, "415 Unsupported Media Type"),
    ],
    ids=[
        "empty",
        "not json",
        "not an object",
        "malformed key",
        "unknown key",
        "no key",
        "too large",
        "nested too deeply",
        "not json type",
    ],
)
def test_a_refused_request_answers_alike(capture, body, options, status):
    ours, django = both(capture, body, origin="https://shop.example", **options)
    assert ours == django
    assert ours[0] == status
    assert json.loads(ours[2])["success"] is False


@pytest.mark.parametrize(
    "fields",
    [{"event": "export\u0000pdf"}, {"properties": {"note": "a\u0000b"}}, {"event": 7}, {"event": ""}],
    ids=["NUL in the name", "NUL in a property", "name not a string", "blank name"],
)
def test_bad_events_are_refused_alike_and_store_nothing(capture, product, fields):
    ours, django = both(capture, event_body(product, **fields), origin="https://shop.example")
    assert ours == django
    assert ours[0] == "400 Bad Request"
    assert Event.objects.count() == 0


def test_rate_limited_answers_alike_and_shares_the_counter(capture, product, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ingest": "1/day"}
    assert answer(application.machine, event_body(product, uuid="first"))[0] == "200 OK"
    # The Django path used the day's one request: the capture server sees the same counter.
    ours, django = both(capture, event_body(product, uuid="second"), origin="https://shop.example")
    assert ours[0] == django[0] == "429 Too Many Requests"
    # Retry-After counts down to the end of the day: the two may be a second apart.
    assert [h for h in ours[1] if h[0] != "Retry-After"] == [h for h in django[1] if h[0] != "Retry-After"]
    assert "Retry-After" in dict(ours[1]) and ours[2] == django[2]
    assert list(Event.objects.values_list("uuid", flat=True)) == ["first"]


def test_unknown_keys_from_one_address_are_throttled_alike(capture, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "invalid_key": "2/hour"}
    unknown = b'{"public_key": "pk_AAAAAAAAAAAAAAAA", "event": "x"}'
    assert answer(application.machine, unknown)[0] == "401 Unauthorized"
    assert captured(capture, unknown)[0] == "401 Unauthorized"
    # Two unknown keys from 203.0.113.7, one through each path: the third is refused by both.
    ours, django = both(capture, b'{"public_key": "pk_BBBBBBBBBBBBBBBB", "event": "x"}')
    assert ours[0] == django[0] == "429 Too Many Requests"
    assert [h for h in ours[1] if h[0] != "Retry-After"] == [h for h in django[1] if h[0] != "Retry-After"]


@postgresql_only
def test_an_unreachable_database_answers_alike(capture, product, monkeypatch):
    async def unreachable():
        raise psycopg.OperationalError("connection refused")

    def django_unreachable(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(capture.committer, "_connect", unreachable)
    monkeypatch.setattr(group_commit, "event_store", django_unreachable)
    ours, django = both(capture, event_body(product), origin="https://shop.example")
    assert ours == django
    assert ours[0] == "503 Service Unavailable" and dict(ours[1])["Retry-After"] == "5"
    assert json.loads(ours[2])["error"]["code"] == "database_unavailable"


def test_an_unexpected_error_is_djangos_500(capture, product, monkeypatch):
    async def broken(**kwargs):
        raise RuntimeError("a bug")

    def django_broken(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(capture.committer, "store", broken)
    monkeypatch.setattr(group_commit, "event_store", django_broken)
    ours, django = both(capture, event_body(product), origin="https://shop.example")
    assert ours == django
    assert ours[0] == "500 Internal Server Error"


def test_a_host_not_allowed_is_djangos_400(capture, product):
    ours, django = both(capture, event_body(product), host="evil.example")
    assert ours == django
    assert ours[0] == "400 Bad Request"
    assert not Event.objects.exists()


def test_a_preflight_is_djangos(capture):
    environ = environ_for(b"", origin="https://shop.example", access_control_request_method="POST")
    environ["REQUEST_METHOD"] = "OPTIONS"
    scope = scope_for(environ)
    started = {}

    async def run():
        try:
            return await _call(capture, scope, b"")
        finally:
            await capture.close()

    ours = asyncio.run(run())
    with connections_kept_open():
        result = application.machine(
            environ, lambda status, headers, exc_info=None: started.update(s=status, h=headers)
        )
        content = b"".join(result)
        result.close()
    # Django's ASGI handler answers the preflight (the capture server mirrors POST only); WSGI adds nothing more.
    assert ours[0] == started["s"] == "204 No Content"
    assert ours[1] == started["h"] and ours[2] == content == b""
    assert dict(ours[1])["access-control-allow-origin"] == "*"


# ---------------------------------------------------------------- the committer


def _event(uuid: str | None) -> IncomingEvent:
    return IncomingEvent(
        event="export_pdf",
        feature="export_pdf",
        is_system=False,
        properties_json="{}",
        license_key="",
        domain="shop.example.com",
        occurred_at=NOW,
        uuid=uuid,
    )


def _store_together(committer: LoopCommitter, jobs: list[tuple[int, IncomingEvent]]) -> list[BaseException | None]:
    """Every job handed to the committer in one turn of one loop; what each raised."""

    async def run():
        try:
            results = await asyncio.gather(
                *(committer.store(product_id=p, event=e, received_at=NOW) for p, e in jobs), return_exceptions=True
            )
        finally:
            await committer.close()
        return results

    return asyncio.run(run())


def _transactions_of(*products) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text FROM {Event._meta.db_table} WHERE product_id = ANY(%s)", [[p.id for p in products]]
        )
        return {row[0] for row in cursor.fetchall()}


def _committer() -> LoopCommitter:
    from events.capture.app import database_connect

    return LoopCommitter(connect=database_connect)


@postgresql_only
def test_events_handed_over_together_share_one_transaction_and_dedupe_by_uuid():
    first, second = (ProductFactory(organization=OrganizationFactory()) for _ in range(2))
    Event.objects.none()  # (the products exist before the committer's own connection looks)
    jobs = [(first.id, _event(uuid)) for uuid in ["a", "a", "b", None]] + [(second.id, _event("a"))]

    outcomes = _store_together(_committer(), jobs)

    assert outcomes == [None] * 5  # a duplicate is acknowledged: it is stored, once
    assert sorted(str(u) for u in Event.objects.filter(product=first).values_list("uuid", flat=True)) == [
        "None",
        "a",
        "b",
    ]
    assert list(Event.objects.filter(product=second).values_list("uuid", flat=True)) == ["a"]
    assert len(_transactions_of(first, second)) == 1


@postgresql_only
def test_a_deleted_product_fails_alone_and_its_neighbours_are_stored():
    kept, deleted = (ProductFactory(organization=OrganizationFactory()) for _ in range(2))
    deleted_id = deleted.id
    deleted.delete()

    outcomes = _store_together(
        _committer(), [(kept.id, _event("k1")), (deleted_id, _event("d1")), (kept.id, _event("k2"))]
    )

    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], IngestError) and outcomes[1].status == 401
    assert sorted(Event.objects.filter(product=kept).values_list("uuid", flat=True)) == ["k1", "k2"]


@postgresql_only
def test_a_database_failure_is_every_waiters_error():
    product = ProductFactory(organization=OrganizationFactory())
    attempts = []

    async def unreachable():
        attempts.append(1)
        raise psycopg.OperationalError("connection refused")

    outcomes = _store_together(LoopCommitter(connect=unreachable), [(product.id, _event(f"u{n}")) for n in range(4)])

    assert all(isinstance(outcome, utils.OperationalError) for outcome in outcomes)
    assert len(attempts) == 1  # one batch, tried once: event by event would only multiply the wait
    assert not Event.objects.exists()


@postgresql_only
def test_the_batch_holds_at_most_group_commit_max_events(settings):
    settings.GROUP_COMMIT_MAX_EVENTS = 2
    product = ProductFactory(organization=OrganizationFactory())

    outcomes = _store_together(_committer(), [(product.id, _event(f"u{n}")) for n in range(5)])

    assert outcomes == [None] * 5
    assert len(_transactions_of(product)) == 3  # 2 + 2 + 1


@postgresql_only
def test_with_two_lanes_every_event_is_stored_once():
    from events.capture.app import database_connect

    product = ProductFactory(organization=OrganizationFactory())
    committer = LoopCommitter(connect=database_connect, lanes=2)

    async def run():
        try:
            first = asyncio.ensure_future(committer.store(product_id=product.id, event=_event("a"), received_at=NOW))
            await asyncio.sleep(0)  # the first lane has taken "a"; the next two go to the second lane
            rest = [committer.store(product_id=product.id, event=_event(u), received_at=NOW) for u in ("b", "a")]
            return await asyncio.gather(first, *rest, return_exceptions=True)
        finally:
            await committer.close()

    assert asyncio.run(run()) == [None, None, None]
    assert sorted(Event.objects.filter(product=product).values_list("uuid", flat=True)) == ["a", "b"]
