from __future__ import annotations

from datetime import UTC, datetime

import factory

from flags import services
from flags.models import Environment, FlagEvaluation, Project, Reason
from tests.tenancy.factories import OrganizationFactory


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"env-{n}")


def environment_with_key(project: Project, name: str = "production") -> tuple[Environment, str]:
    return services.environment_create(project=project, name=name)


def boolean_flag(project: Project, key: str = "new-checkout", environments: dict | None = None):
    """A boolean flag with variants on/off; ``environments`` maps environment public id → settings."""
    return services.flag_create(
        project=project, key=key, type="boolean", variants={"on": True, "off": False}, environments=environments or {}
    )


def evaluation(environment, flag, *, at: datetime, value: str | None = "true", reason: int = Reason.DEFAULT):
    return FlagEvaluation.objects.create(
        environment=environment,
        flag=flag,
        value=value,
        reason=reason,
        evaluated_at=at,
        day=at.astimezone(UTC).date(),
    )
