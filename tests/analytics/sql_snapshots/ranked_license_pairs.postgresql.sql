WITH pairs AS (SELECT license_id, feature, n FROM the_window_pairs)
SELECT l."public_id", l."customer_email", SUM(pairs.n), COUNT(*)
FROM pairs JOIN "events_license" AS l ON l."id" = pairs."license_id"
GROUP BY l."public_id", l."customer_email"
ORDER BY SUM(pairs.n) DESC, l."public_id" COLLATE "C"
