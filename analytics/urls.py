from __future__ import annotations

from django.urls import path

from analytics import apis

app_name = "analytics"

urlpatterns = [
    path("v1/products/<str:product_id>/analytics/feature-usage", apis.FeatureUsageApi.as_view(), name="feature-usage"),
    path(
        "v1/products/<str:product_id>/analytics/feature-usage.csv",
        apis.FeatureUsageCsvApi.as_view(),
        name="feature-usage-csv",
    ),
    path(
        "v1/products/<str:product_id>/licenses/<str:license_id>/usage",
        apis.LicenseUsageApi.as_view(),
        name="license-usage",
    ),
    path(
        "v1/products/<str:product_id>/analytics/features/<str:name>/licenses",
        apis.FeatureLicensesApi.as_view(),
        name="feature-licenses",
    ),
    path(
        "v1/products/<str:product_id>/analytics/features/<str:name>/licenses.csv",
        apis.FeatureLicensesCsvApi.as_view(),
        name="feature-licenses-csv",
    ),
    path(
        "v1/products/<str:product_id>/analytics/features/<str:name>/time-to-first-use",
        apis.TimeToFirstUseApi.as_view(),
        name="feature-time-to-first-use",
    ),
    path(
        "v1/products/<str:product_id>/analytics/license-sharing",
        apis.LicenseSharingApi.as_view(),
        name="license-sharing",
    ),
    path("v1/products/<str:product_id>/analytics/installs", apis.InstallsApi.as_view(), name="installs"),
    path(
        "v1/products/<str:product_id>/analytics/installs/feedback",
        apis.InstallsFeedbackApi.as_view(),
        name="installs-feedback",
    ),
    path("v1/products/<str:product_id>/analytics/installs.csv", apis.InstallsCsvApi.as_view(), name="installs-csv"),
]
