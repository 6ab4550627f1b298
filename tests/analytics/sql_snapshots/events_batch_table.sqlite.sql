CREATE TEMPORARY TABLE "analytics_fold_batch" AS
SELECT license_id, domain, event, feature, substr(hour_start, 1, 10) AS day, CAST(substr(hour_start, 12, 2) AS integer) AS hour, n
FROM (
    SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
           django_datetime_trunc('hour', "occurred_at", %(zone)s, 'UTC') AS hour_start,
           CAST(COUNT(*) AS integer) AS n
    FROM "events_event"
    WHERE "product_id" = %(product)s AND "id" BETWEEN %(low)s AND %(high)s AND NOT "is_system"
    GROUP BY 1, 2, 3, 4, 5
) AS by_hour
