-- The versions a deployment ran before its current one: an upgrade pushes the one it leaves
-- (template and variable values, sealed as in deployment_variables), a rolled-back upgrade pops
-- it again, and a rollback returns to the last one.
CREATE TABLE deployment_versions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    template_id   TEXT NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    at            TEXT NOT NULL
);
CREATE INDEX deployment_versions_by_deployment ON deployment_versions (deployment_id, seq);

CREATE TABLE deployment_version_variables (
    version_seq INTEGER NOT NULL REFERENCES deployment_versions (seq) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    generated   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (version_seq, name)
);
