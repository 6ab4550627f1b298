WITH served AS (
    SELECT e."environment_id" AS environment_id, e."flag_id" AS flag_id,
           e."targeting_key" COLLATE "C" AS targeting_key, e."variant" COLLATE "C" AS variant, e."day" AS day
    FROM "flags_flagevaluation" e
    JOIN "flags_flag" f ON f."id" = e."flag_id"
    JOIN "flags_environment" v ON v."id" = e."environment_id"
    WHERE e."day" <= %(last_day)s AND e."variant" IS NOT NULL AND e."targeting_key" <> '' AND e."environment_id" = %(environment)s
),
runs AS (
    SELECT environment_id, flag_id, targeting_key, variant, day,
           LAG(day) OVER per_variant AS variant_lag,
           MAX(day) OVER (PARTITION BY flag_id, environment_id, targeting_key, variant) AS variant_last,
           LAG(day) OVER (PARTITION BY flag_id, environment_id, targeting_key ORDER BY day) AS key_lag
    FROM served
    WINDOW per_variant AS (PARTITION BY flag_id, environment_id, targeting_key, variant ORDER BY day)
),
recent AS (
    INSERT INTO "flags_flagkeyrecent" ("flag_id", "environment_id", "targeting_key", "variant", "last_day", "previous_day")
    SELECT flag_id, environment_id, targeting_key, variant, day, COALESCE(variant_lag, %(no_previous)s)
    FROM runs
    WHERE day = variant_last AND (variant_lag IS NULL OR variant_lag <> day)
)
INSERT INTO "flags_flagreachpoint" ("environment_id", "flag_id", "kind", "variant", "day", "previous_day", "count")
SELECT environment_id, flag_id, %(kind)s, variant, day, previous_day, COUNT(*)
FROM (
    SELECT environment_id, flag_id, variant, day, COALESCE(variant_lag, %(no_previous)s) AS previous_day
    FROM runs WHERE variant_lag IS NULL OR variant_lag <> day
    UNION ALL
    SELECT environment_id, flag_id, '', day, COALESCE(key_lag, %(no_previous)s)
    FROM runs WHERE key_lag IS NULL OR key_lag <> day
) points
GROUP BY environment_id, flag_id, variant, day, previous_day
