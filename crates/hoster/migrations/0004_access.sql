-- API tokens: only a SHA-256 of each token is kept; the token itself is shown once.
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'creator', 'customer')),
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);

-- Who did what, append-only.
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);

-- An admin may lift the safe-compose policy for one template.
ALTER TABLE templates ADD COLUMN trusted INTEGER NOT NULL DEFAULT 0;
