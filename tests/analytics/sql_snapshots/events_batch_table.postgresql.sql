CREATE TEMPORARY TABLE "analytics_fold_batch" ON COMMIT DROP AS
SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
       CAST(("occurred_at" AT TIME ZONE %(zone)s) AS date) AS day,
       CAST(EXTRACT(HOUR FROM ("occurred_at" AT TIME ZONE %(zone)s)) AS integer) AS hour,
       CAST(COUNT(*) AS integer) AS n
FROM "events_event"
WHERE "product_id" = %(product)s AND "id" BETWEEN %(low)s AND %(high)s AND NOT "is_system"
GROUP BY 1, 2, 3, 4, 5, 6
