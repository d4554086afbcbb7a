-- A row whose write may have landed (in flight when its actor stopped, or cut off with the
-- read-backs unable to connect) must be read back before it is sent again. That mark was a
-- value of last_error, which any later wait (a throttle, a budget, an outage) overwrote with
-- its own reason, so a second restart sent such a row blind. Now it is a column of its own
-- that only the row's end (sent, failed, unknown, cancelled) makes moot; nothing clears it.
ALTER TABLE outbox ADD COLUMN verify_first boolean NOT NULL DEFAULT false;
UPDATE outbox SET verify_first = true
  WHERE state = 'pending' AND last_error = 'interrupted while in flight';
