-- Hostnames customers attach to their deployments, besides the generated one.
CREATE TABLE deployment_domains (
    domain        TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL
);
CREATE INDEX deployment_domains_by_deployment ON deployment_domains (deployment_id);
