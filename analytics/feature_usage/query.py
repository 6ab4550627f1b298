"""Feature Usage parameters: the window and filters of the API (README), validated once for the API and the console."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from events.models import (
    EVENT_NAME_MAX_LENGTH,
    License,
    Product,
)
from lib.errors import ApiError, NotFound
from lib.identifiers import public_id_shaped
from lib.text import has_control_characters
from lib.windows import days_ending
from tenancy.models import Organization

# The contract (docs/api/contract.md): `from` defaults to `to` − 30 days, i.e. the 31 days ending at `to`.
DEFAULT_WINDOW_DAYS = 31
MAX_WINDOW_DAYS = 366
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

# Far enough from date.min/max that the prior window and the block arithmetic never overflow.
EARLIEST_DATE, LATEST_DATE = date(1970, 1, 1), date(9000, 12, 31)
LICENSE_ID_MAX_LENGTH = 40


@dataclass(frozen=True)
class FeatureUsageQuery:
    product: Product
    date_from: date
    date_to: date
    event: str | None = None
    license: License | None = None

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def prior_from(self) -> date:
        return self.date_from - timedelta(days=self.days)


def feature_usage_allowed(organization: Organization) -> bool:
    return organization.plan.is_paid


def parse_feature_usage_query(
    *, product: Product, params: Mapping[str, str], today: date | None = None
) -> FeatureUsageQuery:
    """Validate the query parameters of the API (README); an empty parameter counts as absent."""
    if today is None:
        today = datetime.now(zoneinfo.ZoneInfo(product.timezone)).date()
    given_from = _parse_date(params, "from")
    date_to = _parse_date(params, "to") or today
    date_from = given_from or days_ending(date_to, days=DEFAULT_WINDOW_DAYS)[0]
    if date_from > date_to:
        raise ApiError(f"from: {date_from.isoformat()} is after to ({date_to.isoformat()}).", code="invalid_date_range")
    if (date_to - date_from).days + 1 > MAX_WINDOW_DAYS:
        raise ApiError(f"from: the window may span at most {MAX_WINDOW_DAYS} days.", code="invalid_date_range")
    event = (params.get("event") or "").strip() or None
    if event is not None and len(event) > EVENT_NAME_MAX_LENGTH:
        raise ApiError(f"event: at most {EVENT_NAME_MAX_LENGTH} characters.")
    if event is not None and has_control_characters(event):
        raise ApiError("event: must not contain control characters.")
    license = None
    license_id = (params.get("license_id") or "").strip()
    if license_id:
        # No lookup for what cannot be an id (PostgreSQL refuses NUL characters outright).
        plausible = len(license_id) <= LICENSE_ID_MAX_LENGTH and public_id_shaped(license_id, prefix="lic")
        license = License.objects.filter(product=product, public_id=license_id).first() if plausible else None
        if license is None:
            raise NotFound(f"license_id: no license '{license_id[:LICENSE_ID_MAX_LENGTH]}' for this product.")
    return FeatureUsageQuery(product=product, date_from=date_from, date_to=date_to, event=event, license=license)


def _parse_date(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not DATE_PATTERN.fullmatch(raw):
        raise ApiError(f"{name}: '{raw[:40]}' is not a date (YYYY-MM-DD).", code="invalid_date")
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        raise ApiError(f"{name}: '{raw}' is not a date (YYYY-MM-DD).", code="invalid_date") from None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ApiError(f"{name}: must be between {EARLIEST_DATE} and {LATEST_DATE}.", code="invalid_date")
    return value


def days_in_window(query: FeatureUsageQuery) -> list[date]:
    return [query.date_from + timedelta(days=offset) for offset in range(query.days)]


def in_window_counts(days: Mapping[date, int], query: FeatureUsageQuery) -> list[int]:
    return [days.get(day, 0) for day in days_in_window(query)]


def in_window(days: Mapping[date, int], query: FeatureUsageQuery) -> bool:
    return any(n for day, n in days.items() if query.date_from <= day <= query.date_to)
