"""Bearer ``sk_…`` authentication for the /v1 API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from tenancy import keys
from tenancy.models import ApiKey, Organization

API_KEY_PREFIX = "sk_"
# last_used_at is for humans ("used 3 minutes ago"); writing it on every request
# would turn each read into a write, so it is refreshed at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class ApiKeyPrincipal:
    """What ``request.user`` is for a request signed with an organization key."""

    organization: Organization
    api_key: ApiKey

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False


def bearer_token(request) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        token = bearer_token(request)
        if token is None:
            return None
        if not token.startswith(API_KEY_PREFIX):
            raise exceptions.AuthenticationFailed("The Authorization header must carry an sk_ API key.")
        api_key = (
            ApiKey.objects.select_related("organization__plan")
            .filter(secret_hash=keys.hash_secret(token), revoked_at__isnull=True)
            .first()
        )
        # The lookup is by digest, so a near-miss key cannot be timed; the
        # compare below only guards against a digest collision in the index.
        if api_key is None or not keys.secrets_match(token, api_key.secret_hash):
            raise exceptions.AuthenticationFailed("The API key is unknown or revoked.")
        now = timezone.now()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(organization=api_key.organization, api_key=api_key), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
