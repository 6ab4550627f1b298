WITH per_variant AS (
    SELECT d."environment_id" AS env_id, d."flag_id" AS flag_id, d."license_id" AS license_id,
           d."variant" AS variant, SUM(d."evaluations") AS evaluations, MAX(d."last_seen_at") AS last_seen_at
    FROM "flags_flaglicenseday" d
    WHERE d."day" IN (%s, %s) AND (d."flag_id", d."environment_id") IN (SELECT f."id", v."id" FROM "flags_flag" f JOIN "flags_environment" v ON v."project_id" = f."project_id") AND d."environment_id" = %s
    GROUP BY d."flag_id", d."environment_id", d."license_id", d."variant"
)
INSERT INTO "flags_flaglicensetotal" ("environment_id", "flag_id", "variant", "license_id", "license_public_id", "evaluations",
                     "last_seen_at")
SELECT c.env_id, c.flag_id, c.variant, c.license_id, l."public_id", c.evaluations, c.last_seen_at
FROM (
    SELECT env_id, flag_id, variant, license_id, evaluations, last_seen_at FROM per_variant
    UNION ALL
    SELECT env_id, flag_id, '', license_id, SUM(evaluations), MAX(last_seen_at)
    FROM per_variant GROUP BY flag_id, env_id, license_id
) c
JOIN "events_license" l ON l."id" = c.license_id
ORDER BY c.flag_id, c.env_id, c.license_id, c.variant
