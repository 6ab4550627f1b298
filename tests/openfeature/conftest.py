"""The stock OpenFeature clients against a live server: run by .ci/steps/45-openfeature.sh.

They install npm packages and start gunicorn, so they run only when asked
(``OPENFEATURE_TESTS=1``), never as part of ``make test``.
"""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import browser  # noqa: F401 -- the web test's Chromium

RUN = bool(os.environ.get("OPENFEATURE_TESTS"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "/openfeature/" in str(item.fspath):
            item.add_marker(pytest.mark.openfeature)
            if not RUN:
                item.add_marker(pytest.mark.skip(reason="OPENFEATURE_TESTS=1 pytest tests/openfeature (CI stage 45)"))
