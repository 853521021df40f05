-- Passkeys (WebAuthn). passkeys holds each account's registered
-- credentials: the credential ID the browser names it by, the user handle
-- the authenticator stores with it (random, the same for every passkey of
-- an account), the credential record as go-webauthn encodes it (public
-- key, flags, AAGUID, transports), and the signature counter kept apart so
-- one statement can refuse a counter that went back.
-- passkey_ceremonies is a registration or assertion in progress: its
-- challenge (hashed), the browser it was given to, what it is for, and
-- the library's session data; five minutes, single use.

-- +goose Up
CREATE TABLE passkeys (
    id            INTEGER   PRIMARY KEY,
    user_id       INTEGER   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id BLOB      NOT NULL UNIQUE,
    user_handle   BLOB      NOT NULL,
    name          TEXT      NOT NULL,
    credential    BLOB      NOT NULL,
    sign_count    INTEGER   NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
CREATE TABLE passkey_ceremonies (
    id             INTEGER   PRIMARY KEY,
    challenge_hash TEXT      NOT NULL UNIQUE, -- hex SHA-256 of the challenge
    browser_hash   TEXT      NOT NULL,        -- hex SHA-256 of the browser cookie
    purpose        TEXT      NOT NULL,        -- register, login, second, stepup, sudo
    user_id        INTEGER   REFERENCES users(id) ON DELETE CASCADE,
    data           BLOB      NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL
);
CREATE INDEX passkey_ceremonies_expires_at ON passkey_ceremonies (expires_at);
CREATE INDEX passkey_ceremonies_browser_hash ON passkey_ceremonies (browser_hash);

-- +goose Down
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
