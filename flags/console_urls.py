"""Console pages of a flag project (included by ``console.urls`` under ``o/<org>/projects/<id>/``)."""

from __future__ import annotations

from django.urls import path

from flags import connect_views, views

FLAG = "flags/<str:flag_key>/"
ENVIRONMENT = "environments/<str:environment_id>/"

urlpatterns = [
    path("", views.project_detail, name="project"),
    path("history/", views.project_history, name="project-history"),
    # not under flags/: "new" is a valid flag key
    path("new-flag/", views.flag_create, name="flag-create"),
    path(FLAG, views.flag_usage, name="flag-usage"),
    path(FLAG + "settings/", views.flag_settings, name="flag-settings"),
    path(FLAG + "environments/<str:environment_id>/", views.flag_environment, name="flag-environment"),
    path(FLAG + "delete/", views.flag_delete, name="flag-delete"),
    path(FLAG + "history/", views.flag_history, name="flag-history"),
    path(ENVIRONMENT + "connect/", connect_views.environment_connect, name="environment-connect"),
    path(ENVIRONMENT + "sdk-keys/new/", connect_views.sdk_key_create, name="sdk-key-create"),
    path(ENVIRONMENT + "sdk-keys/<str:prefix>/revoke/", connect_views.sdk_key_revoke, name="sdk-key-revoke"),
]
