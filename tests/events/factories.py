from __future__ import annotations

import factory
from django.utils import timezone

from events.models import Event, EventUuid, License, Product
from tests.tenancy.factories import OrganizationFactory


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Product {n}")
    timezone = "UTC"


class LicenseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = License

    product = factory.SubFactory(ProductFactory)
    key = factory.Sequence(lambda n: f"KEY-{n:04d}-TEST")
    customer_email = factory.Sequence(lambda n: f"customer{n}@example.com")
    status = License.Status.ACTIVE


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event
        skip_postgeneration_save = True

    product = factory.SubFactory(ProductFactory)
    event = "export_pdf"
    feature = factory.LazyAttribute(lambda o: o.event)
    occurred_at = factory.LazyFunction(timezone.now)
    domain = "customer.example.com"

    @factory.post_generation
    def remember_uuid(obj, create, extracted, **kwargs):
        # As ingestion does: a stored uuid is what makes a retry of it a no-op.
        if create and obj.uuid is not None:
            EventUuid.objects.get_or_create(product=obj.product, uuid=obj.uuid)
