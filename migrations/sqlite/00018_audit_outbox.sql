-- The audit stream's webhook deliveries (audit.webhook). RecordEvent writes
-- an event's delivery here in the transaction that inserts the event, so a
-- delivery exists if and only if its event does, and a request never waits
-- on the receiver. A worker on every replica claims the oldest due rows
-- (claim, claimed_until; FOR UPDATE SKIP LOCKED on PostgreSQL) and POSTs
-- them; a delivered row is deleted, a failed one retried with backoff, and
-- one given up on keeps failed_at (for inspection) until the sweep deletes
-- it after 30 days. No foreign key to events: retention may delete an
-- event whose delivery is still waiting, and the body carries all of it.

-- +goose Up
CREATE TABLE audit_outbox (
    id              INTEGER   PRIMARY KEY,
    event_id        INTEGER     NOT NULL, -- events.id
    delivery_id     TEXT        NOT NULL UNIQUE, -- X-Gatehouse-Delivery, the same on every attempt
    kind            TEXT        NOT NULL, -- X-Gatehouse-Event
    body            TEXT        NOT NULL, -- the JSON record (schema 1), signed as it is
    created_at      TIMESTAMP   NOT NULL,
    next_attempt_at TIMESTAMP   NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0, -- claims so far
    last_error      TEXT        NOT NULL DEFAULT '',
    claim           TEXT,        -- token of the worker delivering it now
    claimed_until   TIMESTAMP  , -- after this another worker may claim it
    failed_at       TIMESTAMP    -- given up after the last attempt
);
CREATE INDEX audit_outbox_pending ON audit_outbox (id) WHERE failed_at IS NULL;
CREATE INDEX audit_outbox_waiting ON audit_outbox (next_attempt_at) WHERE failed_at IS NULL;
CREATE INDEX audit_outbox_failed_at ON audit_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- +goose Down
DROP TABLE audit_outbox;
