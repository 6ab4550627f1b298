from __future__ import annotations

from django.urls import path

from events import apis, public_apis

app_name = "events"

urlpatterns = [
    path("public/v1/event", public_apis.event_create, name="event-create"),
    path("public/v1/events", public_apis.event_batch_create, name="event-batch-create"),
    path("v1/products", apis.ProductListApi.as_view(), name="product-list"),
    path("v1/products/<str:product_id>", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("v1/products/<str:product_id>/licenses", apis.LicenseListApi.as_view(), name="license-list"),
    path(
        "v1/products/<str:product_id>/licenses/<str:license_id>",
        apis.LicenseDetailApi.as_view(),
        name="license-detail",
    ),
]
