from __future__ import annotations

from django.urls import path, re_path

from flags import apis, ofrep_apis, ofrep_tracking, public_apis

app_name = "flags"

PROJECT = "v1/projects/<str:project_id>"
FLAG = f"{PROJECT}/flags/<str:flag_key>"

urlpatterns = [
    path("v1/projects", apis.ProjectListApi.as_view(), name="project-list"),
    path(PROJECT, apis.ProjectDetailApi.as_view(), name="project-detail"),
    path(f"{PROJECT}/environments", apis.EnvironmentListApi.as_view(), name="environment-list"),
    path(
        f"{PROJECT}/environments/<str:environment_id>", apis.EnvironmentDetailApi.as_view(), name="environment-detail"
    ),
    path(f"{PROJECT}/environments/<str:environment_id>/sdk-keys", apis.SdkKeyListApi.as_view(), name="sdk-key-list"),
    path(
        f"{PROJECT}/environments/<str:environment_id>/sdk-keys/<str:prefix>",
        apis.SdkKeyDetailApi.as_view(),
        name="sdk-key-detail",
    ),
    path(f"{PROJECT}/flags", apis.FlagListApi.as_view(), name="flag-list"),
    path(FLAG, apis.FlagDetailApi.as_view(), name="flag-detail"),
    path(f"{FLAG}/usage", apis.FlagUsageApi.as_view(), name="flag-usage"),
    path(f"{FLAG}/environments/<str:environment_id>", apis.FlagEnvironmentApi.as_view(), name="flag-environment"),
    path(f"{FLAG}/exposure", apis.FlagExposureApi.as_view(), name="flag-exposure"),
    path(f"{FLAG}/effect", apis.FlagEffectApi.as_view(), name="flag-effect"),
    path(
        "v1/products/<str:product_id>/licenses/<str:license_id>/flags",
        apis.LicenseFlagsApi.as_view(),
        name="license-flags",
    ),
    path(f"{PROJECT}/unknown-flags", apis.UnknownFlagListApi.as_view(), name="unknown-flag-list"),
    path("ofrep/v1/configuration", ofrep_apis.ConfigurationApi.as_view(), name="ofrep-configuration"),
    path("public/v1/flag-evaluations", public_apis.flag_evaluations_create, name="flag-evaluations"),
    path("ofrep/v1/evaluate/flags", ofrep_apis.EvaluateFlagsApi.as_view(), name="ofrep-evaluate-flags"),
    # <path:>: a key with "/" reaches the view and answers OFREP's FLAG_NOT_FOUND, not the site's HTML 404.
    path("ofrep/v1/evaluate/flags/<path:key>", ofrep_apis.EvaluateFlagApi.as_view(), name="ofrep-evaluate-flag"),
    path("ofrep/v1/track", ofrep_tracking.TrackApi.as_view(), name="ofrep-track"),
    re_path(r"^ofrep/", ofrep_apis.endpoint_not_found, name="ofrep-not-found"),
]
