-- Web console sign-ins: the browser keeps a random session id in a cookie; only its SHA-256 is
-- stored, with the token it signed in with, so revoking the token ends its sessions too.
CREATE TABLE console_sessions (
    id_hash     BLOB PRIMARY KEY,
    token_id    TEXT NOT NULL REFERENCES api_tokens(id),
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
