"""What the audit log keeps of projects, environments, SDK keys and flags: public ids, names, settings — never a secret."""

from __future__ import annotations

from flags.models import Environment, Flag, FlagEnvironment, Project, SdkKey
from tenancy.audit import Actor, audit_record


def project_snapshot(project: Project) -> dict:
    return {
        "id": project.public_id,
        "name": project.name,
        "productId": project.product.public_id if project.product_id else None,
    }


def environment_snapshot(environment: Environment) -> dict:
    return {"id": environment.public_id, "name": environment.name}


def sdk_key_snapshot(key: SdkKey) -> dict:
    """The display prefix only: the secret is never stored, its hash never leaves the table."""
    return {"prefix": key.prefix, "environmentId": key.environment.public_id, "revokedAt": key.revoked_at}


def settings_snapshot(row: FlagEnvironment | None) -> dict | None:
    if row is None:
        return None
    return {
        "enabled": row.enabled,
        "defaultVariant": row.default_variant,
        "offVariant": row.off_variant,
        "rules": row.rules,
    }


def flag_snapshot(flag: Flag) -> dict:
    """A flag as the API shows it, per-environment settings included."""
    rows = FlagEnvironment.objects.filter(flag=flag).select_related("environment").order_by("environment_id")
    return {
        "key": flag.key,
        "type": flag.type,
        "description": flag.description,
        "variants": flag.ordered_variants,
        "environments": {row.environment.public_id: settings_snapshot(row) for row in rows},
    }


def audit_project_change(
    project: Project, actor: Actor, action: str, target_type: str, target_id: str, before, after
) -> None:
    """One audit entry about the project or something in it (its history page reads them by project id)."""
    audit_record(
        organization=project.organization,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        project_id=project.public_id,
        before=before,
        after=after,
    )
