WITH names (event, feature) AS (VALUES (%(event_0)s, %(feature_0)s), (%(event_1)s, %(feature_1)s)),
tail AS MATERIALIZED (
    -- the local day and hour computed once per event, in the id range's own step
    SELECT "license_id" AS license_id, "domain" AS domain, "event" AS event, "feature" AS feature,
           django_datetime_cast_date("occurred_at", %(zone)s, 'UTC') AS day, CAST(django_datetime_extract('hour', "occurred_at", %(zone)s, 'UTC') AS integer) AS hour
    FROM "events_event"
    WHERE "product_id" = %(product)s AND "id" > %(through)s AND NOT "is_system"
    ORDER BY "id"
),
in_days AS NOT MATERIALIZED (
    SELECT license_id, domain, feature, day, hour FROM tail
    WHERE day >= %(prior_from)s AND day <= %(date_to)s AND (event, feature) IN (SELECT event, feature FROM names)
),
in_window AS NOT MATERIALIZED (
    SELECT license_id, domain, feature, day, hour FROM in_days WHERE day >= %(date_from)s
),
license_pairs AS MATERIALIZED (
    SELECT license_id, feature, COUNT(*) AS n FROM in_window WHERE license_id IS NOT NULL GROUP BY license_id, feature
),
new_license_pairs AS MATERIALIZED (
    -- the window's tail pairs no pair block of the window counts: each is one more license of its feature
    SELECT license_id, feature FROM license_pairs
    EXCEPT
    SELECT b."license_id", b."feature" FROM "events_licenseblockcounter" AS b
    WHERE b."product_id" = %(product)s AND b."block" IN (23114, 23115)
      AND (b."event", b."feature") IN (SELECT event, feature FROM names)
      AND (CASE WHEN b."block" = 23114 THEN b."c31" - b."c6" WHEN b."block" = 23115 THEN b."c4" ELSE 0 END) > 0
),
domain_pairs AS MATERIALIZED (
    SELECT domain, feature, COUNT(*) AS n FROM in_window WHERE domain <> '' GROUP BY domain, feature
),
new_domain_pairs AS (
    SELECT domain, feature FROM domain_pairs
    EXCEPT
    SELECT b."domain", b."feature" FROM "events_domainblockcounter" AS b
    WHERE b."product_id" = %(product)s AND b."block" IN (23114, 23115)
      AND (b."event", b."feature") IN (SELECT event, feature FROM names)
      AND (CASE WHEN b."block" = 23114 THEN b."c31" - b."c6" WHEN b."block" = 23115 THEN b."c4" ELSE 0 END) > 0
)
SELECT 0 AS kind, feature AS name, day, 0 AS number, COUNT(*) AS n FROM in_days GROUP BY feature, day
UNION ALL
SELECT 1, '', day, hour, COUNT(*) FROM in_window GROUP BY day, hour
UNION ALL
SELECT 2, p.feature, NULL, COUNT(*),
       SUM(CASE WHEN l."status" = %(active)s AND (l."expires_at" IS NULL OR l."expires_at" >= %(from_start)s)
                THEN 1 ELSE 0 END)
FROM new_license_pairs AS p LEFT JOIN "events_license" AS l ON l."id" = p.license_id
GROUP BY p.feature
UNION ALL
SELECT 3, '', NULL, license_id, SUM(n) FROM license_pairs GROUP BY license_id
UNION ALL
SELECT 4, '', NULL, license_id, COUNT(*) FROM new_license_pairs GROUP BY license_id
UNION ALL
SELECT 5, feature, NULL, 0, COUNT(*) FROM new_domain_pairs GROUP BY feature
UNION ALL
SELECT 6, domain, NULL, 0, SUM(n) FROM domain_pairs GROUP BY domain
