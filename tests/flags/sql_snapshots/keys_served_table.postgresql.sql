CREATE TEMPORARY TABLE "flag_keys_served" AS
SELECT DISTINCT e."flag_id" AS flag_id, e."environment_id" AS environment_id, e."targeting_key" AS targeting_key,
       e."variant" AS variant
FROM "flags_flagevaluation" e
JOIN "flags_flag" f ON f."id" = e."flag_id"
JOIN "flags_environment" v ON v."id" = e."environment_id"
WHERE e."day" = %(day)s AND e."variant" IS NOT NULL AND e."targeting_key" <> '' AND e."environment_id" = %(environment)s
ORDER BY 1, 2, 3, 4
