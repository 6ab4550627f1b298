INSERT INTO "events_featuredaycounter" ("product_id", "day", "event", "feature", "count")
SELECT %(product)s, "day", "event", "feature",
       SUM(n)
FROM "analytics_fold_batch_days"
GROUP BY "day", "event", "feature"
ORDER BY "day", "event", "feature"
ON CONFLICT ("product_id", "day", "event", "feature") DO UPDATE SET "count" = "events_featuredaycounter"."count" + EXCLUDED."count"
