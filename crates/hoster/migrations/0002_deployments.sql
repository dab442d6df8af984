-- Deployments: hostnames, failure reasons, their event history and their host ports.
ALTER TABLE deployments ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE deployments ADD COLUMN error_message TEXT;
-- Set when a DELETE begins, so a crash part-way through still ends in the deletion.
ALTER TABLE deployments ADD COLUMN delete_requested INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX deployments_by_domain ON deployments (domain) WHERE domain <> '';
CREATE INDEX deployments_by_status ON deployments (status);

CREATE TABLE deployment_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    from_status   TEXT,
    to_status     TEXT    NOT NULL,
    message       TEXT,
    at            TEXT    NOT NULL
);
CREATE INDEX deployment_events_by_deployment ON deployment_events (deployment_id, seq);

-- A host port belongs to one deployment at a time; kept across stop/start so URLs stay stable.
CREATE TABLE port_assignments (
    deployment_id  TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    container_port INTEGER NOT NULL,
    protocol       TEXT    NOT NULL,
    host_port      INTEGER NOT NULL,
    UNIQUE (host_port, protocol)
);
CREATE INDEX port_assignments_by_deployment ON port_assignments (deployment_id);
