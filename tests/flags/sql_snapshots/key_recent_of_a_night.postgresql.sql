INSERT INTO "flags_flagkeyrecent" ("flag_id", "environment_id", "targeting_key", "variant", "last_day", "previous_day")
SELECT flag_id, environment_id, targeting_key, variant, %(day)s, %(no_previous)s
FROM "flag_keys_served"
WHERE TRUE
ORDER BY flag_id, environment_id, targeting_key, variant
ON CONFLICT ("flag_id", "environment_id", "targeting_key", "variant") DO UPDATE SET
    "previous_day" = CASE WHEN "flags_flagkeyrecent"."last_day" = excluded."last_day"
                            THEN "flags_flagkeyrecent"."previous_day" ELSE "flags_flagkeyrecent"."last_day" END,
    "last_day" = excluded."last_day"
