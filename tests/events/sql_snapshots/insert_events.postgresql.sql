WITH v AS MATERIALIZED (
    SELECT * FROM json_to_recordset(%(rows)s::json) AS v("event" text, "feature" text, "is_system" boolean, "properties" jsonb, "license_key" text, "domain" text, "occurred_at" timestamptz, "received_at" timestamptz, "uuid" text)
),
fresh AS (
    INSERT INTO "events_eventuuid" ("product_id", "uuid")
    SELECT %(owner)s, v."uuid" FROM v WHERE v."uuid" IS NOT NULL
    ON CONFLICT DO NOTHING
    RETURNING "uuid"
)
INSERT INTO "events_event" ("product_id", "event", "feature", "is_system", "properties", "license_key", "domain", "occurred_at", "received_at", "uuid", "license_id")
SELECT %(owner)s, v."event", v."feature", v."is_system", v."properties", v."license_key", v."domain", v."occurred_at", v."received_at", v."uuid", l."id"
FROM v
LEFT JOIN "events_license" AS l
       ON v."license_key" <> '' AND l."product_id" = %(owner)s AND l."key" = v."license_key"
WHERE v."uuid" IS NULL OR v."uuid" IN (SELECT "uuid" FROM fresh)
