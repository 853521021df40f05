-- Brute-force throttling counters, in the database so every replica shares them.

-- +goose Up
CREATE TABLE throttle (
    key          TEXT        PRIMARY KEY, -- "acct:<email>", "acctip:<email>|<ip>", "ip:<ip>"
    failures     INTEGER     NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    locked_until TIMESTAMPTZ NULL
);
CREATE INDEX throttle_window_start ON throttle (window_start);

-- +goose Down
DROP TABLE throttle;
