-- Dashboard users, their sessions and workspaces memberships, the single-use tokens
-- mailed to them, security records, login throttling, the OAuth state of a connection in
-- progress, the media cache, the contact form and Meta's data-deletion requests.
-- Secrets (session ids, mailed tokens, OAuth states) are stored only as SHA-256 hex.

CREATE TABLE users (
  id                 bigserial PRIMARY KEY,
  email              text NOT NULL,               -- lower-cased
  password_hash      text NOT NULL,               -- argon2id encoded (parameters included)
  name               text,
  email_verified_at  timestamptz,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE memberships (
  workspace_id  bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role          text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE invitations (
  id           bigserial PRIMARY KEY,
  workspace_id bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  email        text NOT NULL,
  role         text NOT NULL CHECK (role IN ('admin', 'member')),
  token_hash   text NOT NULL UNIQUE,
  invited_by   bigint REFERENCES users (id) ON DELETE SET NULL,
  expires_at   timestamptz NOT NULL,
  accepted_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_workspace ON invitations (workspace_id);

CREATE TABLE sessions (
  id_hash       text PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,             -- absolute expiry
  ip            text,
  user_agent    text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Mailed single-use tokens: email verification, password reset, email change.
CREATE TABLE user_tokens (
  token_hash  text PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  purpose     text NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'change_email')),
  new_email   text,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_tokens_user ON user_tokens (user_id);

-- Sign-ins and sensitive changes. No foreign key: rows marked `retain` outlive the user
-- (security, fraud and dispute reasons); the others are deleted with the user.
CREATE TABLE security_events (
  id          bigserial PRIMARY KEY,
  user_id     bigint,
  kind        text NOT NULL,
  ip          text,
  user_agent  text,
  retain      boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX security_events_user ON security_events (user_id, id DESC);

-- Login attempts for throttling per account (email hash) and per IP.
CREATE TABLE login_attempts (
  id          bigserial PRIMARY KEY,
  email_hash  text NOT NULL,
  ip          text NOT NULL,
  succeeded   boolean NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email ON login_attempts (email_hash, at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);

-- An Instagram connection in progress: the OAuth state, bound to the session that started it.
CREATE TABLE oauth_states (
  state_hash    text PRIMARY KEY,
  session_hash  text NOT NULL REFERENCES sessions (id_hash) ON DELETE CASCADE,
  workspace_id  bigint NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);

-- Graph API media pages, cached per account and cursor.
CREATE TABLE media_cache (
  account_id  text NOT NULL REFERENCES ig_accounts (id) ON DELETE CASCADE,
  cursor      text NOT NULL,
  body        text NOT NULL,
  fetched_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, cursor)
);

CREATE TABLE contact_messages (
  id          bigserial PRIMARY KEY,
  user_id     bigint REFERENCES users (id) ON DELETE CASCADE,
  email       text NOT NULL,
  name        text,
  message     text NOT NULL,
  ip          text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_messages_ip ON contact_messages (ip, created_at);

-- Meta's data-deletion callbacks (and their status page). Only the confirmation code and
-- the progress are kept; the Instagram user id is cleared when the deletion completes.
CREATE TABLE deletion_requests (
  id                 bigserial PRIMARY KEY,
  confirmation_code  text NOT NULL UNIQUE,
  ig_user_id         text,
  status             text NOT NULL CHECK (status IN ('received', 'in_progress', 'completed')),
  accounts_deleted   integer NOT NULL DEFAULT 0,
  created_at         timestamptz NOT NULL DEFAULT now(),
  completed_at       timestamptz
);
