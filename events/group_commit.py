"""Group commit of single events: concurrent requests of one process share one INSERT and one COMMIT.

Each ``POST /public/v1/event`` used to be one transaction, and on PostgreSQL
every COMMIT waits for its WAL flush: P4 was bound by ``LWLock:WALWrite``, not
by CPU. Here the first request to arrive becomes the *leader* of a batch: it
waits at most ``GROUP_COMMIT_WAIT_MS`` (or until ``GROUP_COMMIT_MAX_EVENTS``
events have joined), closes the batch, writes every event in it with
:func:`events.ingestion.events_store_received` (the batch endpoint's insert:
same dedupe by uuid, same license join, same write barrier) in one
transaction, and wakes every request of the batch. It is PostgreSQL's own
``commit_delay`` or Kafka's ``linger.ms``, applied in the app.

Guarantees:

* A request is answered 200 only after the transaction holding its event has
  committed. A process killed at any point loses only unacknowledged events;
  a client that retries them with the same uuid stores each at most once.
* When the batch's transaction fails, no event of it is stored. A failure of
  the database itself (``OperationalError``/``InterfaceError``: unreachable,
  read-only) is every waiter's answer (503 with Retry-After, as before).
  Any other failure is retried event by event, each in its own transaction,
  so one poison event (or a product deleted while its key sat in the cache)
  cannot fail its neighbours: each request gets the answer it would have got
  alone.

The leader need not wait the whole time: it goes once every single-event
request in flight in its process has joined (the view is decorated with
:func:`counted`), so a lone request at low load commits at once.

The leader runs the SQL on its own thread's connection: no extra thread,
nothing to restart after a fork. Inside an open transaction (a test's
``atomic``, say) other threads could not see what it holds, so the caller
falls back to the plain path there (see :func:`enabled`).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection

from events import ingestion
from events.ingestion import IncomingEvent
from events.models import Event
from events.signals import events_ingested
from lib.middleware import READ_ONLY_SQLSTATE


class _Batch:
    __slots__ = ("items", "outcomes", "done")

    def __init__(self) -> None:
        self.items: list[tuple[int, IncomingEvent, datetime]] = []
        self.outcomes: list[BaseException | None] = []
        self.done = threading.Event()


class GroupCommitter:
    """One per process (:data:`committer`); tests build their own with other limits.

    The leader does not always wait the whole ``wait_seconds``: it goes as soon
    as every single-event request in flight in this process (counted by
    :meth:`counted`, minus those already in a batch being committed) has
    joined. A lone request at low load thus commits at once, and a busy
    process sends batches as large as its threads allow.
    """

    def __init__(self, *, wait_seconds: float | None = None, max_events: int | None = None) -> None:
        # None: the settings, read at each batch (so override_settings applies).
        self._wait_seconds = wait_seconds
        self._max_events = max_events
        self._changed = threading.Condition(threading.Lock())
        self._open: _Batch | None = None
        self._in_flight = 0  # single-event requests between arrival and answer (see counted)
        self._committing = 0  # events of closed batches not yet answered

    @property
    def wait_seconds(self) -> float:
        return settings.GROUP_COMMIT_WAIT_MS / 1000 if self._wait_seconds is None else self._wait_seconds

    @property
    def max_events(self) -> int:
        return max(1, settings.GROUP_COMMIT_MAX_EVENTS if self._max_events is None else self._max_events)

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Around a whole single-event request: lets a leader know who may still join."""
        with self._changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def store(self, *, product_id: int, event: IncomingEvent, received_at: datetime) -> None:
        """Return once ``event`` is committed (with its batch), or raise what storing it raised."""
        with self._changed:
            batch = self._open
            leader = batch is None
            if leader:
                batch = self._open = _Batch()
            index = len(batch.items)
            batch.items.append((product_id, event, received_at))
            if leader:
                # One batch of this process in the database at a time: while it commits, the next
                # one gathers everyone arriving (as PostgreSQL's WAL writer does with flushes).
                # Batches committing side by side would each be small, and stay small.
                while self._committing:
                    self._changed.wait()
                deadline = time.monotonic() + self.wait_seconds
                while not self._full(batch):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                self._open = None
                self._committing += len(batch.items)
            else:
                self._changed.notify_all()
        if leader:
            stored = 0
            try:
                batch.outcomes, stored = _commit(batch.items)
            except BaseException as error:  # noqa: BLE001 - every waiter must wake, whatever happened
                batch.outcomes = [error] * len(batch.items)
            finally:
                with self._changed:
                    self._committing -= len(batch.items)
                    self._changed.notify_all()
                batch.done.set()
            if stored:
                # After the waiters and the next batch are released: a consumer may run inline here.
                events_ingested.send(sender=Event, count=stored)
        else:
            batch.done.wait()
        outcome = batch.outcomes[index]
        if outcome is not None:
            raise outcome

    def _full(self, batch: _Batch) -> bool:
        joined = len(batch.items)
        # Uncounted callers (tests calling store directly) leave in_flight at 0: only the limits apply.
        expected = self._in_flight - self._committing
        return joined >= self.max_events or (self._in_flight > 0 and joined >= expected)


def _commit(items: list[tuple[int, IncomingEvent, datetime]]) -> tuple[list[BaseException | None], int]:
    """Store the batch in one transaction; on failure, each event alone. One outcome per item, and rows stored."""
    try:
        return [None] * len(items), ingestion.events_store_received(_by_product(items), notify=False)
    except (OperationalError, InterfaceError) as error:
        return [error] * len(items), 0  # the database is down: one at a time would not help
    except Exception as error:
        if len(items) == 1 or _read_only(error):
            return [error] * len(items), 0
    outcomes: list[BaseException | None] = []
    stored = 0
    for product_id, event, received_at in items:
        try:
            stored += ingestion.events_store_received([(product_id, [(event, received_at)])], notify=False)
            outcomes.append(None)
        except Exception as error:
            outcomes.append(error)
    return outcomes, stored


def _read_only(error: Exception) -> bool:
    """A standby or a failover in progress (SQLSTATE 25006): every event would fail alike."""
    return isinstance(error, DatabaseError) and getattr(error.__cause__, "sqlstate", None) == READ_ONLY_SQLSTATE


def _by_product(items: list[tuple[int, IncomingEvent, datetime]]) -> list[tuple[int, list]]:
    groups: dict[int, list] = {}
    for product_id, event, received_at in items:
        groups.setdefault(product_id, []).append((event, received_at))
    return list(groups.items())


committer = GroupCommitter()


def enabled() -> bool:
    """Whether single events go through the group commit: PostgreSQL, a wait above 0, no open transaction."""
    return settings.GROUP_COMMIT_WAIT_MS > 0 and connection.vendor == "postgresql" and not connection.in_atomic_block


def counted(view):
    """Decorates the single-event view: its requests are counted in flight for the leaders (see GroupCommitter)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with committer.counted():
            return view(request, *args, **kwargs)

    return wrapper


def event_store(*, product_id: int, event: IncomingEvent, received_at: datetime) -> None:
    """Store one event of ``POST /public/v1/event``: through the group commit where it applies, else alone."""
    if enabled():
        committer.store(product_id=product_id, event=event, received_at=received_at)
    else:
        ingestion.events_store(product_id=product_id, events=[event], received_at=received_at)
