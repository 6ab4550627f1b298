DELETE FROM "events_eventuuid"
WHERE ("product_id", "uuid") IN (
    SELECT "product_id", "uuid" FROM "events_event" WHERE "occurred_at" < %s AND "uuid" IS NOT NULL
)
