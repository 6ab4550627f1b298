WITH block_days (k) AS (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9), (10), (11), (12), (13), (14), (15), (16), (17), (18), (19), (20), (21), (22), (23), (24), (25), (26), (27), (28), (29), (30), (31)),
new_days AS (
    SELECT DISTINCT "domain" AS entity, feature, day
    FROM "analytics_fold_batch_days" WHERE "domain" <> ''
),
new_blocks AS (
    SELECT DISTINCT entity, feature, CAST(julianday(n.day) - 1721424.5 AS integer) / 32 AS block
    FROM new_days AS n
),
old_masks AS (
    -- the days each (pair, block) of the batch already counts, over every event name of the pair
    SELECT b."domain" AS entity, b."feature" AS feature, b."block" AS block,
           BIT_OR((CASE WHEN b."c0" > 0 THEN (CAST(1 AS bigint) << 0) ELSE 0 END)
           | (CASE WHEN b."c1" > b."c0" THEN (CAST(1 AS bigint) << 1) ELSE 0 END)
           | (CASE WHEN b."c2" > b."c1" THEN (CAST(1 AS bigint) << 2) ELSE 0 END)
           | (CASE WHEN b."c3" > b."c2" THEN (CAST(1 AS bigint) << 3) ELSE 0 END)
           | (CASE WHEN b."c4" > b."c3" THEN (CAST(1 AS bigint) << 4) ELSE 0 END)
           | (CASE WHEN b."c5" > b."c4" THEN (CAST(1 AS bigint) << 5) ELSE 0 END)
           | (CASE WHEN b."c6" > b."c5" THEN (CAST(1 AS bigint) << 6) ELSE 0 END)
           | (CASE WHEN b."c7" > b."c6" THEN (CAST(1 AS bigint) << 7) ELSE 0 END)
           | (CASE WHEN b."c8" > b."c7" THEN (CAST(1 AS bigint) << 8) ELSE 0 END)
           | (CASE WHEN b."c9" > b."c8" THEN (CAST(1 AS bigint) << 9) ELSE 0 END)
           | (CASE WHEN b."c10" > b."c9" THEN (CAST(1 AS bigint) << 10) ELSE 0 END)
           | (CASE WHEN b."c11" > b."c10" THEN (CAST(1 AS bigint) << 11) ELSE 0 END)
           | (CASE WHEN b."c12" > b."c11" THEN (CAST(1 AS bigint) << 12) ELSE 0 END)
           | (CASE WHEN b."c13" > b."c12" THEN (CAST(1 AS bigint) << 13) ELSE 0 END)
           | (CASE WHEN b."c14" > b."c13" THEN (CAST(1 AS bigint) << 14) ELSE 0 END)
           | (CASE WHEN b."c15" > b."c14" THEN (CAST(1 AS bigint) << 15) ELSE 0 END)
           | (CASE WHEN b."c16" > b."c15" THEN (CAST(1 AS bigint) << 16) ELSE 0 END)
           | (CASE WHEN b."c17" > b."c16" THEN (CAST(1 AS bigint) << 17) ELSE 0 END)
           | (CASE WHEN b."c18" > b."c17" THEN (CAST(1 AS bigint) << 18) ELSE 0 END)
           | (CASE WHEN b."c19" > b."c18" THEN (CAST(1 AS bigint) << 19) ELSE 0 END)
           | (CASE WHEN b."c20" > b."c19" THEN (CAST(1 AS bigint) << 20) ELSE 0 END)
           | (CASE WHEN b."c21" > b."c20" THEN (CAST(1 AS bigint) << 21) ELSE 0 END)
           | (CASE WHEN b."c22" > b."c21" THEN (CAST(1 AS bigint) << 22) ELSE 0 END)
           | (CASE WHEN b."c23" > b."c22" THEN (CAST(1 AS bigint) << 23) ELSE 0 END)
           | (CASE WHEN b."c24" > b."c23" THEN (CAST(1 AS bigint) << 24) ELSE 0 END)
           | (CASE WHEN b."c25" > b."c24" THEN (CAST(1 AS bigint) << 25) ELSE 0 END)
           | (CASE WHEN b."c26" > b."c25" THEN (CAST(1 AS bigint) << 26) ELSE 0 END)
           | (CASE WHEN b."c27" > b."c26" THEN (CAST(1 AS bigint) << 27) ELSE 0 END)
           | (CASE WHEN b."c28" > b."c27" THEN (CAST(1 AS bigint) << 28) ELSE 0 END)
           | (CASE WHEN b."c29" > b."c28" THEN (CAST(1 AS bigint) << 29) ELSE 0 END)
           | (CASE WHEN b."c30" > b."c29" THEN (CAST(1 AS bigint) << 30) ELSE 0 END)
           | (CASE WHEN b."c31" > b."c30" THEN (CAST(1 AS bigint) << 31) ELSE 0 END)) AS used
    FROM "events_domainblockcounter" AS b
    JOIN new_blocks AS nb ON b."domain" = nb.entity AND b."feature" = nb.feature AND b."block" = nb.block
    WHERE b."product_id" = %(product)s
    GROUP BY 1, 2, 3
),
fresh AS (
    SELECT n.entity, n.feature, n.day
    FROM new_days AS n
    LEFT JOIN old_masks AS m ON m.entity = n.entity AND m.feature = n.feature AND m.block = CAST(julianday(n.day) - 1721424.5 AS integer) / 32
    WHERE (COALESCE(m.used, 0) & (CAST(1 AS bigint) << CAST(MOD(CAST(julianday(n.day) - 1721424.5 AS integer), 32) AS integer))) = 0
),
touched AS (
    SELECT DISTINCT entity, feature FROM fresh
),
old_days AS (
    SELECT DISTINCT b."domain" AS entity, b."feature" AS feature,
           date('0001-01-01', '+' || ((b."block" * 32 + block_days.k) - 1) || ' days') AS day
    FROM "events_domainblockcounter" AS b
    JOIN touched AS t ON b."domain" = t.entity AND b."feature" = t.feature
    CROSS JOIN block_days
    WHERE b."product_id" = %(product)s AND (CASE block_days.k WHEN 0 THEN b."c0" > 0 WHEN 1 THEN b."c1" > b."c0" WHEN 2 THEN b."c2" > b."c1" WHEN 3 THEN b."c3" > b."c2" WHEN 4 THEN b."c4" > b."c3" WHEN 5 THEN b."c5" > b."c4" WHEN 6 THEN b."c6" > b."c5" WHEN 7 THEN b."c7" > b."c6" WHEN 8 THEN b."c8" > b."c7" WHEN 9 THEN b."c9" > b."c8" WHEN 10 THEN b."c10" > b."c9" WHEN 11 THEN b."c11" > b."c10" WHEN 12 THEN b."c12" > b."c11" WHEN 13 THEN b."c13" > b."c12" WHEN 14 THEN b."c14" > b."c13" WHEN 15 THEN b."c15" > b."c14" WHEN 16 THEN b."c16" > b."c15" WHEN 17 THEN b."c17" > b."c16" WHEN 18 THEN b."c18" > b."c17" WHEN 19 THEN b."c19" > b."c18" WHEN 20 THEN b."c20" > b."c19" WHEN 21 THEN b."c21" > b."c20" WHEN 22 THEN b."c22" > b."c21" WHEN 23 THEN b."c23" > b."c22" WHEN 24 THEN b."c24" > b."c23" WHEN 25 THEN b."c25" > b."c24" WHEN 26 THEN b."c26" > b."c25" WHEN 27 THEN b."c27" > b."c26" WHEN 28 THEN b."c28" > b."c27" WHEN 29 THEN b."c29" > b."c28" WHEN 30 THEN b."c30" > b."c29" WHEN 31 THEN b."c31" > b."c30" END)
),
all_days AS (
    -- fresh days are not among the old ones: the two sets are disjoint
    SELECT entity, feature, day FROM old_days
    UNION ALL
    SELECT entity, feature, day FROM fresh
),
points AS (
    SELECT feature, day, LAG(day, 1, '0001-01-01') OVER w AS previous, 1 AS delta
    FROM all_days
    WINDOW w AS (PARTITION BY entity, feature ORDER BY day)
    UNION ALL
    SELECT feature, day, LAG(day, 1, '0001-01-01') OVER w, -1
    FROM old_days
    WINDOW w AS (PARTITION BY entity, feature ORDER BY day)
)
INSERT INTO "events_featurereachcounter" ("product_id", "kind", "day", "feature", "previous_day", "count")
SELECT %(product)s, %(kind)s, day, feature, previous, SUM(delta)
FROM points
GROUP BY day, feature, previous
HAVING SUM(delta) <> 0
ORDER BY day, feature, previous
ON CONFLICT ("product_id", "kind", "day", "feature", "previous_day") DO UPDATE SET "count" = "events_featurereachcounter"."count" + EXCLUDED."count"
