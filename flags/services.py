"""Writes for projects, environments, SDK keys and flags."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import keys
from core.errors import ApiError, NotFound
from core.identifiers import key_prefix_shaped
from core.models import Organization
from flags import definitions
from flags.definitions import EnvironmentSettings
from flags.models import Environment, Flag, FlagEnvironment, Project, SdkKey
from flags.ofrep_auth import forget_cached_keys
from flags.selectors import forget_compiled_flags

SDK_KEY_PREFIX = "sdk"


def project_create(*, organization: Organization, name: str) -> Project:
    return Project.objects.create(organization=organization, name=name)


def project_update(*, project: Project, name: str | None = None) -> Project:
    if name is not None and name != project.name:
        project.name = name
        project.save(update_fields=["name"])
    return project


@transaction.atomic
def environment_create(*, project: Project, name: str) -> tuple[Environment, str]:
    """A new environment and its first SDK key (returned raw, once). Existing flags start off in it."""
    try:
        with transaction.atomic():
            environment = Environment.objects.create(project=project, name=name)
    except IntegrityError:
        raise ApiError(
            f"name: an environment named '{name}' already exists in this project.", code="duplicate_name"
        ) from None
    FlagEnvironment.objects.bulk_create(
        FlagEnvironment(flag=flag, environment=environment, enabled=False, default_variant=flag.first_variant)
        for flag in Flag.objects.filter(project=project)
    )
    _, raw = sdk_key_create(environment=environment)
    return environment, raw


def sdk_key_create(*, environment: Environment) -> tuple[SdkKey, str]:
    for _ in range(5):
        raw = keys.new_secret(SDK_KEY_PREFIX)
        prefix = keys.display_prefix(raw)
        try:
            with transaction.atomic():
                key = SdkKey.objects.create(environment=environment, prefix=prefix, secret_hash=keys.hash_secret(raw))
            return key, raw
        except IntegrityError:
            continue  # two keys of one environment shared a display prefix: draw again
    raise RuntimeError("could not draw an SDK key with a fresh prefix")


def sdk_key_revoke(*, environment: Environment, prefix: str) -> SdkKey:
    key = None
    if key_prefix_shaped(prefix, kind=SDK_KEY_PREFIX):
        key = SdkKey.objects.filter(environment=environment, prefix=prefix).first()
    if key is None:
        raise NotFound(f"No SDK key '{prefix[:40]}' in this environment.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _forget_cached_configuration()
    return key


@transaction.atomic
def flag_create(
    *,
    project: Project,
    key: Any,
    type: str,
    variants: Any,
    description: str = "",
    environments: Any = None,
) -> Flag:
    key = definitions.clean_key(key)
    variants = definitions.clean_variants(type, variants)
    settings = _clean_environments(project=project, raw=environments or {}, variants=variants)
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                project=project, key=key, type=type, variants=variants, variant_order=list(variants),
                description=description,
            )
    except IntegrityError:
        raise ApiError(f"key: a flag with key '{key}' already exists in this project.", code="duplicate_key") from None
    first = next(iter(variants))
    FlagEnvironment.objects.bulk_create(
        _settings_row(flag, environment, settings.get(environment.pk))
        if environment.pk in settings
        else FlagEnvironment(flag=flag, environment=environment, enabled=False, default_variant=first)
        for environment in project.environments.all()
    )
    _configuration_changed(project=project)
    return flag


@transaction.atomic
def flag_update(
    *,
    flag: Flag,
    type: str | None = None,
    variants: Any = None,
    description: str | None = None,
    environments: Any = None,
) -> Flag:
    if type is not None and type != flag.type:
        raise ApiError("type: a flag's type cannot change; create a new flag instead.", code="invalid_request")
    new_variants = definitions.clean_variants(flag.type, variants) if variants is not None else flag.ordered_variants
    settings = _clean_environments(project=flag.project, raw=environments or {}, variants=new_variants)
    if variants is not None:
        # Environments left out keep their settings, which must still name existing variants.
        for row in FlagEnvironment.objects.filter(flag=flag).select_related("environment"):
            if row.environment_id not in settings:
                definitions.check_settings_against_variants(
                    EnvironmentSettings(row.enabled, row.default_variant, row.rules),
                    new_variants,
                    f"environments.{row.environment.public_id}",
                )
    flag.variants = new_variants
    flag.variant_order = list(new_variants)
    if description is not None:
        flag.description = description
    flag.updated_at = timezone.now()
    flag.save(update_fields=["variants", "variant_order", "description", "updated_at"])
    for environment_pk, cleaned in settings.items():
        _store_settings(flag=flag, environment_id=environment_pk, settings=cleaned)
    _configuration_changed(project=flag.project)
    return flag


@transaction.atomic
def flag_environment_set(*, flag: Flag, environment: Environment, settings: Any) -> Flag:
    cleaned = definitions.clean_environment_settings(settings, flag.ordered_variants, "body")
    _store_settings(flag=flag, environment_id=environment.pk, settings=cleaned)
    Flag.objects.filter(pk=flag.pk).update(updated_at=timezone.now())
    Environment.objects.filter(pk=environment.pk).update(config_version=F("config_version") + 1)
    _forget_cached_configuration()
    flag.refresh_from_db()
    return flag


@transaction.atomic
def flag_delete(*, flag: Flag) -> None:
    project = flag.project
    flag.delete()
    _configuration_changed(project=project)


def _clean_environments(*, project: Project, raw: Any, variants: dict) -> dict[int, EnvironmentSettings]:
    """Per-environment settings from a body, keyed by environment primary key."""
    if not isinstance(raw, dict):
        raise ApiError("environments: must be an object of environment id → settings.", code="invalid_request")
    by_public_id = {e.public_id: e.pk for e in Environment.objects.filter(project=project, public_id__in=list(raw))}
    cleaned = {}
    for public_id, settings in raw.items():
        if public_id not in by_public_id:
            raise NotFound(f"environments.{public_id}: no such environment in this project.")
        cleaned[by_public_id[public_id]] = definitions.clean_environment_settings(
            settings, variants, f"environments.{public_id}"
        )
    return cleaned


def _settings_row(flag: Flag, environment: Environment, settings: EnvironmentSettings) -> FlagEnvironment:
    return FlagEnvironment(
        flag=flag,
        environment=environment,
        enabled=settings.enabled,
        default_variant=settings.default_variant,
        rules=settings.rules,
    )


def _store_settings(*, flag: Flag, environment_id: int, settings: EnvironmentSettings) -> None:
    FlagEnvironment.objects.update_or_create(
        flag=flag,
        environment_id=environment_id,
        defaults={"enabled": settings.enabled, "default_variant": settings.default_variant, "rules": settings.rules},
    )


def _configuration_changed(*, project: Project) -> None:
    """Variants and rules are served from a cache keyed by this version: move it on."""
    Environment.objects.filter(project=project).update(config_version=F("config_version") + 1)
    _forget_cached_configuration()


def _forget_cached_configuration() -> None:
    """This process serves the change on its next request (other workers within a second).

    Once now and once after commit: a request running between the two could
    otherwise cache the rows as they were before the commit.
    """
    forget_cached_keys()
    forget_compiled_flags()
    transaction.on_commit(forget_cached_keys)
    transaction.on_commit(forget_compiled_flags)
