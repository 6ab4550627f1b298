"""The address snippets in the console point at: one answer for every page that shows one."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class BaseUrl:
    url: str  # no trailing slash: snippets append /public/v1/event, /ofrep/v1/…
    request_origin: str
    configured: bool  # PUBLIC_BASE_URL is set

    @property
    def differs(self) -> bool:
        """The console is being used at another address than the snippets name.

        Worth a warning: either PUBLIC_BASE_URL is stale, or the console runs
        behind an address the customers' apps cannot reach.
        """
        return self.url != self.request_origin


def public_base_url(request) -> BaseUrl:
    """``PUBLIC_BASE_URL`` when set, else the origin this request was made to."""
    origin = request.build_absolute_uri("/").rstrip("/")
    configured = settings.PUBLIC_BASE_URL.strip().rstrip("/")
    return BaseUrl(url=configured or origin, request_origin=origin, configured=bool(configured))
