"""The world the flag-effect tests share: five licenses served new-checkout, and their feature events."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from flags import recording
from flags.models import Reason
from flags.rollup import rollup_run
from flags.selectors import utc_today
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory
from tests.flags.factories import ProjectFactory, boolean_flag, environment_with_key

TODAY = utc_today()
D0, D1, D2, D3 = (TODAY - timedelta(days=n) for n in (4, 3, 2, 1))


def at(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def served(environment, flag, variant, when, targeting_key="", license_key=""):
    recording.record(
        environment_id=environment.pk,
        flag_id=flag.pk,
        value="true" if variant == "on" else "false",
        reason=Reason.SPLIT,
        at=when,
        variant=variant,
        targeting_key=targeting_key,
        license_key=license_key,
    )


def used(product, license, feature, when, n=1):
    for _ in range(n):
        EventFactory(product=product, license=license, license_key=license.key, event=feature, occurred_at=when)


def effect_world(org):
    """Five licenses served new-checkout over D1..today, and their events of export_csv (and of another feature).

    - A: on at D1 09:00 (licenseKey); export_csv at D0 (before the window), D1 08:00 (same day,
      before the evaluation: counts, exposure is per UTC day), D2 ×2 → 3 events after exposure
    - B: on at D2 (targetingKey is its license key); export_csv at D1 (before its exposure) and D3 → 1
    - C: off at D1; only bulk_edit → uses export_csv 0 times
    - D: off at D2 and on at D3 → served two variants, excluded; export_csv ×5 not counted anywhere
    - E: off today, not rolled up yet (raw evaluations); export_csv ×2 today → 2
    - an anonymous targeting key served on at D1: no license
    """
    product = ProductFactory(organization=org, name="Shop plugin")
    lic = {name: LicenseFactory(product=product, key=f"LIC-{name.upper()}") for name in "abcde"}
    project = ProjectFactory(organization=org, product=product)
    production = environment_with_key(project, "production")[0]
    flag = boolean_flag(project, "new-checkout")
    served(production, flag, "on", at(D1, 9), "u-a", "LIC-A")
    served(production, flag, "on", at(D1, 10), "u-a", "LIC-A")
    served(production, flag, "on", at(D2, 9), "LIC-B")
    served(production, flag, "off", at(D1, 9), "u-c", "LIC-C")
    served(production, flag, "off", at(D2, 9), "u-d", "LIC-D")
    served(production, flag, "on", at(D3, 9), "u-d", "LIC-D")
    served(production, flag, "on", at(D1, 11), "anon-1")
    recording.flush()
    rollup_run(today=TODAY)
    now = timezone.now()
    served(production, flag, "off", max(at(TODAY, 0), now - timedelta(seconds=2)), "u-e", "LIC-E")
    recording.flush()
    used(product, lic["a"], "export_csv", at(D0, 12))
    used(product, lic["a"], "export_csv", at(D1, 8))
    used(product, lic["a"], "export_csv", at(D2, 15), n=2)
    used(product, lic["b"], "export_csv", at(D1, 15))
    used(product, lic["b"], "export_csv", at(D3, 15))
    used(product, lic["c"], "bulk_edit", at(D2, 15), n=4)
    used(product, lic["d"], "export_csv", at(D3, 15), n=5)
    used(product, lic["e"], "export_csv", max(at(TODAY, 0), now - timedelta(seconds=1)), n=2)
    return product, project, production, flag, lic
