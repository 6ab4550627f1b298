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
from django.db import close_old_connections, connection, transaction

from core import sql
from flags.models import FlagEvaluation

logger = logging.getLogger(__name__)

Row = tuple[int, int, "str | None", int, datetime]

INSERT_SQL = sql.insert_values_sql(FlagEvaluation, ("environment", "flag", "value", "reason", "evaluated_at", "day"))


def _setting(name: str, default):
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return type(default)(value)


class Recorder:
    def __init__(self) -> None:
        self.mode = _setting("FLAG_RECORDING_MODE", "buffered")
        self.flush_seconds = _setting("FLAG_RECORDING_FLUSH_MS", 250) / 1000
        self.batch = _setting("FLAG_RECORDING_BATCH", 2000)
        self.max_buffer = _setting("FLAG_RECORDING_MAX_BUFFER", 200_000)
        self.dropped = 0
        self._rows: list[Row] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def record(self, *, environment_id: int, flag_id: int, value: str | None, reason: int, at: datetime) -> None:
        """Never raises and never waits for the database (except in ``direct`` mode)."""
        try:
            row = (environment_id, flag_id, value, reason, at)
            if self.mode == "direct":
                self._write([row])
                return
            with self._lock:
                if len(self._rows) >= self.max_buffer:
                    self.dropped += 1
                    return
                self._rows.append(row)
                waiting = len(self._rows)
            if self.mode == "buffered":
                self._ensure_thread()
                if waiting >= self.batch:
                    self._wakeup.set()
        except Exception:
            logger.exception("could not record a flag evaluation")

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            try:
                self._write(rows)
            except Exception:
                logger.exception("could not write %d flag evaluations; keeping them for the next flush", len(rows))
                with self._lock:
                    room = max(0, self.max_buffer - len(self._rows))
                    self.dropped += max(0, len(rows) - room)
                    self._rows[:0] = rows[:room]
                return 0
            return len(rows)

    def discard(self) -> None:
        with self._lock:
            self._rows = []

    def _write(self, rows: list[Row]) -> None:
        # One executemany of plain tuples, not bulk_create: building a model
        # instance per row holds the GIL for milliseconds every flush, and the
        # request threads of the same worker wait on it (the p99 of P8).
        ops = connection.ops
        params = [
            (
                environment_id,
                flag_id,
                value,
                int(reason),
                ops.adapt_datetimefield_value(at),
                ops.adapt_datefield_value(at.astimezone(UTC).date()),
            )
            for environment_id, flag_id, value, reason, at in rows
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(INSERT_SQL, params)

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
                self.flush()
            except Exception:
                logger.exception("flag recorder loop")
        close_old_connections()


recorder = Recorder()


def record(*, environment_id: int, flag_id: int, value: str | None, reason: int, at: datetime) -> None:
    recorder.record(environment_id=environment_id, flag_id=flag_id, value=value, reason=reason, at=at)


def flush() -> int:
    return recorder.flush()
