-- Custom domains prove control (a TXT record or a CNAME) before they route traffic. While
-- pending, several deployments may claim a name; at most one holds it verified. Names attached
-- before verification existed start pending with a fresh token (with
-- HOSTER_DOMAIN_VERIFICATION=none the first check verifies them).
CREATE TABLE custom_domains (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    token         TEXT NOT NULL,
    verified_at   TEXT,
    checked_at    TEXT,
    check_error   TEXT,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (deployment_id, domain)
);
INSERT INTO custom_domains (deployment_id, domain, token, created_at)
    SELECT deployment_id, domain, 'hoster-' || lower(hex(randomblob(16))), created_at FROM deployment_domains;
DROP TABLE deployment_domains;
CREATE UNIQUE INDEX custom_domains_verified ON custom_domains (domain) WHERE verified_at IS NOT NULL;
CREATE INDEX custom_domains_by_domain ON custom_domains (domain);
