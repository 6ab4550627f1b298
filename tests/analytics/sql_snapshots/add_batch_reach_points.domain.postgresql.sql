WITH new_days AS (
    SELECT DISTINCT "domain" AS entity, feature, day
    FROM "analytics_fold_batch_days" WHERE "domain" <> ''
),
batch_pairs AS (
    SELECT DISTINCT entity, feature FROM new_days
),
old_blocks AS (
    -- each block of the batch's pairs, the days it already counts as a mask, over every event name of the pair
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
    JOIN batch_pairs AS p ON b."domain" = p.entity AND b."feature" = p.feature
    WHERE b."product_id" = %(product)s
    GROUP BY 1, 2, 3
    HAVING BIT_OR((CASE WHEN b."c0" > 0 THEN (CAST(1 AS bigint) << 0) ELSE 0 END)
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
           | (CASE WHEN b."c31" > b."c30" THEN (CAST(1 AS bigint) << 31) ELSE 0 END)) <> 0
),
fresh AS (
    -- the batch days the pairs' blocks do not count yet, with the mask of the day's block (0: a new block)
    SELECT n.entity, n.feature, ((n.day - DATE '0001-01-01') + 1) AS ordinal, COALESCE(m.used, 0) AS used
    FROM new_days AS n
    LEFT JOIN old_blocks AS m ON m.entity = n.entity AND m.feature = n.feature AND m.block = ((n.day - DATE '0001-01-01') + 1) / 32
    WHERE (COALESCE(m.used, 0) & (CAST(1 AS bigint) << CAST(MOD(((n.day - DATE '0001-01-01') + 1), 32) AS integer))) = 0
),
touched AS (
    SELECT DISTINCT entity, feature FROM fresh
),
blocks AS (
    -- the touched pairs' old blocks and the new blocks of their fresh days, each with the
    -- last old day of the blocks before it and the first old day of the blocks after it;
    -- a pair with no old block has no old day next to any day (a product's first fold: none)
    SELECT entity, feature, block,
           MAX(last_day) OVER (PARTITION BY entity COLLATE "C", feature COLLATE "C" ORDER BY block
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS day_before,
           MIN(first_day) OVER (PARTITION BY entity COLLATE "C", feature COLLATE "C" ORDER BY block
                                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS day_after
    FROM (
        SELECT o.entity, o.feature, o.block,
               o.block * 32 + (CASE WHEN o.used >= (CAST(1 AS bigint) << 31) THEN 31 WHEN o.used >= (CAST(1 AS bigint) << 30) THEN 30 WHEN o.used >= (CAST(1 AS bigint) << 29) THEN 29 WHEN o.used >= (CAST(1 AS bigint) << 28) THEN 28 WHEN o.used >= (CAST(1 AS bigint) << 27) THEN 27 WHEN o.used >= (CAST(1 AS bigint) << 26) THEN 26 WHEN o.used >= (CAST(1 AS bigint) << 25) THEN 25 WHEN o.used >= (CAST(1 AS bigint) << 24) THEN 24 WHEN o.used >= (CAST(1 AS bigint) << 23) THEN 23 WHEN o.used >= (CAST(1 AS bigint) << 22) THEN 22 WHEN o.used >= (CAST(1 AS bigint) << 21) THEN 21 WHEN o.used >= (CAST(1 AS bigint) << 20) THEN 20 WHEN o.used >= (CAST(1 AS bigint) << 19) THEN 19 WHEN o.used >= (CAST(1 AS bigint) << 18) THEN 18 WHEN o.used >= (CAST(1 AS bigint) << 17) THEN 17 WHEN o.used >= (CAST(1 AS bigint) << 16) THEN 16 WHEN o.used >= (CAST(1 AS bigint) << 15) THEN 15 WHEN o.used >= (CAST(1 AS bigint) << 14) THEN 14 WHEN o.used >= (CAST(1 AS bigint) << 13) THEN 13 WHEN o.used >= (CAST(1 AS bigint) << 12) THEN 12 WHEN o.used >= (CAST(1 AS bigint) << 11) THEN 11 WHEN o.used >= (CAST(1 AS bigint) << 10) THEN 10 WHEN o.used >= (CAST(1 AS bigint) << 9) THEN 9 WHEN o.used >= (CAST(1 AS bigint) << 8) THEN 8 WHEN o.used >= (CAST(1 AS bigint) << 7) THEN 7 WHEN o.used >= (CAST(1 AS bigint) << 6) THEN 6 WHEN o.used >= (CAST(1 AS bigint) << 5) THEN 5 WHEN o.used >= (CAST(1 AS bigint) << 4) THEN 4 WHEN o.used >= (CAST(1 AS bigint) << 3) THEN 3 WHEN o.used >= (CAST(1 AS bigint) << 2) THEN 2 WHEN o.used >= (CAST(1 AS bigint) << 1) THEN 1 ELSE 0 END) AS last_day,
               o.block * 32 + (CASE WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 31) THEN 31 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 30) THEN 30 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 29) THEN 29 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 28) THEN 28 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 27) THEN 27 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 26) THEN 26 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 25) THEN 25 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 24) THEN 24 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 23) THEN 23 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 22) THEN 22 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 21) THEN 21 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 20) THEN 20 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 19) THEN 19 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 18) THEN 18 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 17) THEN 17 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 16) THEN 16 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 15) THEN 15 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 14) THEN 14 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 13) THEN 13 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 12) THEN 12 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 11) THEN 11 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 10) THEN 10 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 9) THEN 9 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 8) THEN 8 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 7) THEN 7 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 6) THEN 6 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 5) THEN 5 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 4) THEN 4 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 3) THEN 3 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 2) THEN 2 WHEN (o.used & -o.used) >= (CAST(1 AS bigint) << 1) THEN 1 ELSE 0 END) AS first_day
        FROM old_blocks AS o
        JOIN touched AS t ON o.entity = t.entity AND o.feature = t.feature
        UNION ALL
        SELECT DISTINCT f.entity, f.feature, f.ordinal / 32, CAST(NULL AS integer), CAST(NULL AS integer)
        FROM fresh AS f
        JOIN (SELECT DISTINCT entity, feature FROM old_blocks) AS o ON o.entity = f.entity AND o.feature = f.feature
        WHERE f.used = 0
    ) AS pair_blocks
),
fresh_bits AS (
    -- a fresh day's block mask split at the day: the old days below it, the lowest old day above it
    SELECT entity, feature, ordinal, ordinal - MOD(ordinal, 32) AS block_start,
           (used & ((CAST(1 AS bigint) << CAST(MOD(ordinal, 32) AS integer)) - 1)) AS below,
           (above & -above) AS above
    FROM (SELECT entity, feature, ordinal, used, (used & -((CAST(1 AS bigint) << CAST(MOD(ordinal, 32) + 1 AS integer)))) AS above FROM fresh) AS f
),
near_days AS (
    -- N: the old day before each fresh day (in its block, or the blocks before) and the one after
    SELECT f.entity, f.feature,
           CASE WHEN f.below <> 0 THEN f.block_start + (CASE WHEN f.below >= (CAST(1 AS bigint) << 31) THEN 31 WHEN f.below >= (CAST(1 AS bigint) << 30) THEN 30 WHEN f.below >= (CAST(1 AS bigint) << 29) THEN 29 WHEN f.below >= (CAST(1 AS bigint) << 28) THEN 28 WHEN f.below >= (CAST(1 AS bigint) << 27) THEN 27 WHEN f.below >= (CAST(1 AS bigint) << 26) THEN 26 WHEN f.below >= (CAST(1 AS bigint) << 25) THEN 25 WHEN f.below >= (CAST(1 AS bigint) << 24) THEN 24 WHEN f.below >= (CAST(1 AS bigint) << 23) THEN 23 WHEN f.below >= (CAST(1 AS bigint) << 22) THEN 22 WHEN f.below >= (CAST(1 AS bigint) << 21) THEN 21 WHEN f.below >= (CAST(1 AS bigint) << 20) THEN 20 WHEN f.below >= (CAST(1 AS bigint) << 19) THEN 19 WHEN f.below >= (CAST(1 AS bigint) << 18) THEN 18 WHEN f.below >= (CAST(1 AS bigint) << 17) THEN 17 WHEN f.below >= (CAST(1 AS bigint) << 16) THEN 16 WHEN f.below >= (CAST(1 AS bigint) << 15) THEN 15 WHEN f.below >= (CAST(1 AS bigint) << 14) THEN 14 WHEN f.below >= (CAST(1 AS bigint) << 13) THEN 13 WHEN f.below >= (CAST(1 AS bigint) << 12) THEN 12 WHEN f.below >= (CAST(1 AS bigint) << 11) THEN 11 WHEN f.below >= (CAST(1 AS bigint) << 10) THEN 10 WHEN f.below >= (CAST(1 AS bigint) << 9) THEN 9 WHEN f.below >= (CAST(1 AS bigint) << 8) THEN 8 WHEN f.below >= (CAST(1 AS bigint) << 7) THEN 7 WHEN f.below >= (CAST(1 AS bigint) << 6) THEN 6 WHEN f.below >= (CAST(1 AS bigint) << 5) THEN 5 WHEN f.below >= (CAST(1 AS bigint) << 4) THEN 4 WHEN f.below >= (CAST(1 AS bigint) << 3) THEN 3 WHEN f.below >= (CAST(1 AS bigint) << 2) THEN 2 WHEN f.below >= (CAST(1 AS bigint) << 1) THEN 1 ELSE 0 END) ELSE b.day_before END AS ordinal
    FROM fresh_bits AS f
    JOIN blocks AS b ON b.entity = f.entity AND b.feature = f.feature AND b.block = f.ordinal / 32
    WHERE f.below <> 0 OR b.day_before IS NOT NULL
    UNION
    SELECT f.entity, f.feature,
           CASE WHEN f.above <> 0 THEN f.block_start + (CASE WHEN f.above >= (CAST(1 AS bigint) << 31) THEN 31 WHEN f.above >= (CAST(1 AS bigint) << 30) THEN 30 WHEN f.above >= (CAST(1 AS bigint) << 29) THEN 29 WHEN f.above >= (CAST(1 AS bigint) << 28) THEN 28 WHEN f.above >= (CAST(1 AS bigint) << 27) THEN 27 WHEN f.above >= (CAST(1 AS bigint) << 26) THEN 26 WHEN f.above >= (CAST(1 AS bigint) << 25) THEN 25 WHEN f.above >= (CAST(1 AS bigint) << 24) THEN 24 WHEN f.above >= (CAST(1 AS bigint) << 23) THEN 23 WHEN f.above >= (CAST(1 AS bigint) << 22) THEN 22 WHEN f.above >= (CAST(1 AS bigint) << 21) THEN 21 WHEN f.above >= (CAST(1 AS bigint) << 20) THEN 20 WHEN f.above >= (CAST(1 AS bigint) << 19) THEN 19 WHEN f.above >= (CAST(1 AS bigint) << 18) THEN 18 WHEN f.above >= (CAST(1 AS bigint) << 17) THEN 17 WHEN f.above >= (CAST(1 AS bigint) << 16) THEN 16 WHEN f.above >= (CAST(1 AS bigint) << 15) THEN 15 WHEN f.above >= (CAST(1 AS bigint) << 14) THEN 14 WHEN f.above >= (CAST(1 AS bigint) << 13) THEN 13 WHEN f.above >= (CAST(1 AS bigint) << 12) THEN 12 WHEN f.above >= (CAST(1 AS bigint) << 11) THEN 11 WHEN f.above >= (CAST(1 AS bigint) << 10) THEN 10 WHEN f.above >= (CAST(1 AS bigint) << 9) THEN 9 WHEN f.above >= (CAST(1 AS bigint) << 8) THEN 8 WHEN f.above >= (CAST(1 AS bigint) << 7) THEN 7 WHEN f.above >= (CAST(1 AS bigint) << 6) THEN 6 WHEN f.above >= (CAST(1 AS bigint) << 5) THEN 5 WHEN f.above >= (CAST(1 AS bigint) << 4) THEN 4 WHEN f.above >= (CAST(1 AS bigint) << 3) THEN 3 WHEN f.above >= (CAST(1 AS bigint) << 2) THEN 2 WHEN f.above >= (CAST(1 AS bigint) << 1) THEN 1 ELSE 0 END) ELSE b.day_after END
    FROM fresh_bits AS f
    JOIN blocks AS b ON b.entity = f.entity AND b.feature = f.feature AND b.block = f.ordinal / 32
    WHERE f.above <> 0 OR b.day_after IS NOT NULL
),
all_days AS (
    -- fresh days are not among the old ones: the two sets are disjoint
    SELECT entity, feature, ordinal FROM near_days
    UNION ALL
    SELECT entity, feature, ordinal FROM fresh
),
points AS (
    SELECT feature, ordinal, LAG(ordinal, 1, 1) OVER w AS previous, 1 AS delta
    FROM all_days
    WINDOW w AS (PARTITION BY entity COLLATE "C", feature COLLATE "C" ORDER BY ordinal)
    UNION ALL
    SELECT feature, ordinal, LAG(ordinal, 1, 1) OVER w, -1
    FROM near_days
    WINDOW w AS (PARTITION BY entity COLLATE "C", feature COLLATE "C" ORDER BY ordinal)
)
INSERT INTO "events_featurereachcounter" ("product_id", "kind", "day", "feature", "previous_day", "count")
SELECT %(product)s, %(kind)s, (DATE '0001-01-01' + CAST((ordinal) - 1 AS integer)), feature, (DATE '0001-01-01' + CAST((previous) - 1 AS integer)), SUM(delta)
FROM points
GROUP BY ordinal, feature, previous
HAVING SUM(delta) <> 0
ORDER BY ordinal, feature, previous
ON CONFLICT ("product_id", "kind", "day", "feature", "previous_day") DO UPDATE SET "count" = "events_featurereachcounter"."count" + EXCLUDED."count"
