DELETE FROM "events_eventuuid" AS d
USING "events_event_p2026_11" AS s
WHERE s."uuid" IS NOT NULL AND d."product_id" = s."product_id" AND d."uuid" = s."uuid"
