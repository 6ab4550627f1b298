"""Reads for projects, environments and flags, and the flag usage report (the flag usage contract).

The usage report has two halves so that the /v1 API and the console share it:
``parse_flag_usage_query`` turns query parameters into a checked, clamped
``FlagUsageQuery`` (or raises the API error), ``flag_usage`` reads the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from flags import fold, tail
from flags.evaluation import CompiledFlag
from flags.models import Environment, Flag, FlagEnvironment, FlagUsageDay, Project, SdkKey
from lib.errors import ApiError, NotFound
from lib.identifiers import flag_key_require, public_id_require, public_id_shaped
from lib.process_cache import ProcessCache
from lib.windows import days_ending
from tenancy.models import Organization

# Seed 002: "Defaults to 29 days ago" and "Maximum range is 90 days" (both ends included).
# The contract: `from` defaults to 29 days before `to`, i.e. the 30 days ending at `to`.
DEFAULT_WINDOW_DAYS = 30
MAX_RANGE_DAYS = 90


def project_list(*, organization: Organization) -> QuerySet[Project]:
    return Project.objects.filter(organization=organization).select_related("product")


def project_get(*, organization: Organization, project_id: str) -> Project:
    public_id_require(project_id, prefix="proj", message=f"No project '{project_id[:40]}' in this organization.")
    project = (
        Project.objects.select_related("organization__plan", "product")
        .filter(organization=organization, public_id=project_id)
        .first()
    )
    if project is None:
        raise NotFound(f"No project '{project_id}' in this organization.")
    return project


def environment_list(*, project: Project) -> QuerySet[Environment]:
    return Environment.objects.filter(project=project).prefetch_related(
        Prefetch("sdk_keys", queryset=SdkKey.objects.order_by("pk"))
    )


def environment_get(*, project: Project, environment_id: str) -> Environment:
    public_id_require(environment_id, prefix="env", message=f"No environment '{environment_id[:40]}' in this project.")
    environment = environment_list(project=project).filter(public_id=environment_id).first()
    if environment is None:
        raise NotFound(f"No environment '{environment_id}' in this project.")
    return environment


def environment_id_param(params: Mapping[str, str]) -> str:
    """The ``environmentId`` query parameter of the flag reports: required and ``env_…``-shaped, else 400."""
    environment_id = (params.get("environmentId") or "").strip()
    if not environment_id:
        raise ApiError("environmentId: required; the environment to report on.", code="invalid_request")
    if not public_id_shaped(environment_id, prefix="env"):
        raise ApiError("environmentId: not an environment id (env_…).", code="invalid_request")
    return environment_id


def environment_param_get(*, project: Project, params: Mapping[str, str]) -> Environment:
    """The project's environment named by ``environmentId``: 400 when missing or malformed, 404 when not found."""
    return _environment_of_param(project, environment_id_param(params))


def _environment_of_param(project: Project, environment_id: str) -> Environment:
    environment = Environment.objects.filter(project=project, public_id=environment_id).first()
    if environment is None:
        raise NotFound(f"environmentId: no environment '{environment_id}' in this project.")
    return environment


def flag_list(*, project: Project) -> QuerySet[Flag]:
    return Flag.objects.filter(project=project).prefetch_related(
        Prefetch("settings", queryset=FlagEnvironment.objects.select_related("environment").order_by("environment_id"))
    )


def flag_get(*, project: Project, flag_key: str, with_settings: bool = False) -> Flag:
    flag_key_require(flag_key, message=f"No flag '{flag_key[:100]}' in this project.")
    flags = flag_list(project=project) if with_settings else Flag.objects.filter(project=project)
    flag = flags.filter(key=flag_key).first()
    if flag is None:
        raise NotFound(f"No flag '{flag_key}' in this project.")
    return flag


def flag_get_with_project(*, organization: Organization, project_id: str, flag_key: str) -> Flag:
    """The flag with its project, organization and plan in one query (the usage report's hot path)."""
    public_id_require(project_id, prefix="proj", message=f"No project '{project_id[:40]}' in this organization.")
    flag_key_require(flag_key, message=f"No flag '{flag_key[:100]}' in this project.")
    flag = (
        Flag.objects.select_related("project__organization__plan")
        .filter(project__organization=organization, project__public_id=project_id, key=flag_key)
        .first()
    )
    if flag is None:
        project_get(organization=organization, project_id=project_id)  # 404 naming the project if it is that
        raise NotFound(f"No flag '{flag_key}' in this project.")
    return flag


@dataclass(frozen=True)
class FlagUsageQuery:
    project: Project
    flag: Flag
    environment: Environment
    date_from: date
    date_to: date
    clamped_from: bool


def utc_today() -> date:
    return timezone.now().astimezone(UTC).date()


def parse_flag_usage_query(
    *, project: Project, flag: Flag, params: Mapping[str, str], today: date | None = None
) -> FlagUsageQuery:
    """Check ``environmentId``, ``from`` and ``to`` as the flag usage contract says, then clamp ``from`` to the plan's retention."""
    today = today or utc_today()
    environment_id = environment_id_param(params)
    date_to = _parse_date(params, "to", default=today)
    # Without `from`, the window is the 30 days ending at `to` (today by default, as the flag usage contract says).
    date_from = _parse_date(params, "from", default=days_ending(date_to, days=DEFAULT_WINDOW_DAYS)[0])
    if date_from > date_to:
        raise ApiError(f"from: {date_from} is after to ({date_to}).", code="invalid_request")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(
            f"to: the range from {date_from} to {date_to} is over {MAX_RANGE_DAYS} days.", code="invalid_request"
        )
    environment = _environment_of_param(project, environment_id)
    earliest = today - timedelta(days=project.organization.plan.flag_retention_days - 1)
    clamped = date_from < earliest
    return FlagUsageQuery(
        project=project,
        flag=flag,
        environment=environment,
        date_from=earliest if clamped else date_from,
        date_to=date_to,
        clamped_from=clamped,
    )


def parse_flag_window(
    *, organization: Organization, params: Mapping[str, str], today: date | None = None
) -> tuple[date, date, bool]:
    """``from`` and ``to`` (UTC days) as for flag usage, ``from`` clamped to the plan's retention: (from, to, clamped)."""
    today = today or utc_today()
    date_to = _parse_date(params, "to", default=today)
    date_from = _parse_date(params, "from", default=days_ending(date_to, days=DEFAULT_WINDOW_DAYS)[0])
    if date_from > date_to:
        raise ApiError(f"from: {date_from} is after to ({date_to}).", code="invalid_request")
    if (date_to - date_from).days + 1 > MAX_RANGE_DAYS:
        raise ApiError(
            f"to: the range from {date_from} to {date_to} is over {MAX_RANGE_DAYS} days.", code="invalid_request"
        )
    earliest = today - timedelta(days=organization.plan.flag_retention_days - 1)
    return max(date_from, earliest), date_to, date_from < earliest


def _parse_date(params: Mapping[str, str], name: str, *, default: date) -> date:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise ApiError(f"{name}: '{raw}' is not a date in YYYY-MM-DD format.", code="invalid_request") from None


def flag_usage(query: FlagUsageQuery) -> dict:
    """Seed 002's body, unwrapped: one row per day with evaluations, ascending.

    Days the rollup has not counted in full (today, always) are read from their
    raw evaluations instead (flags/tail.py): the report is current within a
    recorder flush, and identical before and after the night's rollup.
    """
    from lib.snapshot import read_snapshot

    # One snapshot: the worker's fold and the raw rows above its watermark are read as of one moment.
    with read_snapshot():
        return _flag_usage(query)


def _flag_usage(query: FlagUsageQuery) -> dict:
    unrolled = tail.unrolled_days(
        flag_id=query.flag.pk, environment_id=query.environment.pk, date_from=query.date_from, date_to=query.date_to
    )
    rolled = (
        FlagUsageDay.objects.filter(
            flag=query.flag,
            environment=query.environment,
            date__gte=query.date_from,
            date__lte=query.date_to,
            total_evaluations__gt=0,
        )
        .exclude(date__in=unrolled)
        .values_list(
            "date", "total_evaluations", "value_distribution", "rule_match_count", "default_count", "error_count"
        )
    )
    rows = list(rolled)
    if unrolled:
        # A day the worker folded: its fold plus the raw rows above the watermark (flags/fold.py).
        live = fold.usage_totals(days=unrolled, flag_id=query.flag.pk, environment_id=query.environment.pk)
        rows += [
            (day, row["total"], tail.value_distribution(row["values"]), row["rule"], row["default"], row["error"])
            for (day, _, _), row in live.items()
            if row["total"] > 0
        ]
    rows.sort(key=lambda row: row[0])
    body: dict = {
        "flagKey": query.flag.key,
        "environmentId": query.environment.public_id,
        "from": query.date_from.isoformat(),
        "to": query.date_to.isoformat(),
    }
    if query.clamped_from:
        body["clampedFrom"] = True
    body["rows"] = [
        {
            "date": day.isoformat(),
            "totalEvaluations": total,
            "valueDistribution": distribution,
            "ruleMatchCount": rule_match,
            "defaultCount": default,
            "errorCount": error,
        }
        for day, total, distribution, rule_match, default, error in rows
    ]
    return body


# (environment id, config version) -> compiled flags: a new version is a new key, so entries never go stale.
_compiled: ProcessCache[dict[str, CompiledFlag]] = ProcessCache(
    "compiled flags", seconds=lambda: float("inf"), max_entries=2000
)


def environment_flags(*, environment_id: int, config_version: int) -> dict[str, CompiledFlag]:
    """Every flag of an environment ready to evaluate, cached until the environment's version moves."""
    return _compiled.get_or_load((environment_id, config_version), lambda: _compile(environment_id))


def _compile(environment_id: int) -> dict[str, CompiledFlag]:
    return {
        row.flag.key: CompiledFlag(
            id=row.flag_id,
            key=row.flag.key,
            type=row.flag.type,
            variants=row.flag.variants,
            enabled=row.enabled,
            default_variant=row.default_variant,
            rules=tuple(row.rules),
            off_variant=row.off_variant,
        )
        for row in FlagEnvironment.objects.filter(environment_id=environment_id).select_related("flag")
    }


def forget_compiled_flags() -> None:
    _compiled.clear()


def served_value_totals(rows: list[dict]) -> dict[str, int]:
    """Each served value's total over usage rows, largest first (then by value): the order charts and tables share."""
    totals: dict[str, int] = {}
    for row in rows:
        for value, count in row["valueDistribution"].items():
            totals[value] = totals.get(value, 0) + count
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))
