-- First-administrator setup links, in the database so that a link printed
-- by any replica works on every replica. Only a hash of the token is kept.
-- A row is added when a process starts with no administrator; the one used
-- is removed in the transaction that creates the administrator, with all
-- the others.

-- +goose Up
CREATE TABLE setup_tokens (
    token_hash TEXT      PRIMARY KEY, -- hex SHA-256 of the token
    created_at TIMESTAMP   NOT NULL,
    expires_at TIMESTAMP   NOT NULL
);

-- +goose Down
DROP TABLE setup_tokens;
