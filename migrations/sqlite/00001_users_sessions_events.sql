-- Users, database-backed sessions and the audit event log.
-- Portable SQL: types and constraints that PostgreSQL accepts too.

-- +goose Up
CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: audit rows keep pointing at the right account
    email             TEXT      NOT NULL UNIQUE, -- normalised: trimmed, lower-cased
    name              TEXT      NOT NULL DEFAULT '',
    password_hash     TEXT      NULL,            -- NULL for SSO-only accounts
    is_admin          BOOLEAN   NOT NULL DEFAULT FALSE,
    disabled_at       TIMESTAMP NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    last_login_at     TIMESTAMP NULL,
    last_login_method TEXT      NOT NULL DEFAULT ''
);

CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    token_hash      TEXT      NOT NULL UNIQUE, -- hex SHA-256 of the cookie token
    user_id         INTEGER   NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      TIMESTAMP NOT NULL,
    last_seen_at    TIMESTAMP NOT NULL,
    idle_expires_at TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,        -- absolute lifetime
    ip              TEXT      NOT NULL DEFAULT '',
    user_agent      TEXT      NOT NULL DEFAULT '',
    auth_method     TEXT      NOT NULL DEFAULT '', -- password or sso
    auth_time       TIMESTAMP NULL,
    provider_id     TEXT      NOT NULL DEFAULT '',
    issuer          TEXT      NOT NULL DEFAULT '',
    subject         TEXT      NOT NULL DEFAULT '',
    sid             TEXT      NOT NULL DEFAULT '',
    id_token        TEXT      NOT NULL DEFAULT '',
    data            TEXT      NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_issuer_sid ON sessions (issuer, sid);
CREATE INDEX sessions_issuer_subject ON sessions (issuer, subject);

CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    created_at    TIMESTAMP NOT NULL,
    kind          TEXT      NOT NULL,        -- login.success, login.failure, logout, ...
    actor_id      INTEGER   NULL,            -- who did it (no FK: the log outlives accounts)
    user_id       INTEGER   NULL,            -- whom it concerns
    email         TEXT      NOT NULL DEFAULT '',
    method        TEXT      NOT NULL DEFAULT '',
    provider_id   TEXT      NOT NULL DEFAULT '',
    ip            TEXT      NOT NULL DEFAULT '',
    detail        TEXT      NOT NULL DEFAULT ''
);
CREATE INDEX events_created_at ON events (created_at);
CREATE INDEX events_user_id ON events (user_id, created_at);
CREATE INDEX events_kind ON events (kind, created_at);

-- +goose Down
DROP TABLE events;
DROP TABLE sessions;
DROP TABLE users;
