-- Undecided events are rows of their own instead of journal_events with processed_at NULL.
-- Deciding an event updated its journal row: a new copy of the whole row (payload included)
-- and, as the partial index's predicate column changed, a new entry in each of its four
-- indexes, which is half of the journal's index work and most of its WAL per event. Now
-- deciding deletes a small row here. The key leads with the account: an actor reads its
-- account's undecided events in order.
CREATE TABLE journal_pending (
  account_id text NOT NULL,
  id         bigint NOT NULL,
  PRIMARY KEY (account_id, id)
);
INSERT INTO journal_pending (account_id, id)
  SELECT account_id, id FROM journal_events WHERE processed_at IS NULL;
DROP INDEX journal_events_pending;
ALTER TABLE journal_events DROP COLUMN processed_at;
