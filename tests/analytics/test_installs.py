"""Installs figures worked out by hand, each repeat rule of docs/installs.md, before and after any fold.

Product in UTC; window 2026-03-01 … 2026-03-09. The events, in the order they are stored:

 1 a.com install   03-01 10:00  L1   php 8.2, wp 6.5, plugins woo, yoast
 2 b.com install   03-01 12:00  —    php 7.4, wp 6.4, plugins woo
 3 a.com install   03-02 09:00  L1   php 8.3, wp 6.5, plugins woo   (already active: no new install)
 4 c.com uninstall 03-02 10:00  —    too_expensive "Costs too much" (no install seen)
 5 b.com uninstall 03-03 12:00  —    broke_site "White screen"      (2 days after its install)
 6 b.com uninstall 03-03 13:00  —    (already inactive: a repeat, not counted)
 7 d.com install   03-04 00:00  L1   php 8 (a number), wp ["x"] (not a version), plugins "woo" (not a list)
 8 b.com install   03-05 08:00  —    php 8.1, wp 6.5, no plugins    (a reinstall: counted)
 9 d.com uninstall 03-20 00:00  —    no reason (16 days after its install; after the window)
10 (no site)       install 03-06                                     (counted nowhere but eventsWithoutSite)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.installs.fold import installs_fold, installs_rebuild
from analytics.installs.models import InstallSite, InstallState
from analytics.installs.report import installs, installs_feedback, parse_feedback_query, parse_installs_query
from tests.events.factories import EventFactory, LicenseFactory, ProductFactory


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def lifecycle(product, licenses):
    def install(domain, at, license=None, **properties):
        return ("product.installed", domain, at, license, properties)

    def uninstall(domain, at, license=None, **properties):
        return ("product.uninstalled", domain, at, license, properties)

    return [
        install("a.com", "2026-03-01T10:00", "L1", env={"php": "8.2", "wp": "6.5"}, plugins=["woo", "yoast"]),
        install("b.com", "2026-03-01T12:00", env={"php": "7.4", "wp": "6.4"}, plugins=["woo"]),
        install("a.com", "2026-03-02T09:00", "L1", env={"php": "8.3", "wp": "6.5"}, plugins=["woo"]),
        uninstall("c.com", "2026-03-02T10:00", reason="too_expensive", feedback="Costs too much"),
        uninstall("b.com", "2026-03-03T12:00", reason="broke_site", feedback="White screen"),
        uninstall("b.com", "2026-03-03T13:00", reason="broke_site"),
        install("d.com", "2026-03-04T00:00", "L1", env={"php": 8, "wp": ["x"]}, plugins="woo"),
        install("b.com", "2026-03-05T08:00", env={"php": "8.1", "wp": "6.5"}),
        uninstall("d.com", "2026-03-20T00:00"),
        install("", "2026-03-06T00:00", env={"php": "8.0"}),
    ]


def store(product, licenses, rows):
    for name, domain, at, license, properties in rows:
        lic = licenses.get(license)
        EventFactory(
            product=product,
            event=name,
            feature=name,
            is_system=True,
            domain=domain,
            occurred_at=utc(at),
            license=lic,
            license_key=lic.key if lic else "",
            properties=properties,
        )


@pytest.fixture
def plugin(org):
    product = ProductFactory(organization=org, name="SEO Booster", timezone="UTC")
    product.lic = {"L1": LicenseFactory(product=product, public_id="lic_1", key="SEO-1111")}
    return product


def answer(product, **params):
    return installs(parse_installs_query(product=product, params={"from": "2026-03-01", "to": "2026-03-09", **params}))


EXPECTED_DAYS = [
    # date, active at the day's end, installs, uninstalls, net
    ("2026-03-01", 2, 2, 0, 2),
    ("2026-03-02", 2, 0, 1, -1),  # c.com's uninstall: counted, but c.com was never active
    ("2026-03-03", 1, 0, 1, -1),
    ("2026-03-04", 2, 1, 0, 1),
    ("2026-03-05", 3, 1, 0, 1),
    ("2026-03-06", 3, 0, 0, 0),
    ("2026-03-07", 3, 0, 0, 0),
    ("2026-03-08", 3, 0, 0, 0),
    ("2026-03-09", 3, 0, 0, 0),
]


def check_expected(data):
    assert [
        (d["date"], d["activeInstalls"], d["installs"], d["uninstalls"], d["net"]) for d in data["days"]
    ] == EXPECTED_DAYS
    assert data["totals"] == {
        "installs": 4,
        "licensedInstalls": 2,
        "unlicensedInstalls": 2,
        "uninstalls": 2,
        "net": 2,
    }
    # Now (after d.com's uninstall on 03-20): a.com (L1) and b.com (no license).
    assert (data["activeInstalls"], data["activeLicensed"], data["activeUnlicensed"]) == (2, 1, 1)
    assert data["uninstallReasons"] == [
        {"reason": "broke_site", "uninstalls": 1, "withFeedback": 1},
        {"reason": "too_expensive", "uninstalls": 1, "withFeedback": 1},
    ]
    ttu = data["timeToUninstall"]
    assert (ttu["uninstalls"], ttu["installSeen"], ttu["installNotSeen"], ttu["medianDays"]) == (2, 1, 1, 2.0)
    assert [b["uninstalls"] for b in ttu["buckets"]] == [0, 1, 0, 0, 0, 0]
    # Active sites' environment: a.com's latest install (8.3, 6.5, woo) and b.com's reinstall (8.1, 6.5, none).
    assert data["environment"] == {
        "php": [{"version": "8.1", "sites": 1}, {"version": "8.3", "sites": 1}],
        "wp": [{"version": "6.5", "sites": 2}],
        "plugins": [{"plugin": "woo", "sites": 1}],
    }
    assert data["licenses"] == [{"licenseId": "lic_1", "licenseKey": "SEO-1111", "sites": 1, "maxSites": None}]
    assert data["eventsWithoutSite"] == 1


@pytest.mark.parametrize("folded", range(11))
def test_every_figure_is_the_same_whatever_was_folded(plugin, folded):
    rows = lifecycle(plugin, plugin.lic)
    store(plugin, plugin.lic, rows[:folded])
    installs_fold(product=plugin)
    store(plugin, plugin.lic, rows[folded:])
    check_expected(answer(plugin))
    installs_fold(product=plugin)
    check_expected(answer(plugin))
    assert InstallState.objects.get(product=plugin).folded_through > 0


def test_folding_in_small_steps_gives_the_same_rows(plugin):
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    assert installs_fold(product=plugin, step_events=2) == 10
    check_expected(answer(plugin))
    sites = {site.domain: site for site in InstallSite.objects.filter(product=plugin)}
    assert {domain: (s.active, s.installs, s.uninstalls) for domain, s in sites.items()} == {
        "a.com": (True, 1, 0),
        "b.com": (True, 2, 1),
        "c.com": (False, 0, 1),
        "d.com": (False, 1, 1),
    }
    assert (sites["d.com"].php, sites["d.com"].platform, sites["d.com"].plugins) == ("8", "", [])
    installs_rebuild(product=plugin)
    check_expected(answer(plugin))


def test_a_wider_window_counts_the_later_uninstall(plugin):
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    data = answer(plugin, to="2026-03-31")
    ttu = data["timeToUninstall"]
    # b.com after 2 days, d.com after 16 (03-04 → 03-20), c.com unknown: the median of 2 and 16.
    assert (ttu["uninstalls"], ttu["installSeen"], ttu["medianDays"]) == (3, 2, 9.0)
    assert [b["uninstalls"] for b in ttu["buckets"]] == [0, 1, 1, 0, 0, 0]
    assert data["uninstallReasons"][0] == {"reason": "", "uninstalls": 1, "withFeedback": 0}  # ties: by reason
    assert data["days"][19] == {"date": "2026-03-20", "activeInstalls": 2, "installs": 0, "uninstalls": 1, "net": -1}


@pytest.mark.parametrize("fold", [False, True])
def test_feedback_is_newest_first_searchable_and_paginated(plugin, fold):
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    if fold:
        installs_fold(product=plugin)

    def page(**params):
        query = parse_feedback_query(product=plugin, params={"from": "2026-03-01", "to": "2026-03-31", **params})
        return installs_feedback(query)

    data = page()
    assert data["total"] == 3
    assert [(r["site"], r["reason"], r["feedback"], r["daysInstalled"]) for r in data["results"]] == [
        ("d.com", "", "", 16),
        ("b.com", "broke_site", "White screen", 2),
        ("c.com", "too_expensive", "Costs too much", None),
    ]
    # d.com's uninstall named no license: the site's (L1) is the one it ends.
    assert [(r["licenseId"], r["licenseKey"]) for r in data["results"]] == [
        ("lic_1", "SEO-1111"),
        (None, ""),
        (None, ""),
    ]
    assert [r["site"] for r in page(q="WHITE")["results"]] == ["b.com"]
    assert [r["site"] for r in page(q="c.com")["results"]] == ["c.com"]
    assert page(page="2")["results"] == []


def test_a_time_zone_change_recounts_in_the_new_zone(plugin):
    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    installs_fold(product=plugin)
    plugin.timezone = "Asia/Tokyo"  # UTC+9: b.com's reinstall at 08:00 UTC is 17:00 on 03-05 still
    plugin.save()
    installs_fold(product=plugin)
    data = answer(plugin)
    # d.com's install at 03-04 00:00 UTC is 09:00 in Tokyo: the same day; a.com's at 10:00 is 19:00.
    assert [d["installs"] for d in data["days"]] == [2, 0, 0, 1, 1, 0, 0, 0, 0]
    assert InstallState.objects.get(product=plugin).timezone == "Asia/Tokyo"


def test_the_beat_task_folds_every_product_and_moves_past_other_events(plugin):
    from analytics.tasks import fold_installs

    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    other = EventFactory(product=plugin, event="export_pdf", domain="a.com")
    assert fold_installs() == 10
    assert InstallState.objects.get(product=plugin).folded_through == other.id
    assert fold_installs() == 0
    check_expected(answer(plugin))


def test_the_rebuild_command_counts_again(plugin):
    from django.core.management import call_command

    store(plugin, plugin.lic, lifecycle(plugin, plugin.lic))
    installs_fold(product=plugin)
    InstallSite.objects.filter(product=plugin).update(active=False)  # damage the stored state
    call_command("rebuild_installs", plugin.public_id)
    assert InstallSite.objects.filter(product=plugin, active=True).count() == 2
    check_expected(answer(plugin))
