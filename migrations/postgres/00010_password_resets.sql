-- Password reset links ("Forgot password?"). Only a hash of the token is
-- kept. An account has at most one: a new request replaces the one before,
-- any password change deletes it, and using it deletes it (single use).

-- +goose Up
CREATE TABLE password_resets (
    token_hash TEXT        PRIMARY KEY, -- hex SHA-256 of the token
    user_id    BIGINT      NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);

-- +goose Down
DROP TABLE password_resets;
