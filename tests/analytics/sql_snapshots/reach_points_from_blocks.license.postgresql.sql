WITH RECURSIVE block_days (k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM block_days WHERE k < 31),
used AS (
    SELECT DISTINCT b."license_id" AS entity, b."feature" AS feature,
           b."block" * 32 + block_days.k AS ordinal
    FROM "events_licenseblockcounter" AS b CROSS JOIN block_days
    WHERE b."product_id" = %(product)s AND (CASE block_days.k WHEN 0 THEN b."c0" > 0 WHEN 1 THEN b."c1" > b."c0" WHEN 2 THEN b."c2" > b."c1" WHEN 3 THEN b."c3" > b."c2" WHEN 4 THEN b."c4" > b."c3" WHEN 5 THEN b."c5" > b."c4" WHEN 6 THEN b."c6" > b."c5" WHEN 7 THEN b."c7" > b."c6" WHEN 8 THEN b."c8" > b."c7" WHEN 9 THEN b."c9" > b."c8" WHEN 10 THEN b."c10" > b."c9" WHEN 11 THEN b."c11" > b."c10" WHEN 12 THEN b."c12" > b."c11" WHEN 13 THEN b."c13" > b."c12" WHEN 14 THEN b."c14" > b."c13" WHEN 15 THEN b."c15" > b."c14" WHEN 16 THEN b."c16" > b."c15" WHEN 17 THEN b."c17" > b."c16" WHEN 18 THEN b."c18" > b."c17" WHEN 19 THEN b."c19" > b."c18" WHEN 20 THEN b."c20" > b."c19" WHEN 21 THEN b."c21" > b."c20" WHEN 22 THEN b."c22" > b."c21" WHEN 23 THEN b."c23" > b."c22" WHEN 24 THEN b."c24" > b."c23" WHEN 25 THEN b."c25" > b."c24" WHEN 26 THEN b."c26" > b."c25" WHEN 27 THEN b."c27" > b."c26" WHEN 28 THEN b."c28" > b."c27" WHEN 29 THEN b."c29" > b."c28" WHEN 30 THEN b."c30" > b."c29" WHEN 31 THEN b."c31" > b."c30" END)
),
points AS (
    SELECT feature, ordinal,
           LAG(ordinal, 1, 1) OVER (PARTITION BY entity, feature COLLATE "C" ORDER BY ordinal) AS previous
    FROM used
)
INSERT INTO "events_featurereachcounter" ("product_id", "kind", "day", "feature", "previous_day", "count")
SELECT %(product)s, %(kind)s, (DATE '0001-01-01' + CAST((ordinal) - 1 AS integer)), feature, (DATE '0001-01-01' + CAST((previous) - 1 AS integer)), COUNT(*)
FROM points
GROUP BY feature, ordinal, previous
