"""Demo products, licenses and 60 days of events shaped like real usage.

Feature popularity is skewed (a few features carry most events), each license
runs on one or two domains and some licenses are far busier than others,
traffic follows the working week and the working day in the product's time
zone, a few features went quiet in the last 30 days, every license sent a
``product.installed`` event, and some events carry keys no license has.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from events import services
from events.ingestion import GENERIC_FEATURE_EVENT, RESERVED_PREFIXES, IncomingEvent, events_store
from events.models import License
from tenancy.demo import DemoContext

DAYS = 60
QUIET_AFTER_DAYS = 30
BULK_SIZE = 1000  # events per INSERT, the batch endpoint's limit
# (name, time zone, licenses, events on an ordinary weekday, features by popularity, features that went quiet)
DEMO_PRODUCTS = [
    (
        "SEO Booster Pro",
        "America/New_York",
        180,
        320,
        [
            "seo_audit",
            "export_pdf",
            "keyword_tracker",
            "sitemap_generate",
            "schema_markup",
            "bulk_edit",
            "redirect_manager",
            "image_alt_fix",
            "internal_links",
            "broken_link_scan",
            "ai_meta_writer",
            "local_seo",
            "robots_editor",
            "social_preview",
        ],
        ["legacy_import", "xml_feed_v1"],
    ),
    (
        "Invoice Desk",
        "Europe/Berlin",
        60,
        110,
        [
            "create_invoice",
            "export_pdf",
            "send_reminder",
            "recurring_invoice",
            "expense_scan",
            "multi_currency",
            "client_portal",
            "tax_report",
        ],
        ["csv_import_v1"],
    ),
]
# Sunday … Saturday, and hours 0–23 of the product's local day.
WEEKDAY_WEIGHTS = [0.35, 1.0, 1.1, 1.1, 1.05, 0.85, 0.4]
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 4, 7, 11, 14, 15, 15, 13, 14, 15, 14, 12, 9, 7, 5, 4, 3, 2, 1]
ANONYMOUS_SHARE = 0.08
UNKNOWN_KEY_SHARE = 0.03
GENERIC_EVENT_SHARE = 0.3


def seed(context: DemoContext) -> None:
    rng = context.rng
    plans = []
    for name, zone, license_count, daily, features, quiet in DEMO_PRODUCTS:
        product = services.product_create(organization=context.organization, name=name, timezone=zone)
        licenses = []
        for number in range(license_count):
            status = rng.choices(
                [License.Status.ACTIVE, License.Status.EXPIRED, License.Status.REVOKED], weights=[85, 10, 5]
            )[0]
            expires_at = context.now + timedelta(days=rng.randint(30, 365)) if rng.random() < 0.5 else None
            if status == License.Status.EXPIRED:
                # An expired license ran out: its expiry is in the past (drawn independently of the
                # status, the demo once showed "Expired" beside a date a year ahead).
                expires_at = context.now - timedelta(days=rng.randint(1, 60))
            licenses.append(
                services.license_create(
                    product=product,
                    customer_email=f"customer{number + 1}@{name.split()[0].lower()}-client{number % 40 + 1}.example",
                    status=status,
                    expires_at=expires_at,
                )
            )
        plans.append((product, ZoneInfo(zone), licenses, daily, features, quiet))
        context.summary.append(f"Product {name} ({product.public_id}): public key {product.public_key}")

    total = sum(int(daily * DAYS * sum(WEEKDAY_WEIGHTS) / 7) + len(licenses) for _, _, licenses, daily, _, _ in plans)
    progress = _Progress("Events", total) if context.progress else None
    stored = 0
    for product, zone, licenses, daily, features, quiet in plans:
        stored += _seed_events(context, product, zone, licenses, daily, features, quiet, progress)
    if progress:
        progress.finish()
    context.summary.append(f"Events: {stored:,} over the last {DAYS} days")


def _seed_events(context, product, zone, licenses, daily, features, quiet, progress) -> int:
    rng = context.rng
    # Each license runs on one or two sites (production, sometimes staging) and is busier or quieter than others.
    sites = {}
    for license in licenses:
        host = f"{license.customer_email.split('@')[1].replace('.example', '')}-{license.pk}.example.com"
        sites[license.pk] = [host] if rng.random() < 0.7 else [host, f"staging.{host}"]
    activity = [rng.paretovariate(1.3) for _ in licenses]
    feature_weights = [1 / (rank + 1) ** 1.1 for rank in range(len(features))]
    quiet_weights = [0.25 / (rank + 1) for rank in range(len(quiet))]
    local_now = context.now.astimezone(zone)
    batch: list[IncomingEvent] = []
    stored = 0

    def flush():
        nonlocal stored
        # The ingestion insert itself: one multi-row statement, licenses matched by key.
        stored += events_store(product_id=product.pk, events=batch, received_at=context.now)
        if progress:
            progress.advance(len(batch))
        batch.clear()

    for license in licenses:
        # At most DAYS × 24 h ago: the first of the DAYS local days began after that, never before.
        installed = context.now - timedelta(days=rng.uniform(0, DAYS - 1), hours=rng.uniform(0, 24))
        env = {"php": rng.choice(["8.1", "8.2", "8.3"]), "wp": rng.choice(["6.6", "6.7", "6.8"])}
        batch.append(_event("product.installed", {"env": env}, license.key, sites[license.pk][0], installed))

    for days_ago in range(DAYS, 0, -1):
        day = (local_now - timedelta(days=days_ago)).date()
        weekday = (day.weekday() + 1) % 7  # Python: Monday = 0; the heatmap: Sunday = 0
        growth = 0.85 + 0.3 * (DAYS - days_ago) / DAYS
        count = int(daily * WEEKDAY_WEIGHTS[weekday] * growth * rng.uniform(0.85, 1.15))
        names = features + quiet if days_ago > QUIET_AFTER_DAYS else features
        weights = feature_weights + quiet_weights if days_ago > QUIET_AFTER_DAYS else feature_weights
        picked_features = rng.choices(names, weights=weights, k=count)
        picked_licenses = rng.choices(licenses, weights=activity, k=count)
        hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
        for feature, license, hour in zip(picked_features, picked_licenses, hours, strict=True):
            local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=zone)
            occurred = local.astimezone(context.now.tzinfo)
            if occurred > context.now:
                continue
            roll = rng.random()
            if roll < ANONYMOUS_SHARE:
                license, key = None, ""
            elif roll < ANONYMOUS_SHARE + UNKNOWN_KEY_SHARE:
                license, key = None, f"UNKNOWN-{rng.randrange(40):04d}"
            else:
                key = license.key
            domain = rng.choice(sites[license.pk]) if license else f"trial-{rng.randrange(25)}.example.net"
            if rng.random() < GENERIC_EVENT_SHARE:
                name, properties = GENERIC_FEATURE_EVENT, {"feature": feature}
            else:
                name, properties = feature, {}
            batch.append(_event(name, properties, key, domain, occurred))
            if len(batch) >= BULK_SIZE:
                flush()
    flush()
    return stored


def _event(name: str, properties: dict, key: str, domain: str, occurred: datetime) -> IncomingEvent:
    feature = properties.get("feature") if name == GENERIC_FEATURE_EVENT else name
    return IncomingEvent(
        event=name,
        feature=feature,
        is_system=name.lower().startswith(RESERVED_PREFIXES),
        properties_json=json.dumps(properties, separators=(",", ":")),
        license_key=key,
        domain=domain,
        occurred_at=occurred,
        uuid=None,
    )


class _Progress:
    """A one-line progress bar on stderr, so the printed summary stays clean."""

    WIDTH = 40

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, max(total, 1), 0
        self._draw()

    def advance(self, count: int) -> None:
        self.done += count
        self._draw()

    def finish(self) -> None:
        self.done = max(self.done, self.total)
        self._draw()
        sys.stderr.write("\n")
        sys.stderr.flush()

    def _draw(self) -> None:
        share = min(self.done / self.total, 1.0)
        filled = int(share * self.WIDTH)
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {share:4.0%} {self.done:,}")
        sys.stderr.flush()
