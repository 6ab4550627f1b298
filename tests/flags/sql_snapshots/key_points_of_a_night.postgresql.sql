WITH seen AS (
    SELECT s.environment_id, s.flag_id, s.targeting_key, s.variant,
           MAX(CASE WHEN r."variant" = s.variant THEN CASE WHEN r."last_day" = %(day)s THEN r."previous_day" ELSE r."last_day" END END) AS variant_before,
           MAX(CASE WHEN r."last_day" = %(day)s THEN r."previous_day" ELSE r."last_day" END) AS key_before
    FROM "flag_keys_served" s
    LEFT JOIN "flags_flagkeyrecent" r ON r."flag_id" = s.flag_id AND r."environment_id" = s.environment_id
         AND r."targeting_key" = s.targeting_key
    GROUP BY s.environment_id, s.flag_id, s.targeting_key, s.variant
)
INSERT INTO "flags_flagreachpoint" ("environment_id", "flag_id", "kind", "variant", "day", "previous_day", "count")
SELECT environment_id, flag_id, %(kind)s, variant, %(day)s, previous_day, COUNT(*)
FROM (
    SELECT environment_id, flag_id, variant, COALESCE(variant_before, %(no_previous)s) AS previous_day FROM seen
    UNION ALL
    SELECT environment_id, flag_id, '', COALESCE(MAX(key_before), %(no_previous)s)
    FROM seen GROUP BY environment_id, flag_id, targeting_key
) points
GROUP BY environment_id, flag_id, variant, previous_day
