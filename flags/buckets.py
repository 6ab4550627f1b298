"""SDK-aggregated evaluation counts (``POST /public/v1/flag-evaluations``): checking and storing.

A provider that evaluates from a cached bulk answer (client-side OFREP) counts
its evaluations locally and sends them as buckets. A bucket is checked as a
whole (the first bad field is named, nothing is stored), then stored once per
(environment, bucket id): the primary key, not a read before the write,
decides which of two simultaneous copies counts. Its counts are folded into
the same daily rollup as recorded evaluations, on the UTC day of ``start``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from flags import activity
from flags.definitions import NAME_PATTERN
from flags.evaluation import value_key
from flags.models import FLAG_KEY_MAX_LENGTH, EvaluationBucket, EvaluationBucketCount, Reason
from lib.text import has_lone_surrogates

MAX_ENTRIES = 1000
# One entry counts at most this many evaluations (docs/operations-faults.md, "Counts"): a bucket
# spans at most an hour, and 10^6 an hour is 278 a second of one served value from one client.
MAX_COUNT = 10**6
MAX_SPAN = timedelta(hours=1)
MAX_AGE = timedelta(days=7)
# A client clock a little ahead is not a client lying about the future.
CLOCK_SKEW = timedelta(seconds=60)
MAX_BODY_BYTES = 256 * 1024
VARIANT_MAX_LENGTH = 100
MAX_VALUE_LENGTH = 32 * 1024
REASONS = {reason.label: reason for reason in Reason}


class BucketError(Exception):
    def __init__(self, message: str, *, code: str = "invalid_request", status: int = 400, retry_after: int = 0):
        super().__init__(message)
        self.message, self.code, self.status, self.retry_after = message, code, status, retry_after


@dataclass(frozen=True)
class BucketEntry:
    flag_key: str
    variant: str | None
    value: str | None
    reason: Reason
    count: int


@dataclass(frozen=True)
class Bucket:
    id: uuid.UUID
    start: datetime
    end: datetime
    entries: list[BucketEntry]


def bucket_parse(body: bytes, *, now: datetime) -> Bucket:
    try:
        data = json.loads(body, parse_constant=_refuse_constant) if body else None
    except (ValueError, RecursionError):
        raise BucketError("body: not valid JSON.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise BucketError("body: must be a JSON object.", code="invalid_json")
    raw_id = data.get("id")
    try:
        if not isinstance(raw_id, str):
            raise ValueError(raw_id)
        bucket_id = uuid.UUID(raw_id)
    except ValueError:
        raise BucketError("id: required, the UUID of this bucket.") from None
    start = _timestamp(data.get("start"), field="start")
    end = _timestamp(data.get("end"), field="end")
    if start > now + CLOCK_SKEW:
        raise BucketError("start: in the future.")
    if start < now - MAX_AGE:
        raise BucketError(f"start: older than {MAX_AGE.days} days.")
    if end < start:
        raise BucketError("end: before start.")
    if end - start > MAX_SPAN:
        raise BucketError("end: a bucket spans at most 1 hour.")
    counts = data.get("counts")
    if not isinstance(counts, list) or not 1 <= len(counts) <= MAX_ENTRIES:
        raise BucketError(f"counts: a list of 1 to {MAX_ENTRIES} entries.")
    return Bucket(
        id=bucket_id, start=start, end=end, entries=[_entry(raw, f"counts[{i}]") for i, raw in enumerate(counts)]
    )


def _entry(raw: Any, field: str) -> BucketEntry:
    if not isinstance(raw, dict):
        raise BucketError(f"{field}: must be an object.")
    flag_key = raw.get("flagKey")
    if not isinstance(flag_key, str) or not NAME_PATTERN.fullmatch(flag_key):
        raise BucketError(f"{field}.flagKey: a flag key, 1 to {FLAG_KEY_MAX_LENGTH} letters, digits, '.', '_' or '-'.")
    reason = REASONS.get(raw.get("reason"))
    if reason is None:
        raise BucketError(f"{field}.reason: one of {', '.join(REASONS)}.")
    count = raw.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise BucketError(f"{field}.count: an integer from 1 to {MAX_COUNT}.")
    if reason == Reason.ERROR:
        # An error serves neither a variant nor a value, whatever the SDK put there.
        return BucketEntry(flag_key=flag_key, variant=None, value=None, reason=reason, count=count)
    variant = raw.get("variant")
    if not isinstance(variant, str) or not NAME_PATTERN.fullmatch(variant):
        raise BucketError(
            f"{field}.variant: a variant name, 1 to {VARIANT_MAX_LENGTH} letters, digits, '.', '_' or '-'."
        )
    if "value" not in raw or raw["value"] is None:
        raise BucketError(f"{field}.value: required, the value served.")
    value = value_key(raw["value"])
    if len(value) > MAX_VALUE_LENGTH or "\x00" in value or has_lone_surrogates(value):
        raise BucketError(
            f"{field}.value: at most {MAX_VALUE_LENGTH} characters of JSON, without NUL or lone surrogates."
        )
    return BucketEntry(flag_key=flag_key, variant=variant, value=value, reason=reason, count=count)


def _timestamp(value: Any, *, field: str) -> datetime:
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError(value)
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        raise BucketError(f"{field}: required, an ISO 8601 time such as 2026-05-01T12:00:00Z.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # no offset: read as UTC, like toISOString()
    return moment.astimezone(UTC)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def bucket_store(*, environment_id: int, flag_ids: dict[str, int], bucket: Bucket, now: datetime) -> bool:
    """Store the bucket; False when this id was already stored for the environment (nothing changes).

    ``flag_ids`` maps the environment's flag keys to ids; counts of other keys go
    to the unknown flags, as an OFREP evaluation of them would.
    """
    day = bucket.start.date()
    last_at = min(bucket.end, now)
    totals: activity.ActivityTotals = {}
    unknown: activity.UnknownTotals = {}
    rows = []
    for entry in bucket.entries:
        flag_id = flag_ids.get(entry.flag_key)
        if flag_id is None:
            activity.add(unknown, (environment_id, day, entry.flag_key), entry.count, last_at)
            continue
        rows.append(
            EvaluationBucketCount(
                bucket_id=bucket.id,
                environment_id=environment_id,
                flag_id=flag_id,
                day=day,
                variant=entry.variant,
                value=entry.value,
                reason=entry.reason,
                count=entry.count,
            )
        )
        activity.add(totals, (environment_id, flag_id, day, entry.variant or ""), entry.count, last_at)
    with transaction.atomic():
        try:
            with transaction.atomic():
                EvaluationBucket.objects.create(
                    environment_id=environment_id,
                    bucket_id=bucket.id,
                    start=bucket.start,
                    end=bucket.end,
                    day=day,
                    received_at=now,
                )
        except IntegrityError:
            return False
        EvaluationBucketCount.objects.bulk_create(rows, batch_size=500)
        activity.activity_add(totals)
        activity.unknown_add(unknown)
    return True
