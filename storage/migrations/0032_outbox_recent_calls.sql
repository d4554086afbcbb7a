-- A new account actor (after a restart, a crash or a passivation) counts the account's private
-- and public replies of the last hour against its hourly budgets, so that an hour spanning a
-- restart never sends twice the budget. This finds them without reading the account's whole
-- history. Only rows in a state after their call are in it; pending rows (most updates of a
-- queued row) add nothing to it.
CREATE INDEX outbox_recent_calls ON outbox (account_id, updated_at)
  WHERE kind IN ('public_reply', 'private_reply') AND state IN ('in_flight', 'sent', 'unknown', 'failed');
