-- When an account's email address last changed. For a day after a change
-- SSO sign-ins are not linked to the account automatically: whoever changed
-- the address must not be able to claim the account through it at once.

-- +goose Up
ALTER TABLE users ADD COLUMN email_changed_at TIMESTAMPTZ NULL; -- NULL: never changed since the account was made

-- +goose Down
ALTER TABLE users DROP COLUMN email_changed_at;
