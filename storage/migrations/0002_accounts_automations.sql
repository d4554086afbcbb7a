-- Workspaces, connected Instagram accounts, automations, the outbox of planned actions,
-- and what the engine records (decisions, contacts, analytics, links, notifications).
-- Users, sessions and memberships come in their own migration.

CREATE TABLE workspaces (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  time_zone   text NOT NULL DEFAULT 'UTC',
  settings    jsonb NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ig_accounts (
  id                       text PRIMARY KEY,          -- IG professional account id (user_id)
  workspace_id             bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  username                 text NOT NULL,
  account_type             text,
  login_type               text NOT NULL DEFAULT 'instagram' CHECK (login_type IN ('instagram', 'facebook')),
  page_id                  text,                      -- Facebook Login: messaging goes via the Page
  token_ciphertext         bytea,                     -- AES-256-GCM (iv || ct || tag), AAD = id
  token_key_id             text,
  token_expires_at         timestamptz,
  token_refreshed_at       timestamptz,
  status                   text NOT NULL DEFAULT 'active'
                             CHECK (status IN ('active', 'reauth_required', 'faulted', 'disconnected')),
  status_reason            text,
  private_replies_per_hour integer CHECK (private_replies_per_hour BETWEEN 1 AND 750),
  sends_per_second         integer CHECK (sends_per_second BETWEEN 1 AND 300),
  throttled_until          timestamptz,
  connected_at             timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ig_accounts_workspace ON ig_accounts (workspace_id);

CREATE TABLE automations (
  id                  bigserial PRIMARY KEY,
  account_id          text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  name                text NOT NULL,
  trigger             text NOT NULL
                        CHECK (trigger IN ('comment', 'dm', 'story_reply', 'story_mention', 'live_comment')),
  media_scope         text NOT NULL DEFAULT 'any' CHECK (media_scope IN ('any', 'selected', 'next')),
  media_ids           text[] NOT NULL DEFAULT '{}',
  match_type          text NOT NULL DEFAULT 'whole_word'
                        CHECK (match_type IN ('contains', 'whole_word', 'exact', 'starts_with', 'any')),
  keywords            text[] NOT NULL DEFAULT '{}',
  exclude_keywords    text[] NOT NULL DEFAULT '{}',
  accent_insensitive  boolean NOT NULL DEFAULT true,
  ignore_replies      boolean NOT NULL DEFAULT true,
  priority            integer NOT NULL DEFAULT 0,
  public_replies      text[] NOT NULL DEFAULT '{}',   -- variants, one picked at random
  dm_text             text,
  dm_buttons          jsonb NOT NULL DEFAULT '[]',    -- [{"title": ..., "url": "https://..."}]
  follow_gate         boolean NOT NULL DEFAULT false,
  follow_prompt_text  text,
  follow_button_title text,
  max_reprompts       integer NOT NULL DEFAULT 2 CHECK (max_reprompts BETWEEN 0 AND 5),
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  paused_reason       text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX automations_account ON automations (account_id);

-- Every planned Graph API action is a row before it is sent. The unique keys make a
-- crash or a duplicate event unable to plan (and so send) an action twice.
CREATE TABLE outbox (
  id             bigserial PRIMARY KEY,
  account_id     text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  automation_id  bigint REFERENCES automations (id) ON DELETE SET NULL,
  source_key     text NOT NULL,        -- the comment id or message mid the action answers
  kind           text NOT NULL
                   CHECK (kind IN ('public_reply', 'private_reply', 'dm', 'follow_prompt', 'follow_check', 'link_dm')),
  recipient_id   text,                 -- the user (IGSID), when known
  request        jsonb NOT NULL,       -- {"method","path","body"} relative to the Graph base URL
  state          text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'in_flight', 'sent', 'failed', 'unknown', 'cancelled')),
  attempts       integer NOT NULL DEFAULT 0,
  not_before     timestamptz NOT NULL DEFAULT now(),
  last_error     text,
  result         jsonb,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT outbox_once UNIQUE (account_id, source_key, automation_id, kind)
);
-- Meta allows one private reply per comment, whichever automation asks.
CREATE UNIQUE INDEX outbox_one_private_reply ON outbox (account_id, source_key) WHERE kind = 'private_reply';
CREATE INDEX outbox_due ON outbox (account_id, not_before) WHERE state IN ('pending', 'unknown');

-- What the engine decided for each event: matched (with the winning automation) or a
-- named skip reason. The dashboard shows the recent ones; analytics counts them.
CREATE TABLE decisions (
  id             bigserial PRIMARY KEY,
  account_id     text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  automation_id  bigint REFERENCES automations (id) ON DELETE SET NULL,
  journal_id     bigint,
  source_key     text NOT NULL,
  sender_id      text,
  username       text,
  text           text,
  outcome        text NOT NULL,        -- matched, skipped:<reason>, dm_failed:<reason>, ...
  created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX decisions_recent ON decisions (automation_id, id DESC);
CREATE INDEX decisions_account ON decisions (account_id, id DESC);

-- Counters per automation and day (in the workspace's time zone).
CREATE TABLE automation_daily (
  automation_id  bigint NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
  day            date NOT NULL,
  metric         text NOT NULL,        -- matched, public_reply, dm_sent, link_click, prompted, skip:<reason>, ...
  count          bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (automation_id, day, metric)
);

-- The audience: one contact per (account, Instagram-scoped user id).
CREATE TABLE contacts (
  account_id             text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  igsid                  text NOT NULL,
  username               text,
  first_seen             timestamptz NOT NULL DEFAULT now(),
  last_seen              timestamptz NOT NULL DEFAULT now(),
  last_inbound_at        timestamptz,  -- opens the 24-hour messaging window
  automations_triggered  integer NOT NULL DEFAULT 0,
  is_following           boolean,
  PRIMARY KEY (account_id, igsid)
);

-- Tracked links sent in DMs: /l/{token} counts the click and redirects.
CREATE TABLE links (
  token          text PRIMARY KEY,
  account_id     text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  automation_id  bigint REFERENCES automations (id) ON DELETE SET NULL,
  igsid          text,
  url            text NOT NULL,
  clicks         integer NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- Follow-gating conversations waiting for the user's "I'm following" tap.
CREATE TABLE follow_gates (
  account_id     text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  igsid          text NOT NULL,
  automation_id  bigint NOT NULL REFERENCES automations (id) ON DELETE CASCADE,
  source_key     text NOT NULL,        -- the comment that started it
  prompts        integer NOT NULL DEFAULT 1,
  state          text NOT NULL DEFAULT 'prompted' CHECK (state IN ('prompted', 'link_sent', 'gave_up')),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, igsid, automation_id)
);

-- Messages for a workspace's owners (token expired, account faulted, ...).
CREATE TABLE notifications (
  id            bigserial PRIMARY KEY,
  workspace_id  bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  account_id    text,
  kind          text NOT NULL,
  message       text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  read_at       timestamptz
);
CREATE UNIQUE INDEX notifications_once ON notifications (workspace_id, account_id, kind) WHERE read_at IS NULL;
