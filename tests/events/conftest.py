"""Fixtures shared by the events tests."""

from __future__ import annotations

import pytest

from events import ingestion
from tests.events.factories import ProductFactory


@pytest.fixture(autouse=True)
def fresh_product_cache():
    """Ingestion caches products by public key per process; ids are reused between tests on SQLite."""
    ingestion.product_cache_clear()
    yield
    ingestion.product_cache_clear()


@pytest.fixture
def product(org):
    return ProductFactory(organization=org)
