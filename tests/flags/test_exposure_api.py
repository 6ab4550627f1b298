"""GET /v1/projects/{projectId}/flags/{flagKey}/exposure: exposure by variant and by license."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from events.models import License
from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

TODAY = utc_today()
D1, D2, D3 = (TODAY - timedelta(days=n) for n in (3, 2, 1))


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def served(environment, flag, variant: str | None, day, hour: int, targeting_key: str = "", license_key: str = "", n=1):
    for _ in range(n):
        recording.record(
            environment_id=environment.pk,
            flag_id=flag.pk,
            value=None if variant is None else ("true" if variant == "on" else "false"),
            reason=Reason.ERROR if variant is None else Reason.SPLIT,
            at=at(day, hour),
            variant=variant,
            targeting_key=targeting_key,
            license_key=license_key,
        )


@pytest.fixture
def shop(org):
    """A linked product with 3 active licenses (one never seen) and 1 expired, and 9 evaluations over 3 days."""
    product = ProductFactory(organization=org, name="Shop plugin")
    licenses = {
        "a": LicenseFactory(product=product, key="LIC-A", customer_email="a@example.com"),
        "b": LicenseFactory(product=product, key="user-2", customer_email="b@example.com"),
        "c": LicenseFactory(product=product, key="LIC-C"),
        "d": LicenseFactory(product=product, key="LIC-D", status=License.Status.EXPIRED),
    }
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    # D1: u1 (license by licenseKey) on twice; user-2 (license by targetingKey) off; an anonymous key on
    served(production, flag, "on", D1, 9, "u1", "LIC-A", n=2)
    served(production, flag, "off", D1, 10, "user-2")
    served(production, flag, "on", D1, 11, "anon-9")
    # D2: u1 off; user-2 off; u3 with a licenseKey no license has, on; one error for u1
    served(production, flag, "off", D2, 9, "u1", "LIC-A")
    served(production, flag, "off", D2, 10, "user-2")
    served(production, flag, "on", D2, 11, "u3", "LIC-UNKNOWN")
    served(production, flag, None, D2, 12, "u1", "LIC-A")
    # D3: u1 on again
    served(production, flag, "on", D3, 8, "u1", "LIC-A")
    recording.flush()
    rollup_run(today=TODAY)
    return project, production, flag, licenses


def get(api, project, environment, flag_key="new-checkout", **params):
    query = {"environmentId": environment.public_id, **params}
    return api.get(f"/v1/projects/{project.public_id}/flags/{flag_key}/exposure", query)


def test_it_counts_evaluations_keys_and_licenses_per_variant_over_the_default_window(api, shop):
    project, production, flag, licenses = shop
    response = get(api, project, production)
    assert response.status_code == 200
    body = response.json()
    assert body["flagKey"] == "new-checkout"
    assert body["environmentId"] == production.public_id
    assert body["from"] == (TODAY - timedelta(days=29)).isoformat()
    assert "clampedFrom" not in body
    # 9 evaluations, one of them an error (no variant); keys u1, user-2, anon-9, u3;
    # licenses LIC-A (by licenseKey) and user-2 (by targetingKey); LIC-UNKNOWN matches none.
    # Active: LIC-A, user-2, LIC-C (LIC-D is expired).
    assert body["totals"] == {"evaluations": 9, "uniqueTargetingKeys": 4, "licenses": 2, "activeLicenses": 3}
    assert body["variants"] == [
        # on: u1 ×2 + anon-9 (D1), u3 (D2), u1 (D3) = 5; keys u1, anon-9, u3; license A
        {
            "variant": "on",
            "value": True,
            "evaluations": 5,
            "uniqueTargetingKeys": 3,
            "licenses": 1,
            "licensesPct": 33.3,
        },
        # off: user-2 (D1), u1 + user-2 (D2) = 3; keys u1, user-2; licenses A and B: 2 of 3 active
        {
            "variant": "off",
            "value": False,
            "evaluations": 3,
            "uniqueTargetingKeys": 2,
            "licenses": 2,
            "licensesPct": 66.7,
        },
    ]


def test_it_lists_the_licenses_by_evaluations_with_what_each_saw_last(api, shop):
    project, production, flag, licenses = shop
    page = get(api, project, production).json()["licenses"]
    assert page == {
        "data": [
            {
                "id": licenses["a"].public_id,
                "key": "LIC-A",
                "customerEmail": "a@example.com",
                "evaluations": 4,
                # seen on two variants: on twice on D1 and once on D3, off once on D2
                "variants": {"off": 1, "on": 3},
                "lastVariant": "on",
                "lastSeenAt": f"{D3.isoformat()}T08:00:00Z",
            },
            {
                "id": licenses["b"].public_id,
                "key": "user-2",
                "customerEmail": "b@example.com",
                "evaluations": 2,
                "variants": {"off": 2},
                "lastVariant": "off",
                "lastSeenAt": f"{D2.isoformat()}T10:00:00Z",
            },
        ],
        "nextCursor": None,
    }


def test_it_pages_through_the_licenses(api, shop):
    project, production, flag, licenses = shop
    first = get(api, project, production, limit=1).json()["licenses"]
    assert [row["key"] for row in first["data"]] == ["LIC-A"]
    second = get(api, project, production, limit=1, cursor=first["nextCursor"]).json()["licenses"]
    assert [row["key"] for row in second["data"]] == ["user-2"]
    assert second["nextCursor"] is None


def test_unique_counts_are_exact_over_a_window_that_starts_after_a_keys_first_day(api, shop):
    project, production, flag, licenses = shop
    body = get(api, project, production, **{"from": D2.isoformat(), "to": D3.isoformat()}).json()
    # [D2, D3]: keys u1, user-2, u3 (anon-9 was only on D1); u1's "on" on D3 counts though its previous "on" was D1
    assert body["totals"] == {"evaluations": 5, "uniqueTargetingKeys": 3, "licenses": 2, "activeLicenses": 3}
    assert [(v["variant"], v["evaluations"], v["uniqueTargetingKeys"], v["licenses"]) for v in body["variants"]] == [
        ("on", 2, 2, 1),
        ("off", 2, 2, 2),
    ]


def test_a_day_rolled_up_late_keeps_the_later_days_counts_exact(api, org):
    product = ProductFactory(organization=org)
    LicenseFactory(product=product, key="LIC-A")
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(production, flag, "on", D1, 9, "u1", "LIC-A")
    served(production, flag, "on", D3, 9, "u1", "LIC-A")
    recording.flush()
    rollup_run(today=TODAY)
    # D2 arrives after D3 was rolled up: u1's D3 point must now follow D2, not D1
    served(production, flag, "on", D2, 9, "u1", "LIC-A")
    recording.flush()
    rollup_run(today=TODAY)
    for start, keys in [(D1, 1), (D2, 1), (D3, 1)]:
        body = get(api, project, production, **{"from": start.isoformat(), "to": D3.isoformat()}).json()
        assert body["totals"]["uniqueTargetingKeys"] == keys, start
        assert body["totals"]["licenses"] == 1, start
    only_d3 = get(api, project, production, **{"from": D3.isoformat(), "to": D3.isoformat()}).json()
    assert only_d3["totals"]["evaluations"] == 1


def test_without_a_linked_product_there_are_no_licenses_and_no_percentages(api, org):
    project = ProjectFactory(organization=org)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(production, flag, "on", D1, 9, "LIC-A", "LIC-A")
    recording.flush()
    rollup_run(today=TODAY)
    body = get(api, project, production).json()
    assert body["totals"] == {"evaluations": 1, "uniqueTargetingKeys": 1, "licenses": 0, "activeLicenses": None}
    assert body["variants"][0]["licensesPct"] is None
    assert body["licenses"] == {"data": [], "nextCursor": None}


def test_it_clamps_from_to_the_plans_retention(api, shop, org, free_plan):
    project, production, flag, licenses = shop
    org.plan = free_plan
    org.save()
    body = get(api, project, production, **{"from": (TODAY - timedelta(days=20)).isoformat()}).json()
    assert body["from"] == (TODAY - timedelta(days=6)).isoformat()
    assert body["clampedFrom"] is True


@pytest.mark.parametrize(
    "params, message_start",
    [
        ({"environmentId": ""}, "environmentId"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"from": "2026-01-01", "to": "2026-05-01"}, "to"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "1000"}, "limit"),
    ],
)
def test_it_refuses_bad_parameters_with_400(api, shop, params, message_start):
    project, production, flag, licenses = shop
    response = get(api, project, production, **params)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message_start)


def test_unknown_flags_environments_and_other_organizations_projects_are_404(api, outsider_api, shop, org):
    project, production, flag, licenses = shop
    assert get(api, project, production, flag_key="nope").status_code == 404
    other_environment = environment_with_key(ProjectFactory(organization=org), "production")[0]
    assert get(api, project, other_environment).status_code == 404
    assert get(outsider_api, project, production).status_code == 404


def test_deleting_a_license_or_the_flag_deletes_their_exposure_rows(api, shop):
    from flags.models import FlagKeyRecent, FlagLicenseDay, FlagLicenseTotal, FlagReachPoint

    project, production, flag, licenses = shop
    licenses["b"].delete()
    assert [row["key"] for row in get(api, project, production).json()["licenses"]["data"]] == ["LIC-A"]
    assert FlagKeyRecent.objects.exists() and FlagReachPoint.objects.exists()
    api.delete(f"/v1/projects/{project.public_id}/flags/new-checkout")
    for model in (FlagKeyRecent, FlagLicenseDay, FlagLicenseTotal, FlagReachPoint):
        assert not model.objects.exists(), model


def test_deleting_the_environment_deletes_every_row_kept_for_it(shop):
    import uuid

    from flags import activity, buckets
    from flags.models import (
        EvaluationBucket,
        EvaluationBucketCount,
        FlagActivityDay,
        FlagKeyRecent,
        FlagLicenseDay,
        FlagLicenseTotal,
        FlagReachPoint,
        FlagUsageDay,
        UnknownFlagDay,
    )

    project, production, flag, licenses = shop
    entry = buckets.BucketEntry(flag_key=flag.key, variant="on", value="true", reason=Reason.SPLIT, count=3)
    bucket = buckets.Bucket(id=uuid.uuid4(), start=at(D3, 9), end=at(D3, 10), entries=[entry])
    buckets.bucket_store(environment_id=production.pk, flag_ids={flag.key: flag.pk}, bucket=bucket, now=at(D3, 10))
    activity.unknown_add({(production.pk, D3, "ghost"): (1, at(D3, 10))})
    kept = (
        EvaluationBucket,
        EvaluationBucketCount,
        FlagActivityDay,
        FlagKeyRecent,
        FlagLicenseDay,
        FlagLicenseTotal,
        FlagReachPoint,
        FlagUsageDay,
        UnknownFlagDay,
    )
    assert all(model.objects.exists() for model in kept)
    production.delete()
    for model in kept:
        assert not model.objects.exists(), model


def test_rerolling_days_changes_nothing_and_expired_days_leave_the_license_table(api, shop):
    project, production, flag, licenses = shop
    before = get(api, project, production).json()
    rollup_run(today=TODAY, days=[D1, D2, D3])
    after = get(api, project, production).json()
    assert after.pop("countedThrough") >= before.pop("countedThrough")
    assert after == before
    # 89 days on, D1 and D2 are past the 90-day retention: only u1's "on" of D3 remains
    rollup_run(today=TODAY + timedelta(days=88), days=[])
    page = get(api, project, production).json()["licenses"]["data"]
    assert [(row["key"], row["evaluations"], row["variants"]) for row in page] == [("LIC-A", 1, {"on": 1})]


def test_the_license_table_is_exact_whatever_part_of_the_kept_days_the_window_leaves_out(api, shop):
    project, production, flag, licenses = shop

    def table(start, end):
        page = get(api, project, production, **{"from": start.isoformat(), "to": end.isoformat()}).json()
        return [(row["key"], row["variants"], row["lastVariant"]) for row in page["licenses"]["data"]]

    # Leaves out D1 of D1..D3 (the totals minus one day): LIC-A off on D2, on on D3; user-2 off on D2
    assert table(D2, D3) == [("LIC-A", {"off": 1, "on": 1}, "on"), ("user-2", {"off": 1}, "off")]
    # Leaves out two of three days (summed from the window's days)
    assert table(D3, D3) == [("LIC-A", {"on": 1}, "on")]
    assert table(D1, D1) == [("LIC-A", {"on": 2}, "on"), ("user-2", {"off": 1}, "off")]
