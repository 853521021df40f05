-- Single sign-on: linked identities, pending logins and links, dynamic client
-- registrations, and back-channel logout token IDs seen (replay guard).

-- +goose Up
CREATE TABLE identities (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id   TEXT      NOT NULL,
    issuer        TEXT      NOT NULL,
    subject       TEXT      NOT NULL,
    email         TEXT      NOT NULL DEFAULT '', -- last email the provider sent
    claims        TEXT      NOT NULL DEFAULT '{}', -- last claims snapshot (JSON)
    created_at    TIMESTAMP NOT NULL,
    last_login_at TIMESTAMP NULL,
    UNIQUE (issuer, subject)
);
CREATE INDEX identities_user_id ON identities (user_id);

-- A sign-in in flight between the redirect to the provider and the callback.
CREATE TABLE pending_logins (
    id            INTEGER PRIMARY KEY,
    state_hash    TEXT      NOT NULL UNIQUE, -- SHA-256 of state: the DB never holds a usable state
    browser_hash  TEXT      NOT NULL,        -- SHA-256 of the browser-binding cookie
    provider_id   TEXT      NOT NULL,
    nonce         TEXT      NOT NULL,
    code_verifier TEXT      NOT NULL,
    next          TEXT      NOT NULL DEFAULT '',
    mode          TEXT      NOT NULL DEFAULT 'login', -- login, link (from the account page) or refresh
    user_id       INTEGER   NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX pending_logins_browser_hash ON pending_logins (browser_hash);
CREATE INDEX pending_logins_expires_at ON pending_logins (expires_at);

-- An SSO identity waiting for proof of the local password before linking.
CREATE TABLE pending_links (
    id           INTEGER PRIMARY KEY,
    token_hash   TEXT      NOT NULL UNIQUE,
    browser_hash TEXT      NOT NULL,
    user_id      INTEGER   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id  TEXT      NOT NULL,
    issuer       TEXT      NOT NULL,
    subject      TEXT      NOT NULL,
    email        TEXT      NOT NULL DEFAULT '',
    claims       TEXT      NOT NULL DEFAULT '{}',
    sid          TEXT      NOT NULL DEFAULT '',
    id_token     TEXT      NOT NULL DEFAULT '',
    auth_time    TIMESTAMP NULL,
    next         TEXT      NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL
);
CREATE INDEX pending_links_expires_at ON pending_links (expires_at);

-- RFC 7591 registrations: one per provider and issuer, shared by every replica.
CREATE TABLE client_registrations (
    provider_id               TEXT      NOT NULL,
    issuer                    TEXT      NOT NULL,
    client_id                 TEXT      NOT NULL,
    client_secret             TEXT      NOT NULL DEFAULT '',
    registration_access_token TEXT      NOT NULL DEFAULT '',
    registration_client_uri   TEXT      NOT NULL DEFAULT '',
    raw                       TEXT      NOT NULL DEFAULT '{}',
    created_at                TIMESTAMP NOT NULL,
    PRIMARY KEY (provider_id, issuer)
);

-- Back-Channel Logout 1.0 §2.6: a logout token's jti is accepted once.
CREATE TABLE logout_jtis (
    issuer     TEXT      NOT NULL,
    jti        TEXT      NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX logout_jtis_expires_at ON logout_jtis (expires_at);

-- +goose Down
DROP TABLE logout_jtis;
DROP TABLE client_registrations;
DROP TABLE pending_links;
DROP TABLE pending_logins;
DROP TABLE identities;
