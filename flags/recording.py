"""Recording every evaluation, off the request path.

An evaluation appends one tuple to a per-process buffer (a lock and a list
append: microseconds); a background thread writes the buffer with one
batched INSERT (``executemany``) every ``FLAG_RECORDING_FLUSH_MS`` milliseconds, or sooner once
``FLAG_RECORDING_BATCH`` rows are waiting. A single-row INSERT per evaluation
costs a commit inside the request and, on a 2-core machine, more than the
evaluation itself; the buffer turns ~1,000 commits a second into ~4.

What this trades: rows still in the buffer when a worker is killed hard
(SIGKILL, OOM, power loss) are lost — at most one flush interval's worth. A
normal exit (gunicorn's graceful shutdown, a restart) flushes first. When the
database is unreachable rows are kept and retried, up to
``FLAG_RECORDING_MAX_BUFFER``; past that new rows are dropped and counted, so a
database outage never turns into unbounded memory or a failed evaluation.

``FLAG_RECORDING_MODE``: ``buffered`` (default), ``direct`` (one INSERT per
evaluation, only to compare in the benchmark) or ``manual`` (buffered, never
flushed on its own: tests call ``flush()``).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import UTC, datetime

from django.conf import settings
from django.db import DataError, IntegrityError, close_old_connections, connection, transaction

from flags import activity, pending
from flags.models import FLAG_KEY_MAX_LENGTH, WRITE_BARRIER_LOCK, FlagEvaluation
from lib import sql

logger = logging.getLogger(__name__)

# environment id, flag id, value, reason, time, variant, targeting key, license key
Row = tuple[int, int, "str | None", int, datetime, "str | None", str, str]
# environment id, undefined flag key, time
UnknownRow = tuple[int, str, datetime]

INSERT_SQL = sql.insert_values_sql(
    FlagEvaluation,
    ("environment", "flag", "value", "reason", "evaluated_at", "day", "variant", "targeting_key", "license_key"),
)
# What one bad row raises (the parsers refuse such text first; this is the last line):
# anything else (a connection refused, a lock timeout, a missing table mid-deploy) is
# an outage, and the whole batch is kept for the next flush.
ROW_ERRORS = (DataError, IntegrityError, UnicodeError, OverflowError, ValueError, TypeError)
# Longer keys are cut: they are matched against license keys of at most this length.
CONTEXT_KEY_MAX_LENGTH = 200


def _setting(name: str, default):
    # Read at construction (override_settings in a test applies to a new Recorder); the
    # values and their defaults are in packedge/settings.py.
    return type(default)(getattr(settings, name, default))


class Recorder:
    def __init__(self) -> None:
        self.mode = _setting("FLAG_RECORDING_MODE", "buffered")
        self.flush_seconds = _setting("FLAG_RECORDING_FLUSH_MS", 250) / 1000
        self.batch = _setting("FLAG_RECORDING_BATCH", 2000)
        self.max_buffer = _setting("FLAG_RECORDING_MAX_BUFFER", 200_000)
        self.dropped = 0
        # rows the database refused one by one (see flush): dropped, logged and counted
        self.rejected = 0
        self._rows: list[Row] = []
        self._unknown: list[UnknownRow] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False
        # The evaluation time of the oldest row held and not committed yet, and its history (pending.py).
        self._pending_since: datetime | None = None
        self._published: datetime | None = None
        self._published_pid = os.getpid()
        self._publish_lock = threading.Lock()
        self.history = pending.PendingHistory()

    def record(
        self,
        *,
        environment_id: int,
        flag_id: int,
        value: str | None,
        reason: int,
        at: datetime,
        variant: str | None = None,
        targeting_key: str = "",
        license_key: str = "",
    ) -> None:
        """Never raises and never waits for the database (except in ``direct`` mode)."""
        try:
            row = (
                environment_id,
                flag_id,
                value,
                reason,
                at,
                variant,
                targeting_key[:CONTEXT_KEY_MAX_LENGTH],
                license_key[:CONTEXT_KEY_MAX_LENGTH],
            )
            if self.mode == "direct":
                self._write([row], [])
                return
            with self._lock:
                if len(self._rows) + len(self._unknown) >= self.max_buffer:
                    self.dropped += 1
                    return
                self._rows.append(row)
                waiting = len(self._rows)
                publish = self._hold(at)
            if publish:
                self._publish()  # before the evaluation is answered: see pending.py
            if self.mode == "buffered":
                self._ensure_thread()
                if waiting >= self.batch:
                    self._wakeup.set()
        except Exception:
            logger.exception("could not record a flag evaluation")

    def record_unknown(self, *, environment_id: int, key: str, at: datetime) -> None:
        """An evaluation of a key the environment does not define (FLAG_NOT_FOUND); never raises."""
        try:
            row = (environment_id, key[:FLAG_KEY_MAX_LENGTH], at)
            if self.mode == "direct":
                self._write([], [row])
                return
            with self._lock:
                if len(self._rows) + len(self._unknown) >= self.max_buffer:
                    self.dropped += 1
                    return
                self._unknown.append(row)
                publish = self._hold(at)
            if publish:
                self._publish()
            if self.mode == "buffered":
                self._ensure_thread()
        except Exception:
            logger.exception("could not record an unknown flag")

    def _hold(self, at: datetime) -> bool:
        """Under ``_lock``: a row of time ``at`` is held; whether the pending since must be published."""
        if self._pending_since is None or at < self._pending_since:
            self._pending_since = at
        return self._pending_since != self._published or self._published_pid != os.getpid()

    def _settle(self) -> None:
        """After a write (or a discard): the pending since is the oldest row still held."""
        with self._lock:
            times = [row[4] for row in self._rows] + [row[2] for row in self._unknown]
            self._pending_since = min(times, default=None)
        self._publish()

    def _publish(self) -> None:
        """Note the current pending since in the history; serialized, so the last note is the latest state."""
        with self._publish_lock:
            with self._lock:
                since = self._pending_since
            if since == self._published and self._published_pid == os.getpid():
                return
            try:
                self.history.note(since)
            except Exception:
                # Left unpublished: the next change or the flush loop retries it.
                logger.exception("could not publish the flag recorder's pending evaluations")
                return
            self._published, self._published_pid = since, os.getpid()

    def pending_since(self) -> datetime | None:
        with self._lock:
            return self._pending_since

    def pending(self) -> int:
        with self._lock:
            return len(self._rows) + len(self._unknown)

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
                unknown, self._unknown = self._unknown, []
            if not rows and not unknown:
                return 0
            items = [(True, row) for row in rows] + [(False, row) for row in unknown]
            try:
                return self._flush_items(items)
            finally:
                self._settle()

    def _flush_items(self, items: list[tuple[bool, tuple]]) -> int:
        try:
            self._write_items(items)
        except ROW_ERRORS:
            # A row the database refuses (text it cannot encode, a number out of range):
            # written apart, the batch's other rows are still recorded.
            logger.warning("a batch of %d flag evaluations was refused; writing it in parts", len(items))
            written, kept = self._write_apart(items)
        except Exception:
            logger.exception("could not write %d flag evaluations; keeping them for the next flush", len(items))
            written, kept = 0, items
        else:
            return len(items)
        if kept:
            self._keep(kept)
        return written

    def _write_items(self, items: list[tuple[bool, tuple]]) -> None:
        self._write([row for is_row, row in items if is_row], [row for is_row, row in items if not is_row])

    def _write_apart(self, items: list[tuple[bool, tuple]]) -> tuple[int, list]:
        """(rows written, rows to keep) of a batch that failed as a whole with a row error.

        Halves are written apart until each bad row is alone, and only that one is
        dropped: k bad rows in n cost about k·log2(n) writes, not n. An outage
        meanwhile keeps whatever is not yet written, as for any failed flush.
        """
        if len(items) == 1:
            self.rejected += 1
            logger.error("dropped a flag evaluation the database refuses: %r", items[0][1])
            return 0, []
        written, kept = 0, []
        middle = len(items) // 2
        for part in (items[:middle], items[middle:]):
            if kept:
                kept.extend(part)
                continue
            try:
                self._write_items(part)
            except ROW_ERRORS:
                part_written, part_kept = self._write_apart(part)
                written += part_written
                kept.extend(part_kept)
            except Exception:
                logger.exception("could not write %d flag evaluations; keeping them for the next flush", len(part))
                kept.extend(part)
            else:
                written += len(part)
        return written, kept

    def _keep(self, items: list[tuple[bool, tuple]]) -> None:
        rows = [row for is_row, row in items if is_row]
        unknown = [row for is_row, row in items if not is_row]
        with self._lock:
            room = max(0, self.max_buffer - len(self._rows) - len(self._unknown))
            kept = rows[:room]
            kept_unknown = unknown[: max(0, room - len(kept))]
            self.dropped += len(rows) + len(unknown) - len(kept) - len(kept_unknown)
            self._rows[:0] = kept
            self._unknown[:0] = kept_unknown

    def discard(self) -> None:
        with self._lock:
            self._rows = []
            self._unknown = []
        self._settle()

    def _write(self, rows: list[Row], unknown: list[UnknownRow]) -> None:
        # One executemany of plain tuples, not bulk_create: building a model
        # instance per row holds the GIL for milliseconds every flush, and the
        # request threads of the same worker wait on it (the p99 of P8).
        ops = connection.ops
        params = []
        # The live counters are summed here, in the same transaction as the raw rows:
        # a flush counts in both or in neither.
        totals: activity.ActivityTotals = {}
        for environment_id, flag_id, value, reason, at, variant, targeting_key, license_key in rows:
            day = at.astimezone(UTC).date()
            params.append(
                (
                    environment_id,
                    flag_id,
                    value,
                    int(reason),
                    ops.adapt_datetimefield_value(at),
                    ops.adapt_datefield_value(day),
                    variant,
                    targeting_key,
                    license_key,
                )
            )
            activity.add(totals, (environment_id, flag_id, day, variant or ""), 1, at)
        unknown_totals: activity.UnknownTotals = {}
        for environment_id, key, at in unknown:
            activity.add(unknown_totals, (environment_id, at.astimezone(UTC).date(), key), 1, at)
        with transaction.atomic():
            if params:
                with connection.cursor() as cursor:
                    if connection.vendor == "postgresql":
                        # The fold's write barrier (flags/fold.py): its watermark never passes these ids
                        # before they commit. One statement per flush, not per evaluation.
                        cursor.execute(sql.shared_xact_lock_sql(), [WRITE_BARRIER_LOCK, 0])
                    cursor.executemany(INSERT_SQL, params)
            activity.activity_add(totals)
            activity.unknown_add(unknown_totals)

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            if self._pid != pid:
                atexit.register(self.flush)
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="flag-recorder", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flush and end the background thread (tests; a process exit flushes through atexit)."""
        self._stopping = True
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush()

    def _run(self) -> None:
        while not self._stopping:
            self._wakeup.wait(self.flush_seconds)
            self._wakeup.clear()
            try:
                close_old_connections()
                # Only the buffered mode flushes in the background: a thread started while it was on
                # must not write what a "manual" recorder holds for its own flush (tests).
                if self.mode == "buffered":
                    self.flush()
                if self.pending_since() is not None:
                    self.history.heartbeat()
                self._publish()  # retries a note that failed
            except Exception:
                logger.exception("flag recorder loop")
        close_old_connections()


recorder = Recorder()


def record(
    *,
    environment_id: int,
    flag_id: int,
    value: str | None,
    reason: int,
    at: datetime,
    variant: str | None = None,
    targeting_key: str = "",
    license_key: str = "",
) -> None:
    recorder.record(
        environment_id=environment_id,
        flag_id=flag_id,
        value=value,
        reason=reason,
        at=at,
        variant=variant,
        targeting_key=targeting_key,
        license_key=license_key,
    )


def record_unknown(*, environment_id: int, key: str, at: datetime) -> None:
    recorder.record_unknown(environment_id=environment_id, key=key, at=at)


def flush() -> int:
    return recorder.flush()


def counted_through(snapshot_through: datetime) -> datetime | None:
    """``countedThrough`` of a flag answer read from a snapshot holding every write acknowledged before ``snapshot_through``.

    Evaluations are answered before they are written: the answer is complete up to
    the oldest evaluation some process still held unwritten at that moment
    (pending.py), or up to the moment itself. None when the histories cannot be
    read (Redis down): the answer then claims nothing.
    """
    try:
        since = pending.pending_since_at(recorder.history, snapshot_through)
    except Exception:
        logger.exception("could not read the flag recorders' pending evaluations")
        return None
    if since == pending.UNKNOWN:
        return None
    return snapshot_through if since is None or since >= snapshot_through else since
