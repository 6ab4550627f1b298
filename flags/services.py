"""Writes for projects, environments, SDK keys and flags."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from events.models import Product
from flags import definitions
from flags.definitions import EnvironmentSettings
from flags.models import Environment, Flag, FlagEnvironment, Project, SdkKey, natural_off_variant
from flags.ofrep_auth import forget_cached_keys
from flags.selectors import forget_compiled_flags
from flags.snapshots import audit_project_change as _audit
from flags.snapshots import environment_snapshot, flag_snapshot, project_snapshot, sdk_key_snapshot, settings_snapshot
from lib.errors import ApiError, NotFound
from lib.identifiers import key_prefix_shaped
from tenancy import keys
from tenancy.audit import SYSTEM, Actor
from tenancy.models import Organization

SDK_KEY_PREFIX = "sdk"


@transaction.atomic
def project_create(*, organization: Organization, name: str, actor: Actor = SYSTEM) -> Project:
    project = Project.objects.create(organization=organization, name=name)
    _audit(project, actor, "project.created", "project", project.public_id, None, project_snapshot(project))
    return project


UNCHANGED: Any = object()


@transaction.atomic
def project_update(
    *, project: Project, name: str | None = None, product: Product | None = UNCHANGED, actor: Actor = SYSTEM
) -> Project:
    """``product``: the product whose licenses exposure matches (same organization), None to unlink."""
    before = project_snapshot(project)
    changed = []
    if name is not None and name != project.name:
        project.name = name
        changed.append("name")
    if product is not UNCHANGED and product != project.product:
        if product is not None and product.organization_id != project.organization_id:
            raise NotFound(f"productId: no product '{product.public_id}' in this organization.")
        project.product = product
        changed.append("product")
    if changed:
        project.save(update_fields=changed)
    _audit(project, actor, "project.updated", "project", project.public_id, before, project_snapshot(project))
    return project


@transaction.atomic
def environment_create(*, project: Project, name: str, actor: Actor = SYSTEM) -> tuple[Environment, str]:
    """A new environment and its first SDK key (returned raw, once). Existing flags start off in it."""
    try:
        with transaction.atomic():
            environment = Environment.objects.create(project=project, name=name)
    except IntegrityError:
        raise ApiError(
            f"name: an environment named '{name}' already exists in this project.", code="duplicate_name"
        ) from None
    FlagEnvironment.objects.bulk_create(
        FlagEnvironment(
            flag=flag,
            environment=environment,
            enabled=False,
            default_variant=flag.first_variant,
            off_variant=flag.natural_off_variant,
        )
        for flag in Flag.objects.filter(project=project)
    )
    _audit(
        project,
        actor,
        "environment.created",
        "environment",
        environment.public_id,
        None,
        environment_snapshot(environment),
    )
    _, raw = sdk_key_create(environment=environment, actor=actor)
    return environment, raw


@transaction.atomic
def environment_update(*, environment: Environment, name: str, actor: Actor = SYSTEM) -> Environment:
    """Renaming (the admin's only change to an environment)."""
    before = environment_snapshot(environment)
    environment.name = name
    environment.save(update_fields=["name"])
    _audit(
        environment.project,
        actor,
        "environment.updated",
        "environment",
        environment.public_id,
        before,
        environment_snapshot(environment),
    )
    return environment


@transaction.atomic
def project_delete(*, project: Project, actor: Actor = SYSTEM) -> None:
    """The project with its environments, SDK keys, flags and their evaluations (the admin's, not the API's)."""
    _audit(project, actor, "project.deleted", "project", project.public_id, project_snapshot(project), None)
    project.delete()
    _forget_cached_configuration()


@transaction.atomic
def environment_delete(*, environment: Environment, actor: Actor = SYSTEM) -> None:
    """The environment with its SDK keys and its flags' settings there (the admin's, not the API's)."""
    snapshot = environment_snapshot(environment)
    _audit(environment.project, actor, "environment.deleted", "environment", environment.public_id, snapshot, None)
    environment.delete()
    _forget_cached_configuration()


@transaction.atomic
def sdk_key_delete(*, key: SdkKey, actor: Actor = SYSTEM) -> None:
    project = key.environment.project
    _audit(project, actor, "sdk_key.deleted", "sdk_key", key.prefix, sdk_key_snapshot(key), None)
    key.delete()
    _forget_cached_configuration()


@transaction.atomic
def sdk_key_create(*, environment: Environment, actor: Actor = SYSTEM) -> tuple[SdkKey, str]:
    for _ in range(5):
        raw = keys.new_secret(SDK_KEY_PREFIX)
        prefix = keys.display_prefix(raw)
        try:
            with transaction.atomic():
                key = SdkKey.objects.create(environment=environment, prefix=prefix, secret_hash=keys.hash_secret(raw))
        except IntegrityError:
            continue  # two keys of one environment shared a display prefix: draw again
        _audit(environment.project, actor, "sdk_key.created", "sdk_key", key.prefix, None, sdk_key_snapshot(key))
        return key, raw
    raise RuntimeError("could not draw an SDK key with a fresh prefix")


@transaction.atomic
def sdk_key_revoke(*, environment: Environment, prefix: str, actor: Actor = SYSTEM) -> SdkKey:
    key = None
    if key_prefix_shaped(prefix, kind=SDK_KEY_PREFIX):
        key = SdkKey.objects.filter(environment=environment, prefix=prefix).first()
    if key is None:
        raise NotFound(f"No SDK key '{prefix[:40]}' in this environment.")
    if key.revoked_at is None:
        before = sdk_key_snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _audit(environment.project, actor, "sdk_key.revoked", "sdk_key", key.prefix, before, sdk_key_snapshot(key))
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
    off_variant: Any = None,
    actor: Actor = SYSTEM,
) -> Flag:
    key = definitions.clean_key(key)
    type = definitions.clean_type(type)
    description = definitions.clean_description(description)
    variants = definitions.clean_variants(type, variants)
    off = (
        natural_off_variant(type, variants)
        if off_variant is None
        else definitions.clean_off_variant(off_variant, variants)
    )
    settings = _clean_environments(project=project, raw=environments or {}, variants=variants, off_variant=off)
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                project=project,
                key=key,
                type=type,
                variants=variants,
                variant_order=list(variants),
                description=description,
            )
    except IntegrityError:
        raise ApiError(f"key: a flag with key '{key}' already exists in this project.", code="duplicate_key") from None
    first = next(iter(variants))
    FlagEnvironment.objects.bulk_create(
        _settings_row(flag, environment, settings.get(environment.pk))
        if environment.pk in settings
        else FlagEnvironment(flag=flag, environment=environment, enabled=False, default_variant=first, off_variant=off)
        for environment in project.environments.all()
    )
    _audit(project, actor, "flag.created", "flag", flag.public_id, None, flag_snapshot(flag))
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
    actor: Actor = SYSTEM,
) -> Flag:
    if type is not None and type != flag.type:
        raise ApiError("type: a flag's type cannot change; create a new flag instead.", code="invalid_request")
    new_variants = definitions.clean_variants(flag.type, variants) if variants is not None else flag.ordered_variants
    settings = _clean_environments(project=flag.project, raw=environments or {}, variants=new_variants, flag=flag)
    if variants is not None:
        # Environments left out keep their settings, which must still name existing variants.
        for row in FlagEnvironment.objects.filter(flag=flag).select_related("environment"):
            if row.environment_id not in settings:
                definitions.check_settings_against_variants(
                    EnvironmentSettings(row.enabled, row.default_variant, row.rules, row.off_variant),
                    new_variants,
                    f"environments.{row.environment.public_id}",
                )
    before = flag_snapshot(flag)
    flag.variants = new_variants
    flag.variant_order = list(new_variants)
    if description is not None:
        flag.description = definitions.clean_description(description)
    flag.updated_at = timezone.now()
    flag.save(update_fields=["variants", "variant_order", "description", "updated_at"])
    for environment_pk, cleaned in settings.items():
        _store_settings(flag=flag, environment_id=environment_pk, settings=cleaned)
    _audit(flag.project, actor, "flag.updated", "flag", flag.public_id, before, flag_snapshot(flag))
    _configuration_changed(project=flag.project)
    return flag


@transaction.atomic
def flag_environment_set(*, flag: Flag, environment: Environment, settings: Any, actor: Actor = SYSTEM) -> Flag:
    stored = FlagEnvironment.objects.filter(flag=flag, environment=environment).first()
    cleaned = definitions.clean_environment_settings(
        settings, flag.ordered_variants, "body", off_variant=stored.off_variant if stored else ""
    )
    before = settings_snapshot(stored)
    _store_settings(flag=flag, environment_id=environment.pk, settings=cleaned)
    after = settings_snapshot(FlagEnvironment.objects.get(flag=flag, environment=environment))
    where = {"environmentId": environment.public_id}
    _audit(
        flag.project,
        actor,
        "flag.environment_updated",
        "flag",
        flag.public_id,
        {**where, **before} if before else where,
        {**where, **after},
    )
    Flag.objects.filter(pk=flag.pk).update(updated_at=timezone.now())
    Environment.objects.filter(pk=environment.pk).update(config_version=F("config_version") + 1)
    _forget_cached_configuration()
    flag.refresh_from_db()
    return flag


@transaction.atomic
def flag_delete(*, flag: Flag, actor: Actor = SYSTEM) -> None:
    project = flag.project
    _audit(project, actor, "flag.deleted", "flag", flag.public_id, flag_snapshot(flag), None)
    flag.delete()
    _configuration_changed(project=project)


def _clean_environments(
    *, project: Project, raw: Any, variants: dict, off_variant: str = "", flag: Flag | None = None
) -> dict[int, EnvironmentSettings]:
    """Per-environment settings from a body, keyed by environment primary key."""
    if not isinstance(raw, dict):
        raise ApiError("environments: must be an object of environment id → settings.", code="invalid_request")
    by_public_id = {e.public_id: e.pk for e in Environment.objects.filter(project=project, public_id__in=list(raw))}
    stored_off = (
        dict(FlagEnvironment.objects.filter(flag=flag).values_list("environment_id", "off_variant")) if flag else {}
    )
    cleaned = {}
    for public_id, settings in raw.items():
        if public_id not in by_public_id:
            raise NotFound(f"environments.{public_id}: no such environment in this project.")
        pk = by_public_id[public_id]
        cleaned[pk] = definitions.clean_environment_settings(
            settings, variants, f"environments.{public_id}", off_variant=stored_off.get(pk, off_variant)
        )
    return cleaned


def _settings_row(flag: Flag, environment: Environment, settings: EnvironmentSettings) -> FlagEnvironment:
    return FlagEnvironment(
        flag=flag,
        environment=environment,
        enabled=settings.enabled,
        default_variant=settings.default_variant,
        off_variant=settings.off_variant,
        rules=settings.rules,
    )


def _store_settings(*, flag: Flag, environment_id: int, settings: EnvironmentSettings) -> None:
    FlagEnvironment.objects.update_or_create(
        flag=flag,
        environment_id=environment_id,
        defaults={
            "enabled": settings.enabled,
            "default_variant": settings.default_variant,
            "off_variant": settings.off_variant,
            "rules": settings.rules,
        },
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
