"""Keyset pagination: ``?cursor=&limit=`` in, ``{"data", "nextCursor"}`` out.

Keyset rather than offset so that a page stays cheap and stable however many
rows come before it and however many are added while a client walks the list.
"""

from __future__ import annotations

import base64
import binascii

from rest_framework import serializers
from rest_framework.response import Response

from lib.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class PageParamsSerializer(serializers.Serializer):
    cursor = serializers.CharField(required=False, allow_blank=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(f"o:{pk}".encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        pk = int(value)
        # a forged cursor beyond a bigint would reach the database as an out-of-range error
        if kind != "o" or not 0 <= pk < 2**63:
            raise ValueError(cursor)
        return pk
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError("cursor: not a cursor this API returned.", code="invalid_cursor") from None


def page_rows(request, queryset, *, newest_first: bool = False) -> tuple[list, str | None]:
    """One page of ``queryset`` in creation order (by primary key), or the reverse, and the next cursor."""
    params = PageParamsSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    limit = params.validated_data["limit"]
    queryset = queryset.order_by("-pk" if newest_first else "pk")
    if cursor := params.validated_data.get("cursor"):
        after = _decode(cursor)
        queryset = queryset.filter(pk__lt=after) if newest_first else queryset.filter(pk__gt=after)
    rows = list(queryset[: limit + 1])
    next_cursor = _encode(rows[limit - 1].pk) if len(rows) > limit else None
    return rows[:limit], next_cursor


def paginated_response(request, queryset, serializer_class, *, newest_first: bool = False) -> Response:
    """One page of ``queryset`` in creation order (by primary key), or the reverse."""
    rows, next_cursor = page_rows(request, queryset, newest_first=newest_first)
    data = serializer_class(rows, many=True).data
    return Response({"data": data, "nextCursor": next_cursor})
