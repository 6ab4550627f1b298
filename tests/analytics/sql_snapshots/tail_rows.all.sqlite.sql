WITH tail AS MATERIALIZED (
    SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
           "occurred_at" AS occurred_at
    FROM "events_event"
    WHERE "product_id" = %(product)s AND "id" > %(through)s AND NOT "is_system"
    ORDER BY "id"
)
SELECT license_id, domain, event, feature, django_datetime_cast_date(occurred_at, %(zone)s, 'UTC') AS day, CAST(django_datetime_extract('hour', occurred_at, %(zone)s, 'UTC') AS integer) AS hour, COUNT(*)
FROM tail
WHERE occurred_at >= %(start)s AND occurred_at < %(end)s
GROUP BY 1, 2, 3, 4, 5, 6
