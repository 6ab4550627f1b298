"""Effect == naive: the effect read from the rollup's license days, the unrolled days' raw rows and the
events gives what plain Python over the raw evaluations and events gives.

Random evaluations on random days up to today (today's stay unrolled: the seam), with the
licenseKey / targetingKey resolution of the rollup; random events of two features (some of
licenses that nothing served, some before the exposure day); random windows.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

pytestmark = pytest.mark.django_db

SPAN_DAYS = 4
LICENSES = ["LIC-0", "LIC-1", "LIC-2", "LIC-3"]
TARGETING_KEYS = ["", "u0", "LIC-1", "LIC-3", "LIC-1"]
LICENSE_KEYS = ["", "LIC-0", "LIC-2", "LIC-NONE", "LIC-0", "LIC-2"]
FEATURES = ["export_csv", "bulk_edit"]

evaluations_strategy = st.lists(
    st.tuples(
        st.integers(0, SPAN_DAYS),  # days before today
        st.sampled_from(["on", "off"]),
        st.integers(0, len(TARGETING_KEYS) - 1),
        st.integers(0, len(LICENSE_KEYS) - 1),
    ),
    min_size=3,
    max_size=20,
)
events_strategy = st.lists(
    st.tuples(
        st.integers(0, len(LICENSES) - 1),
        st.integers(0, len(FEATURES) - 1),
        st.integers(1, SPAN_DAYS + 1),  # days before today (not today: an event must not be in the future)
        st.integers(0, 23),
    ),
    min_size=5,
    max_size=40,
)


def naive_effect(evaluations, events, *, feature, date_from, date_to):
    first: dict[str, dict[str, object]] = {}
    for day, variant, tk, lk in evaluations:
        if not date_from <= day <= date_to:
            continue
        license = lk if lk in LICENSES else tk if tk in LICENSES else None
        if license is None:
            continue
        variants = first.setdefault(license, {})
        variants[variant] = min(variants.get(variant, day), day)
    counted = {lic: next(iter(v.items())) for lic, v in first.items() if len(v) == 1}
    rows = {}
    for name in ("on", "off"):
        members = [lic for lic, (variant, _) in counted.items() if variant == name]
        used = {
            lic: sum(
                1
                for e_lic, e_feature, e_day, _ in events
                if e_lic == lic and e_feature == feature and counted[lic][1] <= e_day <= date_to
            )
            for lic in members
        }
        rows[name] = (
            len(members),
            sum(1 for n in used.values() if n),
            sum(used.values()),
            sum(1 for v in first.values() if len(v) > 1 and name in v),
        )
    return {"exposed": len(first), "counted": len(counted), "rows": rows}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    evaluations=evaluations_strategy,
    events=events_strategy,
    windows=st.lists(
        st.tuples(st.integers(0, SPAN_DAYS), st.integers(0, SPAN_DAYS), st.sampled_from(FEATURES)),
        min_size=1,
        max_size=3,
    ),
)
def test_the_effect_equals_a_naive_count(api, org, evaluations, events, windows):
    today = utc_today()
    product = ProductFactory(organization=org)
    licenses = {key: LicenseFactory(product=product, key=key) for key in LICENSES}
    project = ProjectFactory(organization=org, product=product)
    environment = environment_with_key(project, "production")[0]
    boolean_flag(project, "new-checkout")
    flag = project.flags.get()
    served = []
    for back, variant, tk, lk in evaluations:
        day = today - timedelta(days=back)
        recording.record(
            environment_id=environment.pk,
            flag_id=flag.pk,
            value="true" if variant == "on" else "false",
            reason=Reason.SPLIT,
            at=datetime.combine(day, time(0), tzinfo=UTC),
            variant=variant,
            targeting_key=TARGETING_KEYS[tk],
            license_key=LICENSE_KEYS[lk],
        )
        served.append((day, variant, TARGETING_KEYS[tk], LICENSE_KEYS[lk]))
    recording.flush()
    rollup_run(today=today)  # every day but today
    used = []
    for lic, feature, back, hour in events:
        day = today - timedelta(days=back)
        when = datetime.combine(day, time(hour), tzinfo=UTC)
        EventFactory(product=product, license=licenses[LICENSES[lic]], event=FEATURES[feature], occurred_at=when)
        used.append((LICENSES[lic], FEATURES[feature], day, hour))
    for back, length, feature in windows:
        date_from = today - timedelta(days=back)
        date_to = min(today, date_from + timedelta(days=length))
        response = api.get(
            f"/v1/projects/{project.public_id}/flags/new-checkout/effect",
            {
                "environmentId": environment.public_id,
                "feature": feature,
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
            },
        )
        assert response.status_code == 200, response.content
        body = response.json()
        expected = naive_effect(served, used, feature=feature, date_from=date_from, date_to=date_to)
        assert (body["totals"]["licensesExposed"], body["totals"]["licensesCounted"]) == (
            expected["exposed"],
            expected["counted"],
        )
        assert {
            row["variant"]: (row["licenses"], row["licensesUsing"], row["events"], row["excludedLicenses"])
            for row in body["variants"]
        } == expected["rows"]
