"""One fold of a backlog of unfolded events on SQLite (issue 18 item 6): python bench/sqlite_fold.py [events].

Creates a fresh SQLite database in /tmp, generates the events (60 days, 200 licenses,
40 features, 100 domains, New York time, seed 42), folds them once with counters_fold and
prints the time; then folds 1% more on top (a short tail over existing counters), then
times a rebuild of everything (counters_rebuild). ``FOLD_BENCH_DATABASE_URL`` runs the
same on another database instead (an empty PostgreSQL database of your own, migrated here).
make bench measures PostgreSQL's fold (P10); this is the SQLite figure of docs/fold.md.
"""

import os
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

DB = Path("/tmp/h4/sqlite_fold.sqlite3")
for suffix in ("", "-wal", "-shm"):
    Path(f"{DB}{suffix}").unlink(missing_ok=True)
os.environ["DATABASE_URL"] = os.environ.get("FOLD_BENCH_DATABASE_URL") or f"sqlite:///{DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "packedge.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", verbosity=0)

from django.db import connection  # noqa: E402

from analytics.counters import counters_fold, counters_rebuild  # noqa: E402
from events.models import Event, License, Product  # noqa: E402
from tests.events.factories import LicenseFactory, ProductFactory  # noqa: E402


def generate(product, licenses, size, rng, start):
    rows = []
    for _ in range(size):
        feature = f"feature_{rng.randrange(40)}"
        rows.append(
            Event(
                product=product,
                event=rng.choice(("feature_used", feature)),
                feature=feature,
                license=rng.choice(licenses) if rng.random() < 0.8 else None,
                domain=f"site{rng.randrange(100)}.example" if rng.random() < 0.7 else "",
                occurred_at=start + timedelta(seconds=rng.randrange(60 * 86400)),
            )
        )
    Event.objects.bulk_create(rows, batch_size=2000)


size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
rng = random.Random(42)
product = ProductFactory(timezone="America/New_York")
licenses = LicenseFactory.create_batch(200, product=product, status=License.Status.ACTIVE)
start = datetime(2026, 1, 5, tzinfo=UTC)
generate(product, licenses, size, rng, start)
product = Product.objects.get(pk=product.pk)
started = time.perf_counter()
folded = counters_fold(product=product)
first = time.perf_counter() - started
print(
    f"{connection.vendor} (SQLite {sqlite3.sqlite_version}): fold of {folded:,} events {first:.2f} s ({folded / first:,.0f} ev/s); "
    f"load {os.getloadavg()[0]:.2f}",
    flush=True,
)
generate(product, licenses, size // 100, rng, start)
started = time.perf_counter()
tail = counters_fold(product=product)
second = time.perf_counter() - started
print(f"then a tail of {tail:,} events over those counters: {second:.2f} s; load {os.getloadavg()[0]:.2f}")
started = time.perf_counter()
counters_rebuild(product=product)
print(f"rebuild of {folded + tail:,} events: {time.perf_counter() - started:.2f} s; load {os.getloadavg()[0]:.2f}")
