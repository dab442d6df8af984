-- A deployment's backup schedule: cron (UTC) and how many of its backups to keep.
CREATE TABLE backup_schedules (
    deployment_id  TEXT PRIMARY KEY REFERENCES deployments(id) ON DELETE CASCADE,
    schedule       TEXT NOT NULL,
    keep           INTEGER NOT NULL CHECK (keep >= 1)
);
