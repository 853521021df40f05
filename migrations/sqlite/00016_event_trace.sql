-- events.trace is an SSO sign-in's decision trace (JSON): every rule the
-- sign-in met, what each decided and which one decided the outcome, shown
-- in the audit log and on the identity's page. pending_links.trace carries
-- it while the person proves the account's password.

-- +goose Up
ALTER TABLE events ADD COLUMN trace TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_links ADD COLUMN trace TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE pending_links DROP COLUMN trace;
ALTER TABLE events DROP COLUMN trace;
