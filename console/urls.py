"""The server-rendered console (namespace ``console``), mounted after the API routes.

The console's own pages are here; each feature app keeps its pages' routes in
its ``console_urls`` module, included into the same namespace so that every
console URL is reversed as ``console:<name>``.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from console import auth, customers, members, views

app_name = "console"

ORG = "o/<slug:org_slug>/"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path(ORG, views.organization, name="organization"),
    path(ORG + "api-keys/", views.api_keys, name="api-keys"),
    path(ORG + "api-keys/new", views.api_key_create, name="api-key-create"),
    path(ORG + "api-keys/<str:prefix>/revoke", views.api_key_revoke, name="api-key-revoke"),
    path(ORG + "members/", members.members_page, name="members"),
    path(ORG + "members/invite", members.member_invite, name="member-invite"),
    path(ORG + "members/<int:member_id>/role", members.member_role, name="member-role"),
    path(ORG + "members/<int:member_id>/remove", members.member_remove, name="member-remove"),
    path("invite/<str:token>/", members.invitation_accept, name="invitation-accept"),
    path(ORG + "products/<str:product_id>/", include("events.console_urls")),
    path(ORG + "products/<str:product_id>/", include("analytics.console_urls")),
    path(ORG + "products/<str:product_id>/customers/<str:license_id>/", customers.customer_page, name="customer"),
    path(
        ORG + "products/<str:product_id>/analytics/features/<str:name>/licenses.csv",
        customers.feature_licenses_csv,
        name="feature-licenses-csv",
    ),
    path(ORG + "projects/<str:project_id>/", include("flags.console_urls")),
]
