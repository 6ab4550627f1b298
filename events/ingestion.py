"""Event ingestion: a request body validated into typed events, then stored with one INSERT.

This is the hottest path of the service (every customer install calls it), so it
does exactly one product lookup (cached in-process by public key) and one SQL
statement per request: a multi-row ``INSERT … ON CONFLICT DO NOTHING`` whose
license column is a subquery, so attributing a license costs no extra round trip.
Nothing else happens here for Feature Usage: a signal after commit lets the
analytics worker know (debounced). On PostgreSQL the insert holds the product's
shared write barrier (``events.selectors.events_committed_through``) in the same
round trip, which is what lets consumers keep a watermark on ids.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import idna
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from events import sql as events_sql
from events.models import (
    DOMAIN_MAX_LENGTH,
    EVENT_NAME_MAX_LENGTH,
    LICENSE_KEY_MAX_LENGTH,
    WRITE_BARRIER_LOCK,
    Event,
    Product,
)
from events.signals import events_ingested
from lib import sql as core_sql
from lib.identifiers import public_id_shaped
from lib.process_cache import ProcessCache

MAX_EVENT_BODY_BYTES = 64 * 1024
MAX_BATCH_BODY_BYTES = 1024 * 1024
MAX_BATCH_EVENTS = 1000
MAX_PROPERTIES_BYTES = 32 * 1024
UUID_MAX_LENGTH = 64
PUBLIC_KEY_MAX_LENGTH = 40
FUTURE_TOLERANCE = timedelta(minutes=10)
MAX_EVENT_AGE = timedelta(days=366)
RESERVED_PREFIXES = ("license.", "update.", "release.", "product.", "site.")
GENERIC_FEATURE_EVENT = "feature_used"

# Control characters, and lone surrogates that JSON allows but UTF-8 (and so the database) does not.
_UNSTORABLE_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# PostgreSQL's jsonb refuses the NUL character; an escaped backslash before it is not one.
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
# One label of a host name (RFC 1123): letters, digits and inner hyphens, at most 63.
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_PLAIN_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


class IngestError(Exception):
    """A request we refuse: its status, machine code and a message naming the field."""

    def __init__(self, message: str, *, code: str = "invalid_request", status: int = 400, retry_after: int = 0):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    event: str
    feature: str
    is_system: bool
    properties_json: str
    license_key: str
    domain: str
    occurred_at: datetime
    uuid: str | None


# ---------------------------------------------------------------- the body


def body_parse(body: bytes) -> dict:
    """The request body as a JSON object, or a 400 saying why not."""
    if not body:
        raise IngestError("body: empty; send a JSON object.", code="invalid_json")
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise IngestError("body: not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise IngestError("body: must be a JSON object.", code="invalid_json")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def public_key_from(data: dict) -> str:
    public_key = data.get("public_key")
    if public_key is None:
        raise IngestError("public_key: required.")
    if not isinstance(public_key, str):
        raise IngestError("public_key: must be a string.")
    return public_key


def event_parse(raw: dict, *, now: datetime, fallback_domain: str, field_prefix: str = "") -> IncomingEvent:
    """One event of a request, validated into an :class:`IncomingEvent` (or IngestError naming the field)."""
    name = raw.get("event")
    if name is None:
        raise IngestError(f"{field_prefix}event: required.")
    name = _name(name, field=f"{field_prefix}event")
    if not name.strip():
        raise IngestError(f"{field_prefix}event: must not be blank.")

    properties = raw.get("properties")
    if properties is None:
        properties, properties_json = {}, "{}"
    elif not isinstance(properties, dict):
        raise IngestError(f"{field_prefix}properties: must be a JSON object.")
    else:
        properties_json = _properties_json(properties, field=f"{field_prefix}properties")

    feature = name
    if name == GENERIC_FEATURE_EVENT:
        named = properties.get("feature")
        if isinstance(named, str) and named.strip():
            feature = _name(named, field=f"{field_prefix}properties.feature")

    license_key = raw.get("license_key")
    if license_key is None:
        license_key = ""
    else:
        license_key = _text(license_key, field=f"{field_prefix}license_key", max_length=LICENSE_KEY_MAX_LENGTH).strip()

    site = raw.get("site")
    if site is None or site == "":
        domain = fallback_domain
    else:
        site = _text(site, field=f"{field_prefix}site", max_length=2048)
        # IDNA would silently drop a zero-width character: refuse it, as in names.
        domain = "" if _has_format_characters(site) else site_normalize(site)
        if not domain:
            raise IngestError(f"{field_prefix}site: must be a domain such as customer.example.com.")

    uuid = raw.get("uuid")
    if uuid is not None:
        uuid = _text(uuid, field=f"{field_prefix}uuid", max_length=UUID_MAX_LENGTH)
        if not uuid:
            raise IngestError(f"{field_prefix}uuid: must not be empty.")

    return IncomingEvent(
        event=name,
        feature=feature,
        is_system=is_reserved_name(name),
        properties_json=properties_json,
        license_key=license_key,
        domain=domain,
        occurred_at=_occurred_at(raw.get("timestamp"), now=now, field=f"{field_prefix}timestamp"),
        uuid=uuid,
    )


def batch_parse(data: dict, *, now: datetime, fallback_domain: str) -> list[IncomingEvent]:
    """All events of a batch, or IngestError naming the first bad one: all or nothing."""
    raw_events = data.get("events")
    if raw_events is None:
        raise IngestError("events: required.")
    if not isinstance(raw_events, list):
        raise IngestError("events: must be a list of event objects.")
    if not 1 <= len(raw_events) <= MAX_BATCH_EVENTS:
        raise IngestError(f"events: must hold 1 to {MAX_BATCH_EVENTS} events, not {len(raw_events)}.")
    parsed = []
    for index, raw in enumerate(raw_events):
        prefix = f"events[{index}]."
        if not isinstance(raw, dict):
            raise IngestError(f"events[{index}]: must be a JSON object.")
        parsed.append(event_parse(raw, now=now, fallback_domain=fallback_domain, field_prefix=prefix))
    return parsed


def _text(value, *, field: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise IngestError(f"{field}: must be a string.")
    if len(value) > max_length:
        raise IngestError(f"{field}: at most {max_length} characters.")
    if _UNSTORABLE_TEXT.search(value):
        raise IngestError(f"{field}: must not contain control characters.")
    return value


def _name(value, *, field: str) -> str:
    """An event name or feature: plain text, without the invisible characters that make two names look alike."""
    value = _text(value, field=field, max_length=EVENT_NAME_MAX_LENGTH)
    if _has_format_characters(value):
        raise IngestError(f"{field}: must not contain invisible formatting characters (such as U+200B or U+202E).")
    return value


def _has_format_characters(value: str) -> bool:
    return not value.isascii() and any(unicodedata.category(ch) == "Cf" for ch in value)


def is_reserved_name(name: str) -> bool:
    """Whether a name is a system event's, compared as the reader sees it.

    NFKC folds compatibility forms (fullwidth ``ｌ``, the fullwidth full stop
    ``．``) to the plain letters they display as, and casefold the letter case,
    so that "ｐｒｏｄｕｃｔ．installed" or "Product.Installed" cannot sneak into Feature Usage.
    Surrounding whitespace (any Unicode space: U+00A0, U+3000, ...) is stripped
    first, as the console's display does; format characters are refused before this.
    """
    name = name.strip()
    if name.isascii():
        return name.lower().startswith(RESERVED_PREFIXES)
    return unicodedata.normalize("NFKC", name).casefold().startswith(RESERVED_PREFIXES)


def _properties_json(properties: dict, *, field: str) -> str:
    try:
        text = json.dumps(properties, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        size = len(text.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        # allow_nan=False refuses 1e999 (parsed as infinity); encode() refuses lone surrogates.
        raise IngestError(f"{field}: holds a value that cannot be stored (infinite number or broken text).") from None
    if size > MAX_PROPERTIES_BYTES:
        raise IngestError(f"{field}: at most {MAX_PROPERTIES_BYTES} bytes once serialized, not {size}.")
    if "\\u0000" in text and _JSON_NUL.search(text):
        raise IngestError(f"{field}: must not contain NUL characters.")
    return text


def _occurred_at(value, *, now: datetime, field: str) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str) or len(value) > 64:
        raise IngestError(f"{field}: must be an ISO 8601 string such as 2026-05-01T12:00:00Z.")
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # no offset given: read as UTC, like the SDKs' toISOString()
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise IngestError(f"{field}: must be an ISO 8601 string such as 2026-05-01T12:00:00Z.") from None
    if moment > now + FUTURE_TOLERANCE:
        # A client clock running ahead: the time we received it is the better guess.
        return now
    if moment < now - MAX_EVENT_AGE:
        raise IngestError(f"{field}: older than {MAX_EVENT_AGE.days} days.")
    return moment


# ---------------------------------------------------------------- sites


def site_normalize(value: str) -> str:
    """``https://Shop.Example.com.:8443/cart`` → ``shop.example.com``; '' when it is no host name at all.

    A host name is an IP address or IDNA-valid labels (``javascript:alert(1)``
    parses as host ``javascript`` with port ``alert(1)``, and ``-1`` as host
    ``-1``: neither is a site).
    """
    if len(value) <= DOMAIN_MAX_LENGTH and _PLAIN_HOST.fullmatch(value) and _ascii_host_valid(value):
        return value  # already a bare host name: the common case, without parsing a URL
    text = value.strip().lower()
    if "//" not in text:
        text = "//" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        return ""
    host = host.rstrip(".")
    if not host or len(host) > DOMAIN_MAX_LENGTH:
        return ""
    return _host_checked(host)


def _host_checked(host: str) -> str:
    """The host in its canonical form, or '' when it is no IP address or IDNA-valid host name."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if host.isascii():
        return host if _ascii_host_valid(host) else ""
    try:
        canonical = idna.decode(idna.encode(host, uts46=True))
    except (idna.IDNAError, UnicodeError, ValueError):
        return ""
    return canonical if len(canonical) <= DOMAIN_MAX_LENGTH else ""


def _ascii_host_valid(host: str) -> bool:
    labels = host.split(".")
    if len(host) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        return False
    # An all-numeric last label is no top-level domain (RFC 3696): "1" or "10.0.0.300" are not hosts.
    if labels[-1].isdigit():
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
    if "xn--" in host:  # an A-label must decode to a valid international label
        try:
            idna.decode(host)
        except (idna.IDNAError, UnicodeError, ValueError):
            return False
    return True


# A site's browsers send the same Origin on every call: parsing it (urlsplit, host checks) was
# about a twentieth of a single event's CPU (profiled). A pure function of two strings; bounded.
@functools.lru_cache(maxsize=4096)
def fallback_domain_from_headers(origin: str | None, referer: str | None) -> str:
    """The site of a browser call that did not name one: Origin's host, else Referer's, else none."""
    for header in (origin, referer):
        if header and header != "null":
            domain = site_normalize(header)
            if domain:
                return domain
    return ""


# ---------------------------------------------------------------- products


_product_ids: ProcessCache[int | None] = ProcessCache("product ids", seconds=lambda: settings.PRODUCT_CACHE_SECONDS)


def product_id_for_public_key(public_key: str, *, before_lookup: Callable[[], None] = lambda: None) -> int | None:
    """The product id of a public key, cached in this process for a short while.

    Unknown keys are cached too, so that repeating a bogus key costs no queries;
    ``before_lookup`` runs only when the database would be asked (a key this
    process has not seen lately) and may raise to refuse instead: made-up keys,
    each new, are throttled there. A key created a moment ago cannot have been
    cached as unknown: keys are random.
    """
    if len(public_key) > PUBLIC_KEY_MAX_LENGTH or not public_id_shaped(public_key, prefix="pk"):
        return None  # no lookup for what cannot be a key (a NUL would be a database error, not a miss)

    def load() -> int | None:
        if not _product_ids.seen(public_key):  # a key this process served before is never refused unseen
            before_lookup()
        return Product.objects.filter(public_key=public_key).values_list("id", flat=True).first()

    return _product_ids.get_or_load(public_key, load)


def product_id_if_cached(public_key: str) -> int | None:
    """The product id of a key this process holds unexpired, with no lookup; None otherwise (unknown or not held).

    The capture server answers from here in its event loop and takes everything
    else (a lookup, an unknown key and its throttling) to a thread.
    """
    return _product_ids.fresh(public_key)


def product_deleted(product_id: int) -> IngestError:
    """A product deleted while its public key sat in the cache: forget it, and answer as for an unknown key."""
    _product_ids.forget_where(lambda cached_id: cached_id == product_id)
    return IngestError("public_key: unknown public key.", code="invalid_public_key", status=401)


# ---------------------------------------------------------------- the insert


# The JSON fields of one stored event, beside the product and the license the insert adds.
_JSON_FIELDS = {
    "event": "text",
    "feature": "text",
    "is_system": "boolean",
    "properties": "jsonb",
    "license_key": "text",
    "domain": "text",
    "occurred_at": "timestamptz",
    "received_at": "timestamptz",
    "uuid": "text",
}


def _insert_sql(vendor: str) -> str:
    return events_sql.insert_events_sql(vendor, json_fields=_JSON_FIELDS)


_SQL: dict[str, str] = {}


def events_store(*, product_id: int, events: list[IncomingEvent], received_at: datetime) -> int:
    """Insert the events in one statement; returns how many rows were new.

    A retried ``uuid`` is a no-op even when two copies race: the primary key of
    ``EventUuid``, written by the same statement, decides, not a read before the write.
    """
    if not events:
        return 0
    return _rows_store(product_id, _rows_json(events, received_at, seen_uuids=set()))


def events_store_received(
    groups: list[tuple[int, list[tuple[IncomingEvent, datetime]]]], *, notify: bool = True
) -> int:
    """Insert events of several requests, each with its own received time, in one transaction.

    ``groups`` holds (product id, [(event, received_at), ...]); each product is one
    statement of :func:`events_store`'s shape, so dedupe by uuid and licenses are
    the same. One product (the common case) is one round trip; several run inside
    one ``atomic`` block. The group commit of single events (``events.group_commit``)
    calls this with ``notify=False`` and sends ``events_ingested`` itself once the
    waiting requests are released: a consumer run inline (Celery eager, no broker)
    must not hold up a whole batch.
    """
    groups = [(product_id, items) for product_id, items in groups if items]
    if len(groups) == 1:
        product_id, items = groups[0]
        return _rows_store(product_id, received_rows_json(items), notify=notify)
    stored = 0
    with transaction.atomic():
        # Products in id order: the shared barrier locks of concurrent batches are taken in one order.
        for product_id, items in sorted(groups, key=lambda group: group[0]):
            stored += _rows_store(product_id, received_rows_json(items), notify=notify)
    return stored


def received_rows_json(items: list[tuple[IncomingEvent, datetime]]) -> list[str]:
    """The ``rows`` of :func:`store_statement` for events of several requests; a repeated uuid once."""
    rows: list[str] = []
    seen_uuids: set[str] = set()
    for item, received_at in items:
        rows += _rows_json([item], received_at, seen_uuids=seen_uuids)
    return rows


def _rows_json(events: list[IncomingEvent], received_at: datetime, *, seen_uuids: set[str]) -> list[str]:
    """The JSON objects of the insert's ``rows`` array; a uuid already in ``seen_uuids`` is skipped."""
    sqlite = connection.vendor == "sqlite"
    adapt = connection.ops.adapt_datetimefield_value
    received = adapt(received_at) if sqlite else received_at.isoformat()
    rows: list[str] = []
    dumps = json.dumps
    for item in events:
        if item.uuid is not None:
            if item.uuid in seen_uuids:
                continue
            seen_uuids.add(item.uuid)
        if item.occurred_at is received_at:
            occurred = received
        else:
            occurred = adapt(item.occurred_at) if sqlite else item.occurred_at.isoformat()
        rest = dumps(
            {
                "event": item.event,
                "feature": item.feature,
                "is_system": item.is_system,
                "license_key": item.license_key,
                "domain": item.domain,
                "occurred_at": occurred,
                "received_at": received,
                "uuid": item.uuid,
            },
            ensure_ascii=False,
        )
        # The properties are already JSON text (measured for the size limit): splice, do not re-encode.
        rows.append('{"properties":' + item.properties_json + "," + rest[1:])
    return rows


def store_statement(vendor: str) -> str:
    """The insert as :func:`events_store` runs it; on PostgreSQL behind the product's shared write barrier.

    Named parameters ``owner`` and ``rows`` (:func:`store_params`). Inside a
    transaction as is; alone, wrap it in :func:`own_transaction`. The capture
    server (``events.capture``) runs the same text on its own connection.
    """
    if vendor not in _SQL:
        sql = _insert_sql(vendor)
        if vendor == "postgresql":
            # The id is drawn and committed while the product's write barrier is held (shared):
            # a consumer that passes the barrier exclusively sees every lower id committed.
            sql = core_sql.after_shared_xact_lock(sql, lock_class=WRITE_BARRIER_LOCK, object_param="%(owner)s")
        _SQL[vendor] = sql
    return _SQL[vendor]


def own_transaction(statements: str) -> str:
    """PostgreSQL: ``statements`` as one transaction in one round trip, with INGEST_SYNCHRONOUS_COMMIT's commit."""
    if settings.INGEST_SYNCHRONOUS_COMMIT:
        return core_sql.in_own_transaction(statements)
    return core_sql.without_synchronous_commit(statements)


def store_params(product_id: int, rows: list[str]) -> dict:
    return {"owner": product_id, "rows": "[" + ",".join(rows) + "]"}


def _rows_store(product_id: int, rows: list[str], *, notify: bool = True) -> int:
    vendor = connection.vendor
    params = store_params(product_id, rows)
    # CONN_HEALTH_CHECKS would ping a reused connection with SELECT 1 before this
    # statement, doubling the round trips of the hottest path. Skip the ping and,
    # if the connection turns out dead, retry once on a fresh one instead.
    retry = connection.connection is not None and not connection.in_atomic_block
    if retry:
        connection.health_check_done = True
    sql = store_statement(vendor)
    if vendor == "postgresql" and not connection.in_atomic_block:
        # The barrier is held until COMMIT, so the statements run as one transaction, in one round trip.
        sql = own_transaction(sql)
    try:
        try:
            stored = _execute(sql, params)
        except (OperationalError, InterfaceError):
            if not retry:
                raise  # the middleware answers 503 with Retry-After
            connection.close()
            stored = _execute(sql, params)
    except IntegrityError:
        # Only the product foreign key can fail here: the product was deleted
        # while its key sat in the cache.
        raise product_deleted(product_id) from None
    if stored and notify:
        # Consumers (the Feature Usage fold) may catch up; they debounce, this costs a cache add.
        transaction.on_commit(lambda: events_ingested.send(sender=Event, count=stored))
    return stored


def _execute(sql: str, params: dict) -> int:
    with connection.cursor() as cursor:
        try:
            cursor.execute(sql, params)
        except Exception:
            if sql.startswith("BEGIN"):
                connection.close()  # do not hand the next request a session left inside a failed transaction
            raise
        if connection.vendor == "postgresql":
            # After the barrier (and in BEGIN … COMMIT), the INSERT is one of several results.
            while not (cursor.statusmessage or "").startswith("INSERT") and cursor.nextset():
                pass
        return cursor.rowcount


def now_utc() -> datetime:
    return timezone.now()
