"""countedThrough (docs/freshness.md): every answer says up to when every acknowledged event or evaluation is in it.

Each value is checked against the test's own clock read around the request: it
lies between ``before`` and ``after`` (to the millisecond the API shows), and
what was acknowledged before ``before`` is counted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import reverse

from flags import pending, recording
from flags.models import Reason
from flags.recording import Recorder
from flags.selectors import utc_today
from lib.freshness import COUNTED_THROUGH_HEADER, counted_through_label, iso_utc
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

REDIS_CACHE = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/2"}
}


def ms(moment: datetime) -> datetime:
    """The API shows milliseconds, truncated."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parsed(value: str) -> datetime:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value), value
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------- the formats


def test_the_api_shows_utc_to_the_millisecond_truncated():
    assert iso_utc(datetime(2026, 3, 9, 13, 2, 31, 987654, tzinfo=UTC)) == "2026-03-09T13:02:31.987Z"
    # 15:02 in Berlin in summer (UTC+2) is 13:02 UTC
    berlin = datetime.fromisoformat("2026-07-09T15:02:31.000999+02:00")
    assert iso_utc(berlin) == "2026-07-09T13:02:31.000Z"
    assert iso_utc(None) is None


def test_the_console_label_is_in_the_products_zone_with_the_date_when_not_today():
    moment = datetime(2026, 3, 9, 13, 2, 31, 987654, tzinfo=UTC)  # CET (UTC+1) in March
    same_day = datetime(2026, 3, 9, 22, 0, tzinfo=UTC)
    assert counted_through_label(moment, "Europe/Berlin", now=same_day) == "counted through 14:02:31 Europe/Berlin"
    # 23:30 UTC on the 9th is already the 10th in Berlin: the 9th is shown with its date
    next_day = datetime(2026, 3, 9, 23, 30, tzinfo=UTC)
    assert (
        counted_through_label(moment, "Europe/Berlin", now=next_day)
        == "counted through 2026-03-09 14:02:31 Europe/Berlin"
    )
    assert counted_through_label(moment, "UTC", now=same_day) == "counted through 13:02:31 UTC"
    assert counted_through_label(None, "UTC") == "counted through: unknown"


# ---------------------------------------------------------------- the analytics answers


@pytest.fixture
def shop(org):
    product = ProductFactory(organization=org, name="Shop", timezone="Europe/Berlin")
    license = LicenseFactory(product=product, key="LIC-A", customer_email="a@example.com")
    return product, license


def analytics_urls(product, license) -> dict[str, str]:
    # The product's today: from 23:00 UTC an event sent now is on Berlin's next day.
    today = datetime.now(ZoneInfo(product.timezone)).date()
    window = f"from={today - timedelta(days=6)}&to={today}"
    base = f"/v1/products/{product.public_id}"
    return {
        "feature usage": f"{base}/analytics/feature-usage?{window}",
        "license usage": f"{base}/licenses/{license.public_id}/usage?{window}",
        "feature licenses": f"{base}/analytics/features/export_pdf/licenses?{window}&used=true",
        "license sharing": f"{base}/analytics/license-sharing?{window}",
        "installs": f"{base}/analytics/installs?{window}",
        "installs feedback": f"{base}/analytics/installs/feedback?{window}",
        "time to first use": f"{base}/analytics/features/export_pdf/time-to-first-use?{window}",
    }


@pytest.mark.django_db(transaction=True)
def test_feature_usage_counts_an_event_acknowledged_before_the_request_and_says_when(api, client, shop):
    product, license = shop
    body = json.dumps({"public_key": product.public_key, "event": "export_pdf", "license_key": "LIC-A"})
    assert client.post("/public/v1/event", body, content_type="application/json").status_code == 200
    before = datetime.now(UTC)
    response = api.get(analytics_urls(product, license)["feature usage"])
    after = datetime.now(UTC)
    assert response.status_code == 200
    answer = response.json()
    assert answer["data"]["totals"]["events"] == 1  # acknowledged before: counted
    assert ms(before) <= parsed(answer["countedThrough"]) <= after


@pytest.mark.parametrize(
    "name",
    [
        "feature usage",
        "license usage",
        "feature licenses",
        "license sharing",
        "installs",
        "installs feedback",
        "time to first use",
    ],
)
def test_every_analytics_answer_carries_counted_through_beside_data(api, shop, name):
    product, license = shop
    EventFactory(product=product, license=license, license_key="LIC-A")
    before = datetime.now(UTC)
    response = api.get(analytics_urls(product, license)[name])
    after = datetime.now(UTC)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert "data" in answer
    assert ms(before) <= parsed(answer["countedThrough"]) <= after


def test_the_csv_exports_carry_it_in_a_header_and_keep_their_lines(api, shop):
    product, license = shop
    EventFactory(product=product, license=license, license_key="LIC-A")
    urls = analytics_urls(product, license)
    csvs = {
        "features": urls["feature usage"].replace("feature-usage?", "feature-usage.csv?") + "&table=features",
        "gap": urls["feature licenses"].replace("/licenses?", "/licenses.csv?"),
        "installs": urls["installs"].replace("installs?", "installs.csv?") + "&table=days",
    }
    for name, url in csvs.items():
        before = datetime.now(UTC)
        response = api.get(url)
        content = b"".join(response.streaming_content) if response.streaming else response.content
        after = datetime.now(UTC)
        assert response.status_code == 200, (name, content)
        assert ms(before) <= parsed(response[COUNTED_THROUGH_HEADER]) <= after, name
        assert not content.decode().startswith("#"), name  # the file itself is unchanged: column names first
    gap = api.get(csvs["gap"])
    assert b"".join(gap.streaming_content).decode().splitlines()[1].endswith(",LIC-A,a@example.com,1")


def test_the_feature_usage_page_shows_it_beside_the_window_in_the_products_zone(client, owner, org, shop):
    product, _ = shop
    client.force_login(owner)
    before = datetime.now(UTC)
    response = client.get(reverse("console:feature-usage", args=[org.slug, product.public_id]))
    after = datetime.now(UTC)
    html = response.content.decode()
    shown = re.search(r'id="counted-through"[^>]*>· counted through (\d\d:\d\d:\d\d) Europe/Berlin<', html)
    assert shown, html[:2000]
    berlin = before.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    low = berlin.replace(microsecond=0).time()
    high = after.astimezone(berlin.tzinfo).time()
    assert low <= time.fromisoformat(shown.group(1)) <= high


def test_the_installs_page_shows_it_too(client, owner, org, shop):
    product, _ = shop
    client.force_login(owner)
    html = client.get(reverse("console:installs", args=[org.slug, product.public_id])).content.decode()
    assert re.search(r"counted through \d\d:\d\d:\d\d Europe/Berlin", html)


# ---------------------------------------------------------------- the flag answers: the recorder's buffer


@pytest.fixture
def manual_recorder():
    mode = recording.recorder.mode
    recording.recorder.mode = "manual"
    recording.recorder.discard()
    yield recording.recorder
    recording.recorder.discard()
    recording.recorder.mode = mode


@pytest.fixture
def served(org, shop, manual_recorder):
    product, license = shop
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    today = utc_today()
    window = f"environmentId={production.public_id}&from={today - timedelta(days=1)}&to={today}"
    base = f"/v1/projects/{project.public_id}/flags/new-checkout"
    urls = {
        "flag usage": f"{base}/usage?{window}",
        "flag exposure": f"{base}/exposure?{window}",
        "unknown flags": f"/v1/projects/{project.public_id}/unknown-flags?environmentId={production.public_id}",
        "flag effect": f"{base}/effect?{window}&feature=export_pdf",
    }

    def serve(at: datetime) -> None:
        recording.record(
            environment_id=production.pk,
            flag_id=flag.pk,
            value="true",
            reason=Reason.SPLIT,
            at=at,
            variant="on",
            targeting_key="u1",
            license_key="LIC-A",
        )

    return {"urls": urls, "serve": serve, "project": project, "license": license, "product": product}


def usage_total(api, url) -> tuple[int, str]:
    answer = api.get(url).json()
    return sum(row["totalEvaluations"] for row in answer["rows"]), answer["countedThrough"]


@pytest.mark.parametrize("name", ["flag usage", "flag exposure", "unknown flags", "flag effect"])
def test_a_flag_answer_is_counted_through_its_snapshot_when_nothing_is_held(api, served, name):
    before = datetime.now(UTC)
    response = api.get(served["urls"][name])
    after = datetime.now(UTC)
    assert response.status_code == 200, response.content
    assert ms(before) <= parsed(response.json()["countedThrough"]) <= after


def test_an_evaluation_held_in_the_buffer_holds_counted_through_back_to_its_time(api, served):
    held_at = datetime.now(UTC) - timedelta(seconds=3)
    served["serve"](held_at)  # answered, not written yet
    total, through = usage_total(api, served["urls"]["flag usage"])
    assert (total, parsed(through)) == (0, ms(held_at))  # not counted, and the answer says so
    exposure = api.get(served["urls"]["flag exposure"]).json()
    assert parsed(exposure["countedThrough"]) == ms(held_at)
    recording.flush()
    before = datetime.now(UTC)
    total, through = usage_total(api, served["urls"]["flag usage"])
    assert total == 1
    assert ms(before) <= parsed(through) <= datetime.now(UTC)


def test_the_oldest_of_several_held_evaluations_is_the_bound(api, served):
    now = datetime.now(UTC)
    served["serve"](now - timedelta(seconds=1))
    served["serve"](now - timedelta(seconds=7))  # appended later, evaluated earlier
    assert parsed(usage_total(api, served["urls"]["flag usage"])[1]) == ms(now - timedelta(seconds=7))


def test_a_failed_flush_keeps_the_bound_and_a_good_one_releases_it(api, served, monkeypatch):
    held_at = datetime.now(UTC) - timedelta(seconds=2)
    served["serve"](held_at)

    def broken(rows, unknown):
        raise RuntimeError("database gone")

    monkeypatch.setattr(recording.recorder, "_write", broken)
    assert recording.flush() == 0
    assert parsed(usage_total(api, served["urls"]["flag usage"])[1]) == ms(held_at)
    monkeypatch.undo()
    assert recording.flush() == 1
    assert parsed(usage_total(api, served["urls"]["flag usage"])[1]) > ms(held_at)


def test_a_past_moment_is_answered_from_the_history_not_the_present(served):
    """A replica's answer is as of its replay point: what was held then counts, though it is written now."""
    held_at = datetime.now(UTC) - timedelta(seconds=5)
    served["serve"](held_at)
    while_held = datetime.now(UTC)
    recording.flush()
    written = datetime.now(UTC)
    history = recording.recorder.history
    assert pending.pending_since_at(history, while_held) == held_at
    assert pending.pending_since_at(history, written) is None
    assert recording.counted_through(while_held) == held_at
    assert recording.counted_through(written) == written


def test_the_license_flags_answer_is_counted_through_its_first_day_not_rolled_up(api, served):
    from flags.rollup import rollup_run

    today = utc_today()
    yesterday = today - timedelta(days=1)
    served["serve"](datetime.combine(yesterday, time(9), tzinfo=UTC))
    recording.flush()
    product, license = served["product"], served["license"]
    url = f"/v1/products/{product.public_id}/licenses/{license.public_id}/flags?from={yesterday}&to={today}"
    # Yesterday's evaluation is written but not rolled up: the answer (rollup only) is complete up to its start.
    answer = api.get(url).json()
    assert (answer["data"], parsed(answer["countedThrough"])) == ([], datetime.combine(yesterday, time.min, tzinfo=UTC))
    rollup_run(today=today)
    before = datetime.now(UTC)
    answer = api.get(url).json()
    assert answer["data"][0]["evaluations"] == 1
    assert ms(before) <= parsed(answer["countedThrough"])


def test_with_redis_the_processes_see_each_others_held_evaluations(served):
    import redis

    redis.Redis.from_url(REDIS_CACHE["default"]["LOCATION"]).flushdb()
    with override_settings(CACHES=REDIS_CACHE):
        other = Recorder()  # another process's recorder: its own member in Redis
        other.mode = "manual"
        flag_id = served["project"].flags.get().pk
        environment_id = served["project"].environments.get().pk
        held_at = datetime.now(UTC) - timedelta(seconds=4)
        other.record(environment_id=environment_id, flag_id=flag_id, value="true", reason=Reason.SPLIT, at=held_at)
        now = datetime.now(UTC)
        # This process holds nothing; the other's evaluation holds the answer back.
        assert recording.recorder.pending() == 0
        assert recording.counted_through(now) == held_at
        other.flush()
        assert recording.counted_through(datetime.now(UTC)) > held_at
        assert recording.counted_through(now) == held_at  # the history remembers what was held at `now`
    redis.Redis.from_url(REDIS_CACHE["default"]["LOCATION"]).flushdb()


def test_the_flag_usage_page_shows_it(client, owner, org, served):
    client.force_login(owner)
    project = served["project"]
    html = client.get(reverse("console:flag-usage", args=[org.slug, project.public_id, "new-checkout"])).content
    # The project is linked to the Berlin product: its zone.
    assert re.search(r"counted through \d\d:\d\d:\d\d Europe/Berlin", html.decode())


def test_the_project_page_shows_it_beside_the_flags(client, owner, org, served):
    client.force_login(owner)
    held_at = datetime(2026, 3, 9, 13, 2, 31, tzinfo=UTC)  # an evaluation held since then: a past day, with its date
    served["serve"](held_at)
    html = client.get(reverse("console:project", args=[org.slug, served["project"].public_id])).content.decode()
    assert "counted through 2026-03-09 14:02:31 Europe/Berlin" in html
