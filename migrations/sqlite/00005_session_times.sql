-- Re-authentication and SSO re-check times of a session in their own columns
-- instead of RFC 3339 strings in the JSON data column.

-- +goose Up
ALTER TABLE sessions ADD COLUMN reauth_at TIMESTAMP NULL;      -- last re-authentication (sudo mode)
ALTER TABLE sessions ADD COLUMN sso_checked_at TIMESTAMP NULL; -- provider session last confirmed (prompt=none refresh)

-- Carry values over from the data column, in the form the driver writes
-- times in. A value that is not a time string was ignored before and is
-- dropped; rows whose data is not JSON are left alone (they sign out).
UPDATE sessions SET
    reauth_at = CASE WHEN json_type(data, '$.reauth_at') = 'text'
        THEN strftime('%Y-%m-%d %H:%M:%S+00:00', json_extract(data, '$.reauth_at')) END,
    sso_checked_at = CASE WHEN json_type(data, '$.sso_checked_at') = 'text'
        THEN strftime('%Y-%m-%d %H:%M:%S+00:00', json_extract(data, '$.sso_checked_at')) END,
    data = json_remove(data, '$.reauth_at', '$.sso_checked_at')
WHERE CASE WHEN json_valid(data)
    THEN json_type(data, '$.reauth_at') IS NOT NULL OR json_type(data, '$.sso_checked_at') IS NOT NULL
    ELSE FALSE END;

-- +goose Down
UPDATE sessions SET data = json_set(data, '$.reauth_at', strftime('%Y-%m-%dT%H:%M:%SZ', reauth_at))
WHERE reauth_at IS NOT NULL AND json_valid(data);
UPDATE sessions SET data = json_set(data, '$.sso_checked_at', strftime('%Y-%m-%dT%H:%M:%SZ', sso_checked_at))
WHERE sso_checked_at IS NOT NULL AND json_valid(data);
ALTER TABLE sessions DROP COLUMN sso_checked_at;
ALTER TABLE sessions DROP COLUMN reauth_at;
