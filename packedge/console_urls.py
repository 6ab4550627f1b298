"""The server-rendered console (namespace ``console``), mounted after the API routes."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from analytics import views as analytics_views
from events import views as events_views
from flags import views as flags_views
from packedge import views

app_name = "console"

ORG = "o/<slug:org_slug>/"
PRODUCT = ORG + "products/<str:product_id>/"
PROJECT = ORG + "projects/<str:project_id>/"

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path(ORG, views.organization, name="organization"),
    path(ORG + "api-keys/", views.api_keys, name="api-keys"),
    path(ORG + "api-keys/new", views.api_key_create, name="api-key-create"),
    path(ORG + "api-keys/<str:prefix>/revoke", views.api_key_revoke, name="api-key-revoke"),
    path(PRODUCT, events_views.product_overview, name="product"),
    path(PRODUCT + "licenses/", events_views.product_licenses, name="product-licenses"),
    path(PRODUCT + "settings/", events_views.product_settings, name="product-settings"),
    path(PRODUCT + "analytics/feature-usage/", analytics_views.feature_usage_tab, name="feature-usage"),
    path(PRODUCT + "analytics/feature-usage.csv", analytics_views.feature_usage_csv_download, name="feature-usage-csv"),
    path(PROJECT, flags_views.project_detail, name="project"),
    path(PROJECT + "flags/<str:flag_key>/", flags_views.flag_usage, name="flag-usage"),
]
