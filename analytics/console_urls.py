"""The product's Analytics tab (included by ``console.urls`` under ``o/<org>/products/<id>/``)."""

from __future__ import annotations

from django.urls import path

from analytics import views

urlpatterns = [
    path("analytics/feature-usage/", views.feature_usage_tab, name="feature-usage"),
    path("analytics/feature-usage.csv", views.feature_usage_csv_download, name="feature-usage-csv"),
]
