SELECT DISTINCT date_trunc('month', "occurred_at", 'UTC') FROM "events_event_default"
