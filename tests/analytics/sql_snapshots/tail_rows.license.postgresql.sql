WITH tail AS MATERIALIZED (
    SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
           "occurred_at" AS occurred_at
    FROM "events_event"
    WHERE "product_id" = %(product)s AND "id" > %(through)s AND NOT "is_system" AND "license_id" = %(license)s
    ORDER BY "id"
)
SELECT license_id, domain, event, feature, CAST((occurred_at AT TIME ZONE %(zone)s) AS date) AS day, CAST(EXTRACT(HOUR FROM (occurred_at AT TIME ZONE %(zone)s)) AS integer) AS hour, COUNT(*)
FROM tail
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6
