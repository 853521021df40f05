-- Indexes for the admin console: sorting the users list and the audit log's
-- actor filter stay fast at 100,000 users. Accounts that never signed in
-- sort first by last sign-in on both databases (SQLite's default order).

-- +goose Up
CREATE INDEX users_name ON users (name);
CREATE INDEX users_created_at ON users (created_at);
CREATE INDEX users_last_login_at ON users (last_login_at NULLS FIRST);
CREATE INDEX events_actor_id ON events (actor_id, created_at);

-- +goose Down
DROP INDEX events_actor_id;
DROP INDEX users_last_login_at;
DROP INDEX users_created_at;
DROP INDEX users_name;
