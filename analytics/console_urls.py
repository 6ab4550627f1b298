"""The product's Analytics tab (included by ``console.urls`` under ``o/<org>/products/<id>/``)."""

from __future__ import annotations

from django.urls import path

from analytics import installs_views, views

urlpatterns = [
    path("analytics/feature-usage/", views.feature_usage_tab, name="feature-usage"),
    path("analytics/feature-usage.csv", views.feature_usage_csv_download, name="feature-usage-csv"),
    path("analytics/installs/", installs_views.installs_tab, name="installs"),
    path("analytics/installs.csv", installs_views.installs_csv_download, name="installs-csv"),
]
