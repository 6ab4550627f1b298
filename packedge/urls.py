from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from console import auth as console_auth

urlpatterns = [
    path("admin/login/", console_auth.admin_login),  # the admin's sign-in, throttled like the console's
    path("admin/", admin.site.urls),
    path(
        "v1/openapi.json",
        SpectacularAPIView.as_view(
            renderer_classes=[OpenApiJsonRenderer], authentication_classes=[], permission_classes=[]
        ),
        name="openapi-schema",
    ),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="openapi-schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("", include("tenancy.urls")),
    path("", include("events.urls")),
    path("", include("flags.urls")),
    path("", include("analytics.urls")),
    path("", include("console.urls")),
]
