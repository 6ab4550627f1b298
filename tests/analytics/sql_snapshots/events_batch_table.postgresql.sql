CREATE TEMPORARY TABLE "analytics_fold_batch" ON COMMIT DROP AS
SELECT license_id, domain, event, feature, CAST(hour_start AS date) AS day, CAST(EXTRACT(HOUR FROM hour_start) AS integer) AS hour, n
FROM (
    SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
           date_trunc('hour', "occurred_at" AT TIME ZONE %(zone)s) AS hour_start,
           CAST(COUNT(*) AS integer) AS n
    FROM "events_event"
    WHERE "product_id" = %(product)s AND "id" BETWEEN %(low)s AND %(high)s AND NOT "is_system"
    GROUP BY 1, 2, 3, 4, 5
) AS by_hour
