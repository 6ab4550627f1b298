INSERT INTO "events_dayhourcounter" ("product_id", "day", "hour", "count")
SELECT %(product)s, "day", "hour",
       SUM(n)
FROM "analytics_fold_batch"
GROUP BY "day", "hour"
ORDER BY "day", "hour"
ON CONFLICT ("product_id", "day", "hour") DO UPDATE SET "count" = "events_dayhourcounter"."count" + EXCLUDED."count"
