-- The webhook journal: raw deliveries (kept for a retention period, for replay and
-- debugging) and the normalized events, unique per (account, natural key) so Meta's
-- duplicate deliveries are dropped by the database itself.
CREATE TABLE webhook_deliveries (
  id           text PRIMARY KEY,                 -- the correlation id in logs
  received_at  timestamptz NOT NULL DEFAULT now(),
  body         text NOT NULL,                    -- exact bytes as delivered (valid UTF-8 JSON)
  event_count  integer NOT NULL
);
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);

CREATE TABLE journal_events (
  id           bigserial PRIMARY KEY,
  account_id   text NOT NULL,
  dedupe_key   text NOT NULL,
  kind         text NOT NULL,
  event_time   timestamptz,
  received_at  timestamptz NOT NULL DEFAULT now(),
  delivery_id  text REFERENCES webhook_deliveries (id) ON DELETE SET NULL,
  event        jsonb NOT NULL,                   -- protocol::to_json(webhook_event)
  processed_at timestamptz,
  CONSTRAINT journal_events_dedupe UNIQUE (account_id, dedupe_key)
);
CREATE INDEX journal_events_pending ON journal_events (account_id, id) WHERE processed_at IS NULL;
CREATE INDEX journal_events_account_time ON journal_events (account_id, received_at);
