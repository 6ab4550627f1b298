WITH runs AS (
    SELECT env_id, flag_id, subject_id, variant, day,
           LAG(day) OVER (PARTITION BY flag_id, env_id, subject_id, variant ORDER BY day) AS variant_lag,
           LAG(day) OVER (PARTITION BY flag_id, env_id, subject_id ORDER BY day) AS any_lag
    FROM (
        SELECT k."environment_id" AS env_id, k."flag_id" AS flag_id, k."license_id" AS subject_id,
               k."variant" AS variant, k."day" AS day
        FROM "flags_flaglicenseday" k
        WHERE k."day" >= %(points_from)s AND k."day" < %(points_until)s AND (k."flag_id", k."environment_id") IN (SELECT f."id", v."id" FROM "flags_flag" f JOIN "flags_environment" v ON v."project_id" = f."project_id") AND k."environment_id" = %(environment)s
    ) subject_days_in_bounds
)
INSERT INTO "flags_flagreachpoint" ("environment_id", "flag_id", "kind", "variant", "day", "previous_day", "count")
SELECT env_id, flag_id, %(kind)s, variant, day, previous_day, COUNT(*)
FROM (
    SELECT env_id, flag_id, variant, day, COALESCE(variant_lag, (SELECT MAX(p."day") FROM "flags_flaglicenseday" p WHERE p."flag_id" = runs.flag_id AND p."environment_id" = runs.env_id AND p."variant" = runs.variant AND p."license_id" = runs.subject_id AND p."day" < %(points_from)s), %(no_previous)s) AS previous_day
    FROM runs
    UNION ALL
    SELECT env_id, flag_id, '', day, COALESCE(any_lag, (SELECT MAX(p."day") FROM "flags_flaglicenseday" p WHERE p."flag_id" = runs.flag_id AND p."environment_id" = runs.env_id AND p."license_id" = runs.subject_id AND p."day" < %(points_from)s), %(no_previous)s)
    FROM runs WHERE any_lag IS NULL OR any_lag <> day
) points
GROUP BY env_id, flag_id, variant, day, previous_day
