"""Shared pieces of the /v1 API views."""

from __future__ import annotations

from rest_framework.views import APIView

from core.errors import ApiError
from core.models import Organization

BODY_METHODS = {"POST", "PUT", "PATCH"}


class OrganizationAPIView(APIView):
    """A /v1 view: authenticated by an ``sk_`` key, scoped to its organization."""

    @property
    def organization(self) -> Organization:
        return self.request.user.organization

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication first: no body check for a 401
        # An operation that takes input needs a body, even {}: a bodiless POST is a client mistake
        # (a license created from nothing), not a request for every default.
        handler = (
            getattr(self, request.method.lower(), None) if request.method.lower() in self.http_method_names else None
        )
        if handler and request.method in BODY_METHODS and hasattr(self, "InputSerializer") and not _has_body(request):
            raise ApiError("body: required; send a JSON object.")


def _has_body(request) -> bool:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return False
