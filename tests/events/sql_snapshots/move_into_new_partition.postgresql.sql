CREATE TABLE "events_event_p2026_11" (LIKE "events_event" INCLUDING DEFAULTS);

WITH moved AS (
    DELETE FROM "events_event_default" WHERE "occurred_at" >= '2026-11-01T00:00:00+00:00' AND "occurred_at" < '2026-12-01T00:00:00+00:00' RETURNING *
)
INSERT INTO "events_event_p2026_11" SELECT * FROM moved;

ALTER TABLE "events_event" ATTACH PARTITION "events_event_p2026_11" FOR VALUES FROM ('2026-11-01T00:00:00+00:00') TO ('2026-12-01T00:00:00+00:00')
