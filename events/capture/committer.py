"""Group commit in the capture server's event loop: the requests that arrive while a batch commits form the next.

One :class:`LoopCommitter` per process, one PostgreSQL connection (psycopg's
``AsyncConnection``), one batch in the database at a time. No timer: the first
request finds the committer idle and starts a batch; every request that arrives
while that batch is in the database joins the next one, so batches grow with the
load by themselves, as the WAL writer's flushes do. The statement is the one
``events.ingestion`` runs (``store_statement``: the product's shared write
barrier, the insert with its dedupe by uuid), one per product, all in one
transaction and one round trip (``BEGIN; …; COMMIT``).

Outcomes, as ``events.group_commit``'s:

* a request is answered only after the transaction holding its event committed;
* the database unreachable or read-only: every waiter of the batch gets the error
  (the application answers 503 ``database_unavailable``), none is stored;
* any other failure: the batch is retried event by event, each in its own
  transaction, so each request gets the answer it would have got alone (a product
  deleted while its key was cached: 401 for its events, the others stored).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

import psycopg
from django.conf import settings
from django.db import utils as django_db

from events import ingestion
from events.ingestion import IncomingEvent
from lib.middleware import READ_ONLY_SQLSTATE

# psycopg's classes as Django's own cursor wrapper maps them (django.db.utils.DatabaseErrorWrapper):
# the application answers a mapped error exactly as the Django path answers it.
_DJANGO_ERRORS = (
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "DatabaseError",
    "InterfaceError",
    "Error",
)


class _Waiter:
    __slots__ = ("product_id", "event", "received_at", "future")

    def __init__(self, product_id: int, event: IncomingEvent, received_at: datetime, future: asyncio.Future):
        self.product_id, self.event, self.received_at, self.future = product_id, event, received_at, future


class _Lane:
    """One connection of the committer and the batch it is committing, if any."""

    __slots__ = ("connection", "used", "draining")

    def __init__(self) -> None:
        self.connection: psycopg.AsyncConnection | None = None
        self.used = False  # whether the connection has carried a statement (a dead reused one is retried once)
        self.draining: asyncio.Task | None = None


class LoopCommitter:
    """Stores single events for the requests of one event loop; ``connect`` opens its connections.

    ``lanes``: batches in the database at a time, each on its own connection. With
    one, a request arriving while a batch commits waits for that COMMIT and then its
    own; with two it starts the next batch at once on the other connection, and
    waits for one COMMIT only (the WAL flushes of both are shared by PostgreSQL).
    ``on_stored(count)`` runs in the loop after each batch that stored rows (the
    application debounces the Feature Usage signal there).
    """

    def __init__(
        self,
        *,
        connect: Callable[[], Awaitable[psycopg.AsyncConnection]],
        on_stored: Callable[[int], None] = lambda count: None,
        lanes: int = 1,
    ) -> None:
        self._connect = connect
        self._on_stored = on_stored
        self._waiting: list[_Waiter] = []
        self._lanes = [_Lane() for _ in range(max(1, lanes))]
        # The requests in the system when the last batch committed (its own and those waiting), and when:
        # under load the answered ones come back within a round trip, and the next batch waits for them.
        self._expected = 0
        self._done_at = float("-inf")
        self._joined: asyncio.Future | None = None
        self.batches = 0  # statistics for the tests and the bench: batches and events committed
        self.events = 0

    @staticmethod
    def max_events() -> int:
        # GROUP_COMMIT_WAIT_MS=0 turns group commit off here too: one event per transaction.
        return 1 if settings.GROUP_COMMIT_WAIT_MS <= 0 else max(1, settings.GROUP_COMMIT_MAX_EVENTS)

    async def store(self, *, product_id: int, event: IncomingEvent, received_at: datetime) -> None:
        """Return once ``event`` is committed with its batch, or raise that batch's (or its own) error."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(product_id, event, received_at, future))
        if self._joined is not None and not self._joined.done():
            self._joined.set_result(None)
        for lane in self._lanes:
            if lane.draining is None:
                lane.draining = asyncio.get_running_loop().create_task(self._drain(lane))
                break
        await future

    async def _drain(self, lane: _Lane) -> None:
        try:
            # One turn of the loop first: the requests read in the same turn as this one join it.
            await asyncio.sleep(0)
            while self._waiting:
                limit = self.max_events()
                await self._gather(limit)
                batch, self._waiting = self._waiting[:limit], self._waiting[limit:]
                try:
                    outcomes, stored = await self._commit(lane, batch)
                except BaseException:  # cancelled (the server stopping): nobody of the batch may hang
                    self._waiting[:0] = batch
                    raise
                for waiter, outcome in zip(batch, outcomes, strict=True):
                    if waiter.future.done():  # its request was cancelled (the client went away)
                        continue
                    if outcome is None:
                        waiter.future.set_result(None)
                    else:
                        waiter.future.set_exception(outcome)
                self._expected, self._done_at = len(batch) + len(self._waiting), asyncio.get_running_loop().time()
                if stored:
                    self.batches += 1
                    self.events += stored
                    self._on_stored(stored)
        finally:
            lane.draining = None
            if not any(other.draining for other in self._lanes):
                for waiter in self._waiting:  # only when leaving early: their answer is unknown, so 503
                    if not waiter.future.done():
                        waiter.future.set_exception(django_db.OperationalError("the capture server is stopping"))
                self._waiting = []

    async def _gather(self, limit: int) -> None:
        """Under load, wait (at most GROUP_COMMIT_WAIT_MS after the last COMMIT) for the requests it answered.

        Without this the batches settle at half the clients each: while one commits the
        others form the next, and the answered clients, back a round trip later, find it
        gone and wait for two COMMITs. A lone client waits for nobody (it was the whole last
        batch), nor does a request after an idle spell (the deadline has passed).
        """
        loop = asyncio.get_running_loop()
        expected = min(limit, self._expected)
        deadline = self._done_at + settings.GROUP_COMMIT_WAIT_MS / 1000
        while len(self._waiting) < expected:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._joined = loop.create_future()
            try:
                await asyncio.wait_for(self._joined, remaining)
            except TimeoutError:
                return
            finally:
                self._joined = None

    async def _commit(self, lane: _Lane, batch: list[_Waiter]) -> tuple[list[BaseException | None], int]:
        """One transaction for the batch; on a failure other than the database's, each event alone."""
        try:
            return [None] * len(batch), await self._execute(lane, batch)
        except Exception as error:
            mapped = as_django_error(error)
            if unavailable(mapped) or len(batch) == 1:
                return [_alone(mapped, batch[0].product_id)] * len(batch), 0
        outcomes: list[BaseException | None] = []
        stored = 0
        for waiter in batch:
            try:
                stored += await self._execute(lane, [waiter])
                outcomes.append(None)
            except Exception as error:
                mapped = as_django_error(error)
                outcomes.append(_alone(mapped, waiter.product_id))
        return outcomes, stored

    async def _execute(self, lane: _Lane, batch: list[_Waiter]) -> int:
        """Run the batch's statements as one transaction; rows stored. Retries once on a dead reused connection."""
        reused = lane.connection is not None and lane.used
        try:
            return await self._run(lane, batch)
        except (psycopg.OperationalError, psycopg.InterfaceError):
            await _close(lane)
            if not reused:
                raise
            return await self._run(lane, batch)  # the connection had died idle (a restart, a timeout): once more
        except Exception:
            # A failed statement leaves the session inside an aborted transaction: start afresh.
            await _close(lane)
            raise

    async def _run(self, lane: _Lane, batch: list[_Waiter]) -> int:
        if lane.connection is None or lane.connection.closed:
            lane.connection = await self._connect()
            lane.used = False
        groups: dict[int, list[tuple[IncomingEvent, datetime]]] = {}
        for waiter in batch:
            groups.setdefault(waiter.product_id, []).append((waiter.event, waiter.received_at))
        cursor = lane.connection.cursor()
        statement = ingestion.store_statement("postgresql")
        # Products in id order: the shared barrier locks of concurrent batches are taken in one order.
        bound = [
            cursor.mogrify(statement, ingestion.store_params(product_id, ingestion.received_rows_json(items)))
            for product_id, items in sorted(groups.items())
        ]
        await cursor.execute(ingestion.own_transaction("; ".join(bound)))
        lane.used = True
        stored = 0
        while True:
            # After the barrier (and in BEGIN … COMMIT), each INSERT is one of several results.
            if (cursor.statusmessage or "").startswith("INSERT"):
                stored += cursor.rowcount
            if not cursor.nextset():
                return stored

    async def close(self) -> None:
        for lane in self._lanes:
            await _close(lane)


async def _close(lane: _Lane) -> None:
    connection, lane.connection = lane.connection, None
    if connection is not None:
        try:
            await connection.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail too; it is gone either way
            pass


def as_django_error(error: Exception) -> Exception:
    """A psycopg error as Django's cursor wrapper raises it (``__cause__`` the original); anything else unchanged."""
    if not isinstance(error, psycopg.Error):
        return error
    for name in _DJANGO_ERRORS:
        if isinstance(error, getattr(psycopg, name)):
            mapped = getattr(django_db, name)(*error.args)
            mapped.__cause__ = error
            return mapped
    return error


def unavailable(error: Exception) -> bool:
    """The database unreachable or read-only (SQLSTATE 25006): every event of a batch would fail alike."""
    if isinstance(error, (django_db.OperationalError, django_db.InterfaceError)):
        return True
    return (
        isinstance(error, django_db.DatabaseError) and getattr(error.__cause__, "sqlstate", None) == READ_ONLY_SQLSTATE
    )


def _alone(error: Exception, product_id: int) -> Exception:
    """What one event's request answers for ``error``: the product foreign key failing is an unknown key (401)."""
    if isinstance(error, django_db.IntegrityError):
        return ingestion.product_deleted(product_id)
    return error
