-- A new account actor (after a restart, a crash or a passivation) counts the account's private
-- and public replies of the last hour against its hourly budgets, so that an hour spanning a
-- restart never sends twice the budget. This finds them without reading the account's whole
-- history. Only settled rows are in it (a row in flight goes back to pending when an actor
-- starts, and is counted when it is sent again), so neither inserts in flight nor the updates
-- of a queued row add to it.
CREATE INDEX outbox_recent_calls ON outbox (account_id, updated_at)
  WHERE kind IN ('public_reply', 'private_reply') AND state IN ('sent', 'unknown', 'failed');
