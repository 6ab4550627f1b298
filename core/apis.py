"""Shared pieces of the /v1 API views."""

from __future__ import annotations

from rest_framework.views import APIView

from core.models import Organization


class OrganizationAPIView(APIView):
    """A /v1 view: authenticated by an ``sk_`` key, scoped to its organization."""

    @property
    def organization(self) -> Organization:
        return self.request.user.organization
