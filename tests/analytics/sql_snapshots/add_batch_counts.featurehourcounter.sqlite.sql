INSERT INTO "events_featurehourcounter" ("product_id", "day", "hour", "event", "feature", "count")
SELECT %(product)s, "day", "hour", "event", "feature",
       SUM(n)
FROM "analytics_fold_batch"
GROUP BY "day", "hour", "event", "feature"
ORDER BY "day", "hour", "event", "feature"
ON CONFLICT ("product_id", "day", "hour", "event", "feature") DO UPDATE SET "count" = "events_featurehourcounter"."count" + EXCLUDED."count"
