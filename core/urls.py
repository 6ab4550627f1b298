from __future__ import annotations

from django.urls import path

from core import apis

app_name = "core"

urlpatterns = [
    path("v1/audit-log", apis.AuditLogApi.as_view(), name="audit-log"),
]
