WITH pairs AS (SELECT license_id, feature, n FROM the_window_pairs)
SELECT 0, feature, COUNT(*), SUM("n") FROM pairs GROUP BY feature
UNION ALL
SELECT 1, CAST("license_id" AS TEXT), COUNT(*), SUM(n) FROM pairs GROUP BY "license_id"
