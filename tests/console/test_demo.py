"""What `manage.py demo` leaves: a login and keys that work, 60 days of events that look like real usage,
counted before it returns, and a flags project with rolled-up evaluations.

One demo for the whole module (building it is the costly part: it was built by four test files)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from rest_framework.test import APIClient

from analytics.counters import unfolded_events
from analytics.models import CounterState
from events.models import Event, License, Product
from flags.models import FlagEvaluation, FlagUsageDay
from tests.tenancy.factories import ensure_plans

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo made once for this module's tests, which only read it: building it is the costly part
    (about 45 s each under CI's load, for five tests). It lives in a transaction rolled back when the
    module ends; each test's own transaction is a savepoint inside it, so no test sees another's writes
    and no other module sees the demo."""
    out = StringIO()
    with django_db_blocker.unblock(), transaction.atomic():
        ensure_plans()  # a transactional test of another module may have flushed them (tests/conftest.py)
        call_command("demo", "--no-progress", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def test_the_demo_fills_60_days_of_events_for_each_product(demo):
    now = timezone.now()
    assert "Events: " in demo
    for product in Product.objects.all():
        events = Event.objects.filter(product=product)
        assert events.count() > 2000
        # The first of the 60 local days began at local midnight: across a daylight-saving change
        # that is up to an hour more than 61 × 24 h before now (04:00 UTC in December, New York).
        local_today = now.astimezone(ZoneInfo(product.timezone)).date()
        first_day = datetime.combine(local_today - timedelta(days=60), time.min, tzinfo=ZoneInfo(product.timezone))
        assert events.filter(occurred_at__lt=first_day).count() == 0
        assert events.filter(occurred_at__gt=now).count() == 0
        assert events.filter(occurred_at__lt=now - timedelta(days=55)).exists()
        # The demo counts its events into the Feature Usage counters before it returns.
        assert not unfolded_events(product=product).exists()
    assert CounterState.objects.count() == 2


def test_every_license_sent_an_install_event_stored_as_system(demo):
    for product in Product.objects.all():
        installs = Event.objects.filter(product=product, event="product.installed")
        assert installs.count() == License.objects.filter(product=product).count()
        assert set(installs.values_list("is_system", flat=True)) == {True}
        assert Event.objects.filter(product=product, is_system=True).count() == installs.count()


def test_licenses_run_on_one_or_two_domains_and_unknown_keys_are_kept(demo):
    per_license = (
        Event.objects.filter(license__isnull=False).values("license").annotate(n=Count("domain", distinct=True))
    )
    assert {row["n"] for row in per_license} <= {1, 2}
    assert 2 in {row["n"] for row in per_license}
    unknown = Event.objects.filter(license__isnull=True).exclude(license_key="")
    assert unknown.exists()
    assert all(key.startswith("UNKNOWN-") for key in unknown.values_list("license_key", flat=True).distinct())


def test_popularity_is_skewed_and_some_features_went_quiet(demo):
    product = Product.objects.get(name="SEO Booster Pro")
    events = Event.objects.filter(product=product, is_system=False)
    counts = Counter(dict(events.values_list("feature").annotate(n=Count("id")).values_list("feature", "n")))
    ranked = [n for _, n in counts.most_common()]
    assert ranked[0] > 4 * ranked[9]
    cutoff = timezone.now() - timedelta(days=30)
    for quiet in ("legacy_import", "xml_feed_v1"):
        assert events.filter(feature=quiet, occurred_at__lt=cutoff - timedelta(days=1)).exists()
        assert not events.filter(feature=quiet, occurred_at__gte=cutoff).exists()
    # Generic feature_used events carry the feature in their properties.
    generic = events.filter(event="feature_used").first()
    assert generic.feature == generic.properties["feature"]


def test_traffic_follows_the_working_week_and_day(demo):
    product = Product.objects.get(name="Invoice Desk")
    zone = ZoneInfo(product.timezone)
    weekdays, hours = Counter(), Counter()
    for moment in Event.objects.filter(product=product, is_system=False).values_list("occurred_at", flat=True):
        local = moment.astimezone(zone)
        weekdays[local.weekday()] += 1
        hours[local.hour] += 1
    assert min(weekdays[d] for d in range(5)) > 1.5 * max(weekdays[5], weekdays[6])
    assert hours[14] > 5 * hours[3]


def _printed(demo: str, prefix: str) -> str:
    return next(line for line in demo.splitlines() if line.startswith(prefix)).split(": ", 1)[1]


def test_the_demo_prints_a_working_login_and_key(demo, client):
    username, password = _printed(demo, "Console login").split(" / ")
    assert client.login(username=username, password=password)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_printed(demo, 'API key')}")
    products = api.get("/v1/products").json()["data"]
    assert len(products) == 2
    assert all(p["publicKey"] in demo for p in products)


def test_the_demo_has_a_flags_project_with_rolled_up_evaluations_and_a_working_sdk_key(demo, manual_recording):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_printed(demo, 'API key')}")
    project = api.get("/v1/projects").json()["data"][0]
    environments = api.get(f"/v1/projects/{project['id']}/environments").json()["data"]
    assert [e["name"] for e in environments] == ["production", "staging"]
    flags = api.get(f"/v1/projects/{project['id']}/flags").json()["data"]
    assert {f["type"] for f in flags} == {"boolean", "string", "number", "object"}
    production = environments[0]["id"]
    usage = api.get(f"/v1/projects/{project['id']}/flags/new-checkout/usage?environmentId={production}").json()
    assert len(usage["rows"]) >= 25  # the default 30-day window, today not rolled up yet
    assert all(
        r["ruleMatchCount"] + r["defaultCount"] + r["errorCount"] == r["totalEvaluations"] for r in usage["rows"]
    )
    assert sum(FlagUsageDay.objects.values_list("total_evaluations", flat=True)) == FlagEvaluation.objects.count()
    # Linked to a product: exposure names licenses, and health is there for every flag
    assert project["productId"].startswith("prd_")
    exposure = api.get(f"/v1/projects/{project['id']}/flags/new-checkout/exposure?environmentId={production}").json()
    assert exposure["totals"]["licenses"] > 0 and exposure["licenses"]["data"]
    assert all(f["health"][production]["status"] in {"active", "stale"} for f in flags)
    sdk = APIClient()
    sdk.credentials(HTTP_AUTHORIZATION=f"Bearer {_printed(demo, 'Flags SDK key (Demo Shop, production')}")
    response = sdk.post(
        "/ofrep/v1/evaluate/flags/new-checkout", {"context": {"targetingKey": "u", "plan": "pro"}}, format="json"
    )
    assert response.json()["reason"] == "TARGETING_MATCH"
