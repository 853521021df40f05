-- Email verification and invitations.
--
-- users.email_verified_at is when the account's address was last proved to
-- reach its owner (an invitation or verification link used, a password
-- reset link used, or a provider trusted for the domain vouching for it);
-- NULL: never, or not since the address changed. An account with a
-- password whose address is not verified is never linked to an SSO
-- identity by email alone.
--
-- email_links are the links mailed to prove an address: an invitation to
-- a new account (purpose 'invite', 7 days) or the confirmation of an
-- address (purpose 'verify', 24 hours; email is the address to confirm,
-- which for a change is the new one, and from_email the address it
-- replaces: the change is made only if the account still has it). Only a
-- hash of the token is kept; an account has at most one link of each
-- purpose, and using one deletes it.

-- +goose Up
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMP NULL;
CREATE TABLE email_links (
    token_hash TEXT      PRIMARY KEY, -- hex SHA-256 of the token
    purpose    TEXT      NOT NULL,    -- invite | verify
    user_id    INTEGER   NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email      TEXT      NOT NULL,    -- the address the link was sent to
    from_email TEXT      NOT NULL DEFAULT '', -- verify: the account's address when a change was asked for; '' confirms email itself
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    UNIQUE (user_id, purpose)
);
CREATE INDEX email_links_expires_at ON email_links (expires_at);

-- +goose Down
DROP TABLE email_links;
ALTER TABLE users DROP COLUMN email_verified_at;
