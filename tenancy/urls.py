from __future__ import annotations

from django.urls import path

from tenancy import apis

app_name = "tenancy"

urlpatterns = [
    path("v1/audit-log", apis.AuditLogApi.as_view(), name="audit-log"),
]
