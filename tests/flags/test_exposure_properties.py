"""Exposure == naive: the rollup's structures give exactly what plain Python over the raw evaluations gives.

Random evaluations (errors, keyless, a licenseKey no license has, a targeting key
that is a license key), rolled up, then late evaluations on random earlier days
rolled up again (the reach points of the later days must follow), then random
windows: evaluations, unique targeting keys and licenses per variant and over
every variant, and each license's evaluations per variant.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

SPAN_DAYS = 12
VARIANTS = ["on", "off", None]  # None: an error, which serves no variant
TARGETING_KEYS = ["", "u0", "u1", "LIC-1", "u3"]  # "LIC-1" is matched by targeting key when no licenseKey matches
LICENSE_KEYS = ["", "LIC-0", "LIC-1", "LIC-2", "LIC-NONE"]

evaluations_strategy = st.lists(
    st.tuples(
        st.integers(1, SPAN_DAYS),  # days before today
        st.integers(0, len(VARIANTS) - 1),
        st.integers(0, len(TARGETING_KEYS) - 1),
        st.integers(0, len(LICENSE_KEYS) - 1),
    ),
    max_size=30,
)


def naive_exposure(rows, *, license_keys: set[str], date_from, date_to) -> dict:
    evaluations = 0
    per_variant: dict[str, int] = defaultdict(int)
    keys: dict[str, set] = defaultdict(set)
    licenses: dict[str, set] = defaultdict(set)
    per_license: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for day, variant, targeting_key, license_key in rows:
        if not date_from <= day <= date_to:
            continue
        evaluations += 1
        if variant is None:
            continue
        per_variant[variant] += 1
        license = (
            license_key if license_key in license_keys else targeting_key if targeting_key in license_keys else None
        )
        for name in (variant, ""):
            if targeting_key:
                keys[name].add(targeting_key)
            if license:
                licenses[name].add(license)
        if license:
            per_license[license][variant] += 1
    return {
        "evaluations": evaluations,
        "variants": {name: (per_variant[name], len(keys[name]), len(licenses[name])) for name in ("on", "off")},
        "all": (len(keys[""]), len(licenses[""])),
        "licenses": {key: dict(sorted(seen.items())) for key, seen in per_license.items()},
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=evaluations_strategy,
    late=evaluations_strategy,
    windows=st.lists(st.tuples(st.integers(1, SPAN_DAYS), st.integers(0, SPAN_DAYS)), min_size=1, max_size=4),
)
def test_exposure_equals_a_naive_count_over_the_raw_evaluations(api, org, first, late, windows):
    today = utc_today()
    product = ProductFactory(organization=org)
    for key in ("LIC-0", "LIC-1", "LIC-2"):
        LicenseFactory(product=product, key=key)
    project = ProjectFactory(organization=org, product=product)
    environment = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    recorded = []

    def record(rows):
        for back, variant_index, key_index, license_index in rows:
            day, variant = today - timedelta(days=back), VARIANTS[variant_index]
            recording.record(
                environment_id=environment.pk,
                flag_id=flag.pk,
                value=None if variant is None else ("true" if variant == "on" else "false"),
                reason=Reason.ERROR if variant is None else Reason.SPLIT,
                at=datetime.combine(day, time(12), tzinfo=UTC),
                variant=variant,
                targeting_key=TARGETING_KEYS[key_index],
                license_key=LICENSE_KEYS[license_index],
            )
            recorded.append((day, variant, TARGETING_KEYS[key_index], LICENSE_KEYS[license_index]))
        recording.flush()
        rollup_run(today=today)

    record(first)
    record(late)
    for back, length in windows:
        date_from = today - timedelta(days=back)
        date_to = min(today, date_from + timedelta(days=length))
        response = api.get(
            f"/v1/projects/{project.public_id}/flags/new-checkout/exposure",
            {"environmentId": environment.public_id, "from": date_from.isoformat(), "to": date_to.isoformat()},
        )
        assert response.status_code == 200, response.content
        body = response.json()
        expected = naive_exposure(
            recorded, license_keys={"LIC-0", "LIC-1", "LIC-2"}, date_from=date_from, date_to=date_to
        )
        assert body["totals"]["evaluations"] == expected["evaluations"]
        assert (body["totals"]["uniqueTargetingKeys"], body["totals"]["licenses"]) == expected["all"]
        assert {
            v["variant"]: (v["evaluations"], v["uniqueTargetingKeys"], v["licenses"]) for v in body["variants"]
        } == expected["variants"]
        assert {row["key"]: row["variants"] for row in body["licenses"]["data"]} == expected["licenses"]
