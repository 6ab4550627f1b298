INSERT INTO "events_event" ("product_id", "event", "feature", "is_system", "properties", "license_key", "domain", "occurred_at", "received_at", "uuid", "license_id")
SELECT %(owner)s, v."event", v."feature", v."is_system", v."properties", v."license_key", v."domain", v."occurred_at", v."received_at", v."uuid", l."id"
FROM (SELECT json_extract(j.value, '$.event') AS "event", json_extract(j.value, '$.feature') AS "feature", json_extract(j.value, '$.is_system') AS "is_system", json_extract(j.value, '$.properties') AS "properties", json_extract(j.value, '$.license_key') AS "license_key", json_extract(j.value, '$.domain') AS "domain", json_extract(j.value, '$.occurred_at') AS "occurred_at", json_extract(j.value, '$.received_at') AS "received_at", json_extract(j.value, '$.uuid') AS "uuid" FROM json_each(%(rows)s) AS j) AS v
LEFT JOIN "events_license" AS l
       ON v."license_key" <> '' AND l."product_id" = %(owner)s AND l."key" = v."license_key"
