-- Second factors. totp_factors holds an account's authenticator app: its
-- secret sealed with secrets.key (AES-256-GCM bound to the account), when
-- it was confirmed (NULL while enrolment waits for the first code), and the
-- time step of the last code accepted, so a code works once.
-- recovery_codes are the account's single-use codes, hashed.
-- pending_mfa is a sign-in waiting for its second factor: created after a
-- right password, bound to the browser that typed it, five minutes, single
-- use; no session exists until it completes.

-- +goose Up
ALTER TABLE sessions ADD COLUMN mfa TEXT NOT NULL DEFAULT ''; -- the second factor the sign-in gave: totp, recovery, sso; '' none
CREATE TABLE totp_factors (
    user_id      INTEGER   PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       BLOB      NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    confirmed_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_step    INTEGER   NOT NULL DEFAULT 0
);
CREATE TABLE recovery_codes (
    id        INTEGER   PRIMARY KEY,
    user_id   INTEGER   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT      NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at   TIMESTAMP,
    UNIQUE (user_id, code_hash)
);
CREATE TABLE pending_mfa (
    token_hash   TEXT      PRIMARY KEY, -- hex SHA-256 of the cookie's token
    user_id      INTEGER   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    next         TEXT      NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX pending_mfa_expires_at ON pending_mfa (expires_at);
CREATE INDEX pending_mfa_user_id ON pending_mfa (user_id);

-- +goose Down
ALTER TABLE sessions DROP COLUMN mfa;
DROP TABLE pending_mfa;
DROP TABLE recovery_codes;
DROP TABLE totp_factors;
