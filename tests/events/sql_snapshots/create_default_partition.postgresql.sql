CREATE TABLE IF NOT EXISTS "events_event_default" PARTITION OF "events_event" DEFAULT
