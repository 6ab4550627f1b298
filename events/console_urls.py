"""Console pages of a product (included by ``console.urls`` under ``o/<org>/products/<id>/``)."""

from __future__ import annotations

from django.urls import path

from events import views

urlpatterns = [
    path("", views.product_overview, name="product"),
    path("licenses/", views.product_licenses, name="product-licenses"),
    path("settings/", views.product_settings, name="product-settings"),
]
