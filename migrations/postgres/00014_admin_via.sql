-- users.admin_via names the provider and group that make the account an
-- administrator ("acme: gatehouse-admins"), set and cleared by the group
-- sync of each SSO sign-in through a provider with admin_groups; '' when
-- no provider grants it. While it is set, the console does not demote the
-- account by hand: the provider would grant it again at the next sign-in.

-- +goose Up
ALTER TABLE users ADD COLUMN admin_via TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN admin_via;
