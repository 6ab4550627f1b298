from __future__ import annotations

import importlib

import factory
from django.apps import apps
from django.contrib.auth import get_user_model

from tenancy import keys
from tenancy.models import ApiKey, Membership, Organization, Plan


def ensure_plans() -> None:
    """Re-create the plans of the data migration: a transactional test's flush removes them."""
    migration = importlib.import_module("tenancy.migrations.0002_plans")
    migration.create_plans(apps, None)


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    is_paid = True
    flag_retention_days = 90


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    plan = factory.LazyFunction(lambda: ensure_plans() or Plan.objects.get(slug="pro"))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key whose raw secret is available as ``factory.raw`` only through services; here a random hash."""

    class Meta:
        model = ApiKey

    organization = factory.SubFactory(OrganizationFactory)
    name = "factory key"
    prefix = factory.LazyFunction(lambda: keys.display_prefix(keys.new_secret("sk")))
    secret_hash = factory.LazyFunction(lambda: keys.hash_secret(keys.new_secret("sk")))
