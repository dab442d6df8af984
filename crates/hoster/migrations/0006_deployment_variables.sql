-- The values a deployment's customer gave for its template's variables, and those Hoster
-- generated (passwords, secrets). Every value is sealed (see sealing.rs): none is stored in the clear.
CREATE TABLE deployment_variables (
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    generated     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, name)
);
