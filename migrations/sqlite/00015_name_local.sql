-- users.name_local is true once the account's display name was set in
-- gatehouse (by its owner on the account page, or an administrator): from
-- then on SSO sign-ins no longer replace it with the provider's name.

-- +goose Up
ALTER TABLE users ADD COLUMN name_local BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE users DROP COLUMN name_local;
