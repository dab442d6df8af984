-- Backups of deployments' volumes: where each archive is and what its manifest says. No
-- foreign key: a backup outlives its deployment (a new deployment can be made from it).
CREATE TABLE deployment_backups (
    id             TEXT PRIMARY KEY,
    deployment_id  TEXT NOT NULL,
    name           TEXT NOT NULL,
    location       TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    manifest       TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX deployment_backups_by_deployment ON deployment_backups (deployment_id, created_at);
