"""What one lifecycle event does to a site, and to the figures: the rule shared by the fold and the read.

Events apply in the order PackEdge stored them (their id); each is dated by its own
timestamp, in the product's time zone. The rules for repeated events (docs/installs.md):

- an install of a site that is not active counts as an install (a first install or a
  reinstall) and makes it active;
- an install of a site already active is no new install: it refreshes the site's
  environment, plugins and license;
- an uninstall of an active site counts as an uninstall and makes it inactive;
- an uninstall of a site never seen counts as an uninstall (it happened) but never
  changed the active count (the site was never counted active);
- an uninstall of a site already inactive is a repeat: not counted.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from analytics.installs.models import (
    FEEDBACK_MAX_LENGTH,
    PLUGIN_MAX_LENGTH,
    REASON_MAX_LENGTH,
    VERSION_MAX_LENGTH,
)
from lib.text import has_control_characters

INSTALL_EVENTS = ("product.installed", "product.activated")
UNINSTALL_EVENTS = ("product.uninstalled", "product.deactivated")
LIFECYCLE_EVENTS = INSTALL_EVENTS + UNINSTALL_EVENTS
# A site keeps at most this many co-installed plugins (the rest of a huge list is dropped).
MAX_PLUGINS = 200
INSTALLED, UNINSTALLED = "installed", "uninstalled"
SECONDS_PER_DAY = 86400


@dataclass
class Site:
    """The fields of an ``InstallSite`` row the rules read and write."""

    domain: str
    active: bool = False
    first_installed_at: datetime | None = None
    installed_at: datetime | None = None
    last_event: str = ""
    last_event_at: datetime | None = None
    last_event_id: int = 0
    installs: int = 0
    uninstalls: int = 0
    license_id: int | None = None
    license_key: str = ""
    php: str = ""
    platform: str = ""
    plugins: list[str] = field(default_factory=list)
    pk: tuple | None = None  # the stored row's (product, domain); None: not stored yet
    changed: bool = False


@dataclass(frozen=True)
class UninstallRow:
    event_id: int
    domain: str
    day: date
    occurred_at: datetime
    reason: str
    feedback: str
    license_id: int | None
    license_key: str
    days_installed: int | None

    @property
    def search_text(self) -> str:
        return search_text(self.reason, self.feedback, self.domain)


def search_text(reason: str, feedback: str, domain: str) -> str:
    return "\n".join((reason, feedback, domain)).casefold()


@dataclass
class Changes:
    """What a run of lifecycle events adds to the folded figures."""

    days: dict[date, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    counts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    uninstalls: list[UninstallRow] = field(default_factory=list)
    without_site: int = 0


# The columns of Changes.days, in InstallDay's order.
DAY_COLUMNS = ("installs", "installs_licensed", "uninstalls", "active_change")


@dataclass(frozen=True)
class LifecycleEvent:
    id: int
    event: str
    domain: str
    occurred_at: datetime
    properties: object
    license_id: int | None
    license_key: str


def apply_event(site: Site | None, event: LifecycleEvent, changes: Changes, *, zone: tzinfo) -> Site | None:
    """Apply one lifecycle event to its site (None: not seen yet); returns the site's new state."""
    if not event.domain:
        changes.without_site += 1
        return site
    day = event.occurred_at.astimezone(zone).date()
    properties = event.properties if isinstance(event.properties, dict) else {}
    if site is None:
        site = Site(domain=event.domain)
    site.changed = True
    was_active = site.active
    if event.event in INSTALL_EVENTS:
        if was_active:
            _count_active(site, changes, -1)
        else:
            site.installs += 1
            site.installed_at = event.occurred_at
            if site.first_installed_at is None:
                site.first_installed_at = event.occurred_at
            row = changes.days[day]
            row[0] += 1
            row[1] += 1 if event.license_id is not None else 0
            row[3] += 1
        site.active = True
        site.license_id, site.license_key = event.license_id, event.license_key
        site.php, site.platform, site.plugins = environment(properties)
        _count_active(site, changes, +1)
        site.last_event = INSTALLED
    else:
        if was_active or site.last_event == "":
            if was_active:
                _count_active(site, changes, -1)
                changes.days[day][3] -= 1
            changes.days[day][2] += 1
            site.uninstalls += 1
            days_installed = None
            if was_active and site.installed_at is not None:
                seconds = (event.occurred_at - site.installed_at).total_seconds()
                days_installed = max(0, int(seconds // SECONDS_PER_DAY))
            has_license = event.license_id is not None or bool(event.license_key)
            changes.uninstalls.append(
                UninstallRow(
                    event_id=event.id,
                    domain=event.domain,
                    day=day,
                    occurred_at=event.occurred_at,
                    reason=text_value(properties.get("reason"), REASON_MAX_LENGTH),
                    feedback=text_value(properties.get("feedback"), FEEDBACK_MAX_LENGTH),
                    license_id=event.license_id if has_license else site.license_id,
                    license_key=event.license_key if has_license else site.license_key,
                    days_installed=days_installed,
                )
            )
        site.active = False
        site.last_event = UNINSTALLED
    site.last_event_at = event.occurred_at
    site.last_event_id = event.id
    return site


def _count_active(site: Site, changes: Changes, sign: int) -> None:
    counts = changes.counts
    counts[("php", site.php)] += sign
    counts[("wp", site.platform)] += sign
    for plugin in site.plugins:
        counts[("plugin", plugin)] += sign
    counts[("licensed", "yes" if site.license_id is not None else "no")] += sign
    if site.license_id is not None:
        counts[("license", str(site.license_id))] += sign


def environment(properties: dict) -> tuple[str, str, list[str]]:
    """(PHP version, WordPress or platform version, plugins) of an install event, whatever it sent.

    Anything else than text or a number reads as unknown (''); a plugin is a name, or an
    object with a ``name`` or ``slug``; long values are cut, a huge list is kept to MAX_PLUGINS.
    """
    env = properties.get("env")
    env = env if isinstance(env, dict) else {}
    php = version_value(env.get("php"))
    platform = version_value(env.get("wp") if env.get("wp") is not None else env.get("platform"))
    raw = properties.get("plugins")
    if raw is None:
        raw = env.get("plugins")
    plugins: list[str] = []
    seen: set[str] = set()
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, dict):
            item = item.get("name") if item.get("name") is not None else item.get("slug")
        name = text_value(item, PLUGIN_MAX_LENGTH).strip()
        if name and name not in seen:
            seen.add(name)
            plugins.append(name)
            if len(plugins) >= MAX_PLUGINS:
                break
    return php, platform, plugins


def version_value(value) -> str:
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        value = json.dumps(value)
    return text_value(value, VERSION_MAX_LENGTH).strip()


def text_value(value, max_length: int) -> str:
    """Text as stored: '' for anything that is not text; control characters dropped, cut to max_length."""
    if not isinstance(value, str):
        return ""
    if has_control_characters(value):
        value = "".join(ch for ch in value if ch.isprintable() or ch in "\n\t")
    return value[:max_length]
