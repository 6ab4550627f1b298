CREATE TEMPORARY TABLE "analytics_fold_batch_days" AS
SELECT "license_id", "domain", "event", "feature", "day", CAST(SUM(n) AS integer) AS n
FROM "analytics_fold_batch"
GROUP BY "license_id", "domain", "event", "feature", "day"
