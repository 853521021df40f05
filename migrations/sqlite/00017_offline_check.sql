-- The offline check of providers with offline_check: each identity keeps
-- its refresh token (sealed with secrets.key, bound to the provider and
-- account), when the provider last confirmed the person (a sign-in or a
-- check), when it said the person is gone, and when the next check is due
-- (NULL: none, as for an identity without live sessions). A sign-in parked
-- until the person proves the account's password keeps its token sealed
-- in pending_links.refresh_token.

-- +goose Up
ALTER TABLE identities ADD COLUMN refresh_token BLOB;
ALTER TABLE identities ADD COLUMN confirmed_at TIMESTAMP;
ALTER TABLE identities ADD COLUMN revoked_at TIMESTAMP;
ALTER TABLE identities ADD COLUMN check_at TIMESTAMP;
CREATE INDEX identities_check_at ON identities (provider_id, check_at);
ALTER TABLE pending_links ADD COLUMN refresh_token BLOB;

-- +goose Down
ALTER TABLE pending_links DROP COLUMN refresh_token;
DROP INDEX identities_check_at;
ALTER TABLE identities DROP COLUMN check_at;
ALTER TABLE identities DROP COLUMN revoked_at;
ALTER TABLE identities DROP COLUMN confirmed_at;
ALTER TABLE identities DROP COLUMN refresh_token;
