CREATE TEMPORARY TABLE "analytics_fold_batch" AS
SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
       django_datetime_cast_date("occurred_at", %(zone)s, 'UTC') AS day,
       CAST(django_datetime_extract('hour', "occurred_at", %(zone)s, 'UTC') AS integer) AS hour,
       CAST(COUNT(*) AS integer) AS n
FROM "events_event"
WHERE "product_id" = %(product)s AND "id" BETWEEN %(low)s AND %(high)s AND NOT "is_system"
GROUP BY 1, 2, 3, 4, 5, 6
