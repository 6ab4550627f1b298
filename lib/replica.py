"""Read-only answers from a streaming replica, when one is configured and fresh enough.

Why not a router that decides by itself: a Django router sees a model, never the
request, so it cannot tell a dashboard read (fine on a replica) from the read a
view does right after its own write (a just-created product, a PATCH's answer),
which must see that write. So the choice is explicit: everything runs on the
primary, and a read-only entry point opts in with ``on_replica(compute)``. Inside
it the router sends every ORM read to the replica (raw SQL follows, since it
opens ``connections[queryset.db]``); writes always go to the primary.

The replica serves the answer only if it is at most ``REPLICA_MAX_LAG_SECONDS``
behind, measured per answer: caught up when its replay position has reached
the primary's current WAL position, otherwise ``now - last replayed commit``.
A replica that is down, lagging, fails mid-answer, or lacks a row the request
already saw on the primary (not replayed yet) leaves the answer to the primary,
so a reader never sees an error for it. ``ReadSource.name`` says where the
answer came from (the ``PackEdge-Read-Source`` header of the answers).

``ReadSource.counted_through`` is the answer's freshness (``countedThrough``,
docs/freshness.md): a time such that every write acknowledged before it is in
the snapshot the answer reads. On the primary, the clock just before the
answer's snapshot opens (a commit acknowledged earlier is visible to any
snapshot taken later). On a replica, read before its snapshot opens (replay
only moves forward): if it had replayed the primary's WAL up to the insert
position the primary reported, the time just before that position was asked;
otherwise ``pg_last_xact_replay_timestamp()``, the commit time of the last
transaction it replayed: a commit acknowledged before that time inserted its
commit record before that transaction's (whose timestamp is taken before its
record is inserted), so it was replayed too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.utils import timezone

REPLICA_ALIAS = "replica"
READ_SOURCE_HEADER = "PackEdge-Read-Source"
_read_alias: ContextVar[str | None] = ContextVar("packedge_read_alias", default=None)
_turn = itertools.count()  # which replica starts the next answer's choice (per process)
T = TypeVar("T")


@dataclass(frozen=True)
class ReadSource:
    name: str  # "replica" or "primary"
    alias: str
    lag_seconds: float | None  # None: no replica configured, or it could not be asked
    reason: str  # "replica", "no_replica", "replica_lagging", "replica_down", "replica_behind_request"
    # Every write acknowledged before this is in the answer (None until the answer is computed).
    counted_through: datetime | None = None


class ReplicaRouter:
    """Reads inside ``on_replica`` go to the replica; everything else to the primary; only the primary migrates."""

    def db_for_read(self, model, **hints):
        return _read_alias.get()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def current_read_alias() -> str:
    """The alias the statements of this answer read from."""
    return _read_alias.get() or DEFAULT_DB_ALIAS


def replica_aliases() -> list[str]:
    """The replicas' aliases (``replica``, ``replica_2``, …), when ``settings.READ_REPLICA`` is on.

    DATABASE_REPLICA_URL (one) or DATABASE_REPLICA_URLS (a list) set both settings. The list is
    ``settings.READ_REPLICA_ALIASES`` (``replica`` alone when it is empty), never every alias of
    ``DATABASES`` that looks like one: an alias alone enables nothing.
    """
    if not getattr(settings, "READ_REPLICA", False):
        return []
    return list(getattr(settings, "READ_REPLICA_ALIASES", None) or [REPLICA_ALIAS])


def replica_configured() -> bool:
    return bool(replica_aliases())


def replica_lag_seconds(alias: str = REPLICA_ALIAS) -> float:
    """How far the replica is behind the primary now, in seconds (0 when it has replayed all the primary wrote)."""
    return replica_position(alias)[0]


def replica_position(alias: str = REPLICA_ALIAS) -> tuple[float, datetime]:
    """(lag in seconds, counted through) of the replica now; see the module's docstring for the second.

    Raises ``DatabaseError`` when either cannot be asked. A replica database that is
    not in recovery (a test mirror of the primary, SQLite) is the primary's data: 0.
    """
    asked = timezone.now()
    replica = connections[alias]
    if replica.vendor != "postgresql":
        return 0.0, asked
    with replica.cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        if not cursor.fetchone()[0]:
            return 0.0, asked
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        # The insert position, not the write position: with synchronous_commit=off a commit is
        # acknowledged before its WAL is written, and it must count as not replayed yet.
        cursor.execute("SELECT pg_current_wal_insert_lsn()::text")
        primary_lsn = cursor.fetchone()[0]
    with replica.cursor() as cursor:
        cursor.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn,"
            " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), pg_last_xact_replay_timestamp()",
            [primary_lsn],
        )
        caught_up, behind, replayed = cursor.fetchone()
    if caught_up:
        return 0.0, asked
    if behind is None:
        return float("inf"), asked
    return max(0.0, float(behind)), replayed


def choose_read_source() -> ReadSource:
    """A replica that is reachable and at most ``REPLICA_MAX_LAG_SECONDS`` behind; else primary.

    With several, each answer starts with the next one in turn (per process) and
    takes the first that qualifies: the reads spread evenly, and one replica down
    or behind sends its share to the others, not to the primary.
    """
    aliases = replica_aliases()
    if not aliases:
        return ReadSource("primary", DEFAULT_DB_ALIAS, None, "no_replica")
    start = next(_turn) % len(aliases)
    refused = ReadSource("primary", DEFAULT_DB_ALIAS, None, "replica_down")
    for alias in aliases[start:] + aliases[:start]:
        try:
            lag, through = replica_position(alias)
        except DatabaseError:
            _discard(alias)
            refused = ReadSource("primary", DEFAULT_DB_ALIAS, None, "replica_down")
            continue
        if lag > settings.REPLICA_MAX_LAG_SECONDS:
            refused = ReadSource("primary", DEFAULT_DB_ALIAS, lag, "replica_lagging")
            continue
        return ReadSource("replica", alias, lag, "replica", counted_through=through)
    return refused


def on_replica(compute: Callable[[], T]) -> tuple[T, ReadSource]:
    """``compute()`` with its reads on the replica when it may serve them, else on the primary.

    ``compute`` must only read (the router would send a write to the primary, outside
    the replica's snapshot). Its own snapshot handling (``read_snapshot``) opens on
    ``current_read_alias()``, so counters and tail come from one replica snapshot.
    """
    source = choose_read_source()
    if source.name == "replica":
        token = _read_alias.set(source.alias)
        try:
            with replica_snapshot(source.alias):
                return compute(), source
        except ObjectDoesNotExist:
            # A row this request saw on the primary is not replayed yet: its answer belongs to the primary.
            source = ReadSource("primary", DEFAULT_DB_ALIAS, source.lag_seconds, "replica_behind_request")
        except DatabaseError:
            # Down mid-answer, or a hot-standby conflict cancelled the statement: the primary
            # answers instead (a real bug fails there too, and is raised from there).
            replica = connections[source.alias]
            if replica.connection is None or not replica.is_usable():
                _discard(source.alias)
            source = ReadSource("primary", DEFAULT_DB_ALIAS, None, "replica_down")
        finally:
            _read_alias.reset(token)
    return _on_primary(compute, source)


def _on_primary(compute: Callable[[], T], source: ReadSource) -> tuple[T, ReadSource]:
    # Taken before compute() opens its snapshot: what was acknowledged earlier is in it.
    through = timezone.now()
    return compute(), replace(source, counted_through=through)


def on_replica_stream(start: Callable[[], Iterator[T]]) -> tuple[Iterator[T], ReadSource]:
    """``on_replica`` for a streamed answer (a full CSV): ``start()`` returns the items' iterator.

    The first item is computed here, so whatever it checks (a 503 while recounting,
    a 400) is raised before the response starts, and a replica that fails then
    leaves the answer to the primary. The remaining items are read while the
    response streams, each step on the same alias and in the same snapshot.
    """
    source = choose_read_source()
    if source.name == "replica":
        stack = ExitStack()
        alias = source.alias
        token = _read_alias.set(alias)
        try:
            stack.enter_context(replica_snapshot(alias))
            items = start()
            first = next(items)
        except ObjectDoesNotExist:
            stack.close()
            source = ReadSource("primary", DEFAULT_DB_ALIAS, source.lag_seconds, "replica_behind_request")
        except DatabaseError:
            stack.close()
            replica = connections[alias]
            if replica.connection is None or not replica.is_usable():
                _discard(alias)
            source = ReadSource("primary", DEFAULT_DB_ALIAS, None, "replica_down")
        except BaseException:
            stack.close()
            raise
        else:
            return _continue_on(alias, first, items, stack), source
        finally:
            _read_alias.reset(token)
    through = timezone.now()
    items = start()
    first = next(items)
    return _continue_on(None, first, items, ExitStack()), replace(source, counted_through=through)


_END = object()


def _continue_on(alias: str | None, first: T, items: Iterator[T], stack: ExitStack) -> Iterator[T]:
    """The rest of a streamed answer, each step with reads on ``alias`` (None: the primary)."""
    try:
        yield first
        while True:
            token = _read_alias.set(alias) if alias is not None else None
            try:
                item = next(items, _END)
            finally:
                if token is not None:
                    _read_alias.reset(token)
            if item is _END:
                return
            yield item
    finally:
        token = _read_alias.set(alias) if alias is not None else None
        try:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        finally:
            if token is not None:
                _read_alias.reset(token)
            stack.close()


@contextmanager
def replica_snapshot(alias: str = REPLICA_ALIAS) -> Iterator[None]:
    """One REPEATABLE READ, read-only transaction on the replica: every statement of the answer sees one replay point."""
    replica = connections[alias]
    if replica.vendor != "postgresql":
        yield  # a SQLite mirror: the answer's own read_snapshot takes its deferred snapshot
        return
    with transaction.atomic(using=alias):
        with replica.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _discard(alias: str) -> None:
    """Close a broken connection, so the next request connects afresh instead of reusing it."""
    try:
        connections[alias].close()
    except DatabaseError:
        pass
