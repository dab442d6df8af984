-- A fourth token role, `metrics`, which may read /metrics only. SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt with every row.
CREATE TABLE api_tokens_new (
    id          TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'creator', 'customer', 'metrics')),
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
INSERT INTO api_tokens_new (id, token_hash, role, subject, name, created_at, revoked_at)
    SELECT id, token_hash, role, subject, name, created_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
