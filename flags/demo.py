"""Demo flags: a project with production and staging, flags of every type, 60 days of
evaluations served by the real evaluator from random contexts, and their rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.selectors import license_list, product_list
from flags import activity, rollup, selectors, services
from flags.evaluation import EvaluationError, evaluate
from flags.models import FlagEvaluation, Reason
from tenancy.demo import DemoContext

DAYS = 60
EVALUATIONS_PER_DAY = {"production": 300, "staging": 40}
PLANS = ["free", "free", "free", "pro", "pro", "team"]
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR"]


def _flags(production: str, staging: str) -> list[dict]:
    beta_split = [{"variant": "on", "weight": 20}, {"variant": "off", "weight": 80}]
    return [
        {
            "key": "new-checkout",
            "type": "boolean",
            "variants": {"off": False, "on": True},
            "environments": {
                production: {
                    "enabled": True,
                    "defaultVariant": "off",
                    "rules": [
                        {
                            "conditions": [{"attribute": "plan", "operator": "in", "value": ["pro", "team"]}],
                            "variant": "on",
                        },
                        {"conditions": [], "rollout": beta_split},
                    ],
                },
                staging: {"enabled": True, "defaultVariant": "on"},
            },
        },
        {
            "key": "banner-text",
            "type": "string",
            "variants": {"classic": "Welcome back!", "bold": "New: export to PDF in one click"},
            "environments": {
                production: {
                    "enabled": True,
                    "defaultVariant": "classic",
                    "rules": [
                        {
                            "conditions": [{"attribute": "country", "operator": "in", "value": ["US", "GB"]}],
                            "rollout": [{"variant": "classic", "weight": 50}, {"variant": "bold", "weight": 50}],
                        },
                    ],
                }
            },
        },
        {
            "key": "discount-percent",
            "type": "number",
            "variants": {"none": 0, "loyal": 10, "senior": 12.5},
            "environments": {
                production: {
                    "enabled": True,
                    "defaultVariant": "none",
                    "rules": [
                        {"conditions": [{"attribute": "age", "operator": "gte", "value": 65}], "variant": "senior"},
                        {"conditions": [{"attribute": "plan", "operator": "eq", "value": "team"}], "variant": "loyal"},
                    ],
                }
            },
        },
        {
            "key": "checkout-config",
            "type": "object",
            "variants": {
                "standard": {"steps": 3, "wallets": ["card"]},
                "express": {"steps": 1, "wallets": ["card", "paypal"]},
            },
            "environments": {
                production: {
                    "enabled": True,
                    "defaultVariant": "standard",
                    "rules": [
                        {
                            "conditions": [{"attribute": "email", "operator": "ends_with", "value": "@demo.example"}],
                            "variant": "express",
                        },
                    ],
                },
                staging: {"enabled": True, "defaultVariant": "express"},
            },
        },
        {
            "key": "dark-mode",
            "type": "boolean",
            "variants": {"off": False, "on": True},
            "environments": {production: {"enabled": False, "defaultVariant": "off"}},
        },
    ]


def seed(context: DemoContext) -> None:
    rng = context.rng
    project = services.project_create(organization=context.organization, name="Demo Shop")
    # Linked to the demo's first product: most demo users send one of its license keys.
    product = product_list(organization=context.organization).order_by("pk").first()
    license_keys = list(license_list(product=product).order_by("pk").values_list("key", flat=True)) if product else []
    if product:
        services.project_update(project=project, product=product)
    environments = {}
    for name in EVALUATIONS_PER_DAY:
        environment, raw_key = services.environment_create(project=project, name=name)
        environments[name] = environment
        context.summary.append(f"Flags SDK key ({project.name}, {name}, {environment.public_id}): {raw_key}")
    for definition in _flags(environments["production"].public_id, environments["staging"].public_id):
        services.flag_create(project=project, **definition)

    today = context.now.astimezone(UTC).date()
    days = [today - timedelta(days=back) for back in range(DAYS, 0, -1)]
    rows = []
    totals: activity.ActivityTotals = {}
    for name, per_day in EVALUATIONS_PER_DAY.items():
        environment = environments[name]
        environment.refresh_from_db()
        flags = list(
            selectors.environment_flags(
                environment_id=environment.pk, config_version=environment.config_version
            ).values()
        )
        flags.sort(key=lambda f: f.key)
        for day_number, day in enumerate(days):
            # usage grows over the two months, with quieter weekends
            volume = int(per_day * (0.6 + 0.6 * day_number / DAYS) * (0.6 if day.weekday() >= 5 else 1.0))
            for _ in range(volume):
                flag = rng.choice(flags)
                user = rng.randint(1, 2000)
                evaluation_context = {
                    "plan": rng.choice(PLANS),
                    "country": rng.choice(COUNTRIES),
                    "age": rng.randint(18, 80),
                    "email": f"user{user}@{'demo.example' if user % 10 == 0 else 'mail.example'}",
                }
                if rng.random() > 0.02:  # a few SDK calls forget the targeting key
                    evaluation_context["targetingKey"] = f"user-{user}"
                if license_keys and user % 4:
                    evaluation_context["licenseKey"] = license_keys[user % len(license_keys)]
                at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86399))
                try:
                    resolution = evaluate(flag, evaluation_context)
                    value, reason, variant = resolution.value_key, resolution.reason, resolution.variant
                except EvaluationError:
                    value, reason, variant = None, Reason.ERROR, None
                rows.append(
                    FlagEvaluation(
                        environment_id=environment.pk,
                        flag_id=flag.id,
                        value=value,
                        reason=reason,
                        evaluated_at=at,
                        day=day,
                        variant=variant,
                        targeting_key=evaluation_context.get("targetingKey", ""),
                        license_key=evaluation_context.get("licenseKey", ""),
                    )
                )
                # What the recorder's flush would have added: health and sparklines read it.
                activity.add(totals, (environment.pk, flag.id, day, variant or ""), 1, at)
    FlagEvaluation.objects.bulk_create(rows, batch_size=2000)
    activity.activity_add(totals)
    rolled = rollup.rollup_days(days)
    context.summary.append(
        f"Flags project {project.name} ({project.public_id}): {project.flags.count()} flags, "
        f"{rolled.evaluations:,} evaluations over {DAYS} days rolled up into {rolled.rows:,} daily rows"
    )
