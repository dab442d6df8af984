-- What deployments are charged for: from a deployment's first successful start until its
-- deletion, at the monthly price of the version it runs; an upgrade to another version closes
-- one period and opens the next. Written in the transactions that move the deployment (to
-- `running`, or deleted), and kept after the deployment is gone: the source of usage and
-- earnings.
CREATE TABLE usage_periods (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id    TEXT    NOT NULL,
    deployment_name  TEXT    NOT NULL,
    customer_id      TEXT    NOT NULL,
    template_id      TEXT    NOT NULL,
    template_name    TEXT    NOT NULL,
    template_version TEXT    NOT NULL,
    creator_id       TEXT    NOT NULL,
    price_monthly    INTEGER NOT NULL,
    started_at       TEXT    NOT NULL,
    ended_at         TEXT
);
CREATE INDEX usage_by_customer ON usage_periods (customer_id, started_at);
CREATE INDEX usage_by_creator ON usage_periods (creator_id, started_at);
CREATE UNIQUE INDEX usage_open ON usage_periods (deployment_id) WHERE ended_at IS NULL;

-- Deployments that ran before this table existed: charged from their first recorded start.
INSERT INTO usage_periods (deployment_id, deployment_name, customer_id, template_id, template_name,
                           template_version, creator_id, price_monthly, started_at)
SELECT d.id, d.name, d.customer_id, t.id, t.name, t.version, t.creator_id, t.price_monthly,
       (SELECT MIN(e.at) FROM deployment_events e WHERE e.deployment_id = d.id AND e.to_status = 'running')
FROM deployments d JOIN templates t ON t.id = d.template_id
WHERE EXISTS (SELECT 1 FROM deployment_events e WHERE e.deployment_id = d.id AND e.to_status = 'running');
