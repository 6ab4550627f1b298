from __future__ import annotations

import pytest

from events.models import Product
from tenancy.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_staff_create_and_rename_a_product_and_both_are_audited_as_staff(staff_client, org):
    response = staff_client.post(
        "/admin/events/product/add/", {"organization": org.pk, "name": "Backup Pro", "timezone": "UTC"}
    )
    assert response.status_code == 302
    product = Product.objects.get(name="Backup Pro")
    response = staff_client.post(
        f"/admin/events/product/{product.pk}/change/", {"name": "Backup Pro 2", "timezone": "Europe/Paris"}
    )
    assert response.status_code == 302

    entries = AuditEntry.objects.filter(target_id=product.public_id).order_by("pk")
    assert [(e.action, e.actor_type, e.actor_name) for e in entries] == [
        ("product.created", "staff", "staff"),
        ("product.updated", "staff", "staff"),
    ]
    assert entries[1].before == {"id": product.public_id, "name": "Backup Pro", "timezone": "UTC"}
    assert entries[1].after == {"id": product.public_id, "name": "Backup Pro 2", "timezone": "Europe/Paris"}


def test_staff_deleting_a_product_is_audited_as_staff(staff_client, org):
    from tests.events.factories import ProductFactory

    product = ProductFactory(organization=org, name="Backup Pro", timezone="UTC")
    assert staff_client.post(f"/admin/events/product/{product.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()
    entries = AuditEntry.objects.filter(target_id=product.public_id)
    assert [(e.action, e.actor_type, e.actor_name, e.before, e.after) for e in entries] == [
        (
            "product.deleted",
            "staff",
            "staff",
            {"id": product.public_id, "name": "Backup Pro", "timezone": "UTC"},
            None,
        )
    ]
