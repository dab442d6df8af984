-- Templates and the deployments that reference them.
-- `seq` gives a stable creation order ("newest first") that VACUUM cannot renumber.
CREATE TABLE templates (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    slug          TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    creator_id    TEXT    NOT NULL,
    compose_spec  TEXT    NOT NULL,
    config_files  TEXT    NOT NULL DEFAULT '[]', -- JSON array
    variables     TEXT    NOT NULL DEFAULT '[]', -- JSON array
    price_monthly INTEGER NOT NULL DEFAULT 0 CHECK (price_monthly >= 0),
    category      TEXT,
    tags          TEXT    NOT NULL DEFAULT '[]', -- JSON array
    published     INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    UNIQUE (slug, version)
);
CREATE INDEX templates_by_creator ON templates (creator_id, seq);
CREATE INDEX templates_by_published ON templates (published, seq);

CREATE TABLE deployments (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    template_id   TEXT    NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    customer_id   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);
CREATE INDEX deployments_by_template ON deployments (template_id);
CREATE INDEX deployments_by_customer ON deployments (customer_id, seq);
