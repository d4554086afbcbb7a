-- Autovacuum's ANALYZE of the insert-heavy tables sorted samples of their JSON payloads
-- (about 5% of PostgreSQL's CPU under load); no query filters or joins on these columns,
-- so the planner needs no statistics for them.
ALTER TABLE journal_events ALTER COLUMN event SET STATISTICS 0;
ALTER TABLE webhook_deliveries ALTER COLUMN body SET STATISTICS 0;
ALTER TABLE outbox ALTER COLUMN request SET STATISTICS 0, ALTER COLUMN result SET STATISTICS 0;
ALTER TABLE decisions ALTER COLUMN text SET STATISTICS 0;
