"""Console pages of a flag project (included by ``console.urls`` under ``o/<org>/projects/<id>/``)."""

from __future__ import annotations

from django.urls import path

from flags import views

urlpatterns = [
    path("", views.project_detail, name="project"),
    path("flags/<str:flag_key>/", views.flag_usage, name="flag-usage"),
]
