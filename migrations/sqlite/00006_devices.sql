-- Browsers that signed in to an account before (the device cookie): the
-- brute-force throttle lets them past the account-wide limit.

-- +goose Up
CREATE TABLE devices (
    id           INTEGER   PRIMARY KEY,
    user_id      INTEGER   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT      NOT NULL, -- hex SHA-256 of the device cookie's token
    created_at   TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP NOT NULL, -- last successful sign-in from it
    UNIQUE (user_id, token_hash)
);
CREATE INDEX devices_last_used_at ON devices (last_used_at);

-- +goose Down
DROP TABLE devices;
