"""Fixtures shared by the events tests."""

from __future__ import annotations

import pytest

from tests.events.factories import ProductFactory


@pytest.fixture
def product(org):
    return ProductFactory(organization=org)
