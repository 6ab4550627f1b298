INSERT INTO "analytics_licensedayhours" ("product_id", "license_id", "day", "h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9", "h10", "h11", "h12", "h13", "h14", "h15", "h16", "h17", "h18", "h19", "h20", "h21", "h22", "h23")
SELECT %(product)s, "license_id", "day",
       SUM(CASE WHEN hour = 0 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 1 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 2 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 3 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 4 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 5 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 6 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 7 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 8 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 9 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 10 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 11 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 12 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 13 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 14 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 15 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 16 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 17 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 18 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 19 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 20 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 21 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 22 THEN n ELSE 0 END),
       SUM(CASE WHEN hour = 23 THEN n ELSE 0 END)
FROM "analytics_fold_batch" WHERE "license_id" IS NOT NULL
GROUP BY "license_id", "day"
ORDER BY "license_id", "day"
ON CONFLICT ("product_id", "license_id", "day") DO UPDATE SET "h0" = "analytics_licensedayhours"."h0" + EXCLUDED."h0", "h1" = "analytics_licensedayhours"."h1" + EXCLUDED."h1", "h2" = "analytics_licensedayhours"."h2" + EXCLUDED."h2", "h3" = "analytics_licensedayhours"."h3" + EXCLUDED."h3", "h4" = "analytics_licensedayhours"."h4" + EXCLUDED."h4", "h5" = "analytics_licensedayhours"."h5" + EXCLUDED."h5", "h6" = "analytics_licensedayhours"."h6" + EXCLUDED."h6", "h7" = "analytics_licensedayhours"."h7" + EXCLUDED."h7", "h8" = "analytics_licensedayhours"."h8" + EXCLUDED."h8", "h9" = "analytics_licensedayhours"."h9" + EXCLUDED."h9", "h10" = "analytics_licensedayhours"."h10" + EXCLUDED."h10", "h11" = "analytics_licensedayhours"."h11" + EXCLUDED."h11", "h12" = "analytics_licensedayhours"."h12" + EXCLUDED."h12", "h13" = "analytics_licensedayhours"."h13" + EXCLUDED."h13", "h14" = "analytics_licensedayhours"."h14" + EXCLUDED."h14", "h15" = "analytics_licensedayhours"."h15" + EXCLUDED."h15", "h16" = "analytics_licensedayhours"."h16" + EXCLUDED."h16", "h17" = "analytics_licensedayhours"."h17" + EXCLUDED."h17", "h18" = "analytics_licensedayhours"."h18" + EXCLUDED."h18", "h19" = "analytics_licensedayhours"."h19" + EXCLUDED."h19", "h20" = "analytics_licensedayhours"."h20" + EXCLUDED."h20", "h21" = "analytics_licensedayhours"."h21" + EXCLUDED."h21", "h22" = "analytics_licensedayhours"."h22" + EXCLUDED."h22", "h23" = "analytics_licensedayhours"."h23" + EXCLUDED."h23"
