"""A small product whose every Feature Usage figure is worked out by hand in the tests.

America/New_York, window 2026-03-01 … 2026-03-09 (9 days, daylight saving
starts on Sunday 2026-03-08 at 02:00 EST = 07:00 UTC); prior window
2026-02-20 … 2026-02-28.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.models import License
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shop(org):
    product = ProductFactory(organization=org, name="SEO Booster", timezone="America/New_York")
    lic = {
        # active, no expiry
        "L1": LicenseFactory(product=product, public_id="lic_1", customer_email="one@example.com"),
        # active, expires after the window's first day began: still active
        "L2": LicenseFactory(
            product=product, public_id="lic_2", customer_email="two@example.com", expires_at=utc("2026-03-05T00:00:00")
        ),
        "L3": LicenseFactory(
            product=product, public_id="lic_3", customer_email="three@example.com", status=License.Status.EXPIRED
        ),
        # status active, but expired before the window: not active
        "L4": LicenseFactory(
            product=product, public_id="lic_0", customer_email="four@example.com", expires_at=utc("2026-02-27T00:00:00")
        ),
        "L5": LicenseFactory(
            product=product, public_id="lic_5", customer_email="five@example.com", status=License.Status.REVOKED
        ),
        # active, never sends anything
        "L6": LicenseFactory(product=product, public_id="lic_6", customer_email="six@example.com"),
    }

    def event(name, at, license=None, domain="", feature=None, **extra):
        return EventFactory(
            product=product,
            event=name,
            feature=feature or name,
            license=lic.get(license),
            license_key=lic[license].key if license else extra.pop("license_key", ""),
            domain=domain,
            occurred_at=utc(at),
            **extra,
        )

    event("export_pdf", "2026-03-01T05:00:00", "L1", "a.com")  # Sun 03-01 00:00 local
    event("export_pdf", "2026-03-01T04:59:00", "L2", "b.com")  # Sat 02-28 23:59 local: prior window
    event("export_pdf", "2026-03-02T15:00:00", None, "a.com", license_key="NOPE")  # Mon 10:00, unknown key
    event(
        "feature_used", "2026-03-08T06:30:00", "L1", "", feature="bulk_edit", properties={"feature": "bulk_edit"}
    )  # Sun 01:30 EST
    event(
        "feature_used", "2026-03-08T07:30:00", "L4", "c.com", feature="bulk_edit", properties={"feature": "bulk_edit"}
    )  # Sun 03:30 EDT
    event("dashboard_view", "2026-03-09T03:30:00", "L1", "c.com")  # Sun 03-08 23:30 EDT
    event("dashboard_view", "2026-03-09T04:30:00", "L2", "a.com")  # Mon 03-09 00:30 EDT
    event("license.activated", "2026-03-03T12:00:00", "L1", "a.com", is_system=True)  # never counted
    event("old_wizard", "2026-02-25T12:00:00", "L5", "d.com")  # prior window only
    event("legacy_import", "2026-02-21T12:00:00", "L1", "")  # prior window only
    event("legacy_import", "2026-02-22T12:00:00", "L1", "")
    event("dark_mode", "2026-03-04T17:00:00", "L3", "a.com")  # Wed 12:00
    event("export_pdf", "2026-03-10T12:00:00", "L1", "a.com")  # after the window
    event("export_pdf", "2026-02-19T12:00:00", "L1", "a.com")  # before the prior window
    product.lic = lic
    return product
