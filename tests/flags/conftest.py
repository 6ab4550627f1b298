from __future__ import annotations

import pytest

from flags import recording


@pytest.fixture(autouse=True)
def manual_recording():
    """Evaluations stay in the buffer until a test flushes it: no background thread in tests."""
    mode = recording.recorder.mode
    recording.recorder.mode = "manual"
    recording.recorder.discard()
    yield recording.recorder
    recording.recorder.discard()
    recording.recorder.mode = mode
