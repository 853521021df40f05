-- Outgoing mail. A flow that sends a message writes the rendered message
-- here in the transaction of its action, so the message goes if and only if
-- the action commits; a worker on every replica claims due rows (one at a
-- time, for claimed_until) and delivers them, retrying with backoff. Sent
-- rows are deleted by the sweep after a day, failed ones after 30 days.

-- +goose Up
CREATE TABLE mail_outbox (
    id              INTEGER   PRIMARY KEY,
    message_id      TEXT      NOT NULL UNIQUE, -- the random part of the Message-ID
    recipient       TEXT      NOT NULL, -- the envelope recipient (RCPT TO)
    subject         TEXT      NOT NULL,
    body            TEXT      NOT NULL, -- the rendered RFC 5322 message
    created_at      TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts        INTEGER   NOT NULL DEFAULT 0, -- claims so far
    last_error      TEXT      NOT NULL DEFAULT '',
    claim           TEXT,      -- token of the worker delivering it now
    claimed_until   TIMESTAMP, -- after this another worker may claim it
    sent_at         TIMESTAMP,
    failed_at       TIMESTAMP  -- given up after the last attempt
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_sent_at ON mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_failed_at ON mail_outbox (failed_at) WHERE failed_at IS NOT NULL;

-- +goose Down
DROP TABLE mail_outbox;
