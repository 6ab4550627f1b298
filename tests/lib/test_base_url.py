from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from lib.base_url import public_base_url


def request_to(host: str, *, secure: bool = False):
    return RequestFactory().get("/o/acme/", HTTP_HOST=host, secure=secure)


@override_settings(PUBLIC_BASE_URL="", ALLOWED_HOSTS=["console.example.org"])
def test_it_uses_the_requests_own_origin_when_public_base_url_is_unset():
    base = public_base_url(request_to("console.example.org", secure=True))
    assert base.url == "https://console.example.org"
    assert base.configured is False
    assert base.differs is False


@override_settings(PUBLIC_BASE_URL="https://edge.example.net/", ALLOWED_HOSTS=["127.0.0.1"])
def test_it_prefers_public_base_url_and_says_it_differs_from_the_console():
    base = public_base_url(request_to("127.0.0.1:8120"))
    assert base.url == "https://edge.example.net"  # the trailing slash dropped: snippets append paths
    assert base.request_origin == "http://127.0.0.1:8120"
    assert base.configured is True
    assert base.differs is True


@pytest.mark.parametrize("configured", ["http://127.0.0.1:8120", "http://127.0.0.1:8120/", "  http://127.0.0.1:8120 "])
def test_it_does_not_warn_when_public_base_url_is_where_the_console_runs(configured):
    with override_settings(PUBLIC_BASE_URL=configured, ALLOWED_HOSTS=["127.0.0.1"]):
        base = public_base_url(request_to("127.0.0.1:8120"))
    assert base.url == "http://127.0.0.1:8120"
    assert base.differs is False
