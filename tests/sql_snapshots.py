"""The SQL render snapshots shared by tests/{analytics,events,flags}/test_sql_rendering.py.

Each app's test renders its module's statements; these two helpers compare one with its file
(written afresh under ``SQL_SNAPSHOTS_WRITE=1``) and list the builders a module defines.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from types import ModuleType


def assert_renders_as_snapshot(snapshot: Path, rendered: str) -> None:
    rendered = rendered.strip() + "\n"
    if os.environ.get("SQL_SNAPSHOTS_WRITE"):
        snapshot.write_text(rendered)
    assert snapshot.exists(), f"no snapshot {snapshot.name}: run with SQL_SNAPSHOTS_WRITE=1 and review it"
    assert rendered == snapshot.read_text(), f"{snapshot.name} changed: run with SQL_SNAPSHOTS_WRITE=1, review the diff"


def builders_of(module: ModuleType) -> set[str]:
    """The public ``*_sql`` functions the module itself defines (not those it imports)."""
    return {
        name
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if name.endswith("_sql") and not name.startswith("_") and function.__module__ == module.__name__
    }
