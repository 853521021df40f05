-- Re-authentication and SSO re-check times of a session in their own columns.
-- (The SQLite set also carries values over from the JSON data column; no
-- PostgreSQL installation predates these columns.)

-- +goose Up
ALTER TABLE sessions ADD COLUMN reauth_at TIMESTAMPTZ NULL;      -- last re-authentication (sudo mode)
ALTER TABLE sessions ADD COLUMN sso_checked_at TIMESTAMPTZ NULL; -- provider session last confirmed (prompt=none refresh)

-- +goose Down
ALTER TABLE sessions DROP COLUMN sso_checked_at;
ALTER TABLE sessions DROP COLUMN reauth_at;
