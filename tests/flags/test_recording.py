from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from flags import recording
from flags.models import FlagEvaluation, Reason
from flags.recording import Recorder
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(org):
    project = ProjectFactory(organization=org)
    environment = environment_with_key(project)[0]
    return environment.pk, boolean_flag(project).pk


def test_rows_wait_in_the_buffer_until_flushed_with_their_utc_day(ids):
    environment_id, flag_id = ids
    new_york = timezone(timedelta(hours=-5))
    recording.record(
        environment_id=environment_id,
        flag_id=flag_id,
        value="true",
        reason=Reason.SPLIT,
        at=datetime(2026, 11, 1, 23, 30, tzinfo=new_york),
    )
    assert FlagEvaluation.objects.count() == 0
    assert recording.recorder.pending() == 1
    assert recording.flush() == 1
    row = FlagEvaluation.objects.get()
    assert (row.day, row.value, row.reason) == (date(2026, 11, 2), "true", Reason.SPLIT)
    assert row.evaluated_at == datetime(2026, 11, 2, 4, 30, tzinfo=UTC)
    assert recording.flush() == 0


def test_a_failed_write_keeps_the_rows_and_never_raises(ids, monkeypatch):
    environment_id, flag_id = ids
    recorder = Recorder()
    recorder.mode = "manual"

    def broken(rows, unknown):
        raise RuntimeError("database gone")

    monkeypatch.setattr(recorder, "_write", broken)
    recorder.record(
        environment_id=environment_id, flag_id=flag_id, value="x", reason=Reason.DEFAULT, at=datetime.now(UTC)
    )
    assert recorder.flush() == 0
    assert recorder.pending() == 1
    monkeypatch.undo()
    assert recorder.flush() == 1
    assert FlagEvaluation.objects.count() == 1


def test_a_full_buffer_drops_and_counts_instead_of_growing(ids):
    environment_id, flag_id = ids
    recorder = Recorder()
    recorder.mode, recorder.max_buffer = "manual", 3
    for _ in range(5):
        recorder.record(
            environment_id=environment_id, flag_id=flag_id, value="x", reason=Reason.DEFAULT, at=datetime.now(UTC)
        )
    assert (recorder.pending(), recorder.dropped) == (3, 2)


def test_recording_a_bad_row_never_raises(ids):
    recorder = Recorder()
    recorder.mode = "direct"
    recorder.record(environment_id=None, flag_id=None, value="x", reason=Reason.DEFAULT, at="not a time")
    assert FlagEvaluation.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_flushes_on_its_own(org):
    project = ProjectFactory(organization=org)
    environment = environment_with_key(project)[0]
    flag = boolean_flag(project)
    recorder = Recorder()
    recorder.mode, recorder.flush_seconds = "buffered", 0.05
    for _ in range(10):
        recorder.record(
            environment_id=environment.pk, flag_id=flag.pk, value="true", reason=Reason.DEFAULT, at=datetime.now(UTC)
        )
    deadline = time.monotonic() + 5
    # Only the thread empties the buffer here; the database is read once it is done,
    # since SQLite's shared in-memory test database refuses a read during a write.
    while recorder.pending() and time.monotonic() < deadline:
        time.sleep(0.02)
    taken_by_thread = recorder.pending() == 0
    recorder.stop()
    assert taken_by_thread
    assert FlagEvaluation.objects.count() == 10
