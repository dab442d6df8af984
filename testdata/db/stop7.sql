-- The database of the stop-7 release (cd7b94a), made by testdata/db/make-stop7.sh.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);
INSERT INTO _sqlx_migrations VALUES(1,'templates','2026-11-29 10:48:07',1,X'16f3e08deeaf5e2737d0a26e1087d7ba15ff771c7a63e87a58dee5f284228897ff9338eb09d50fb00c365ce807deabac',789827);
INSERT INTO _sqlx_migrations VALUES(2,'deployments','2026-11-29 10:48:07',1,X'e1bbe896b2f11995db1cdbe96ccbfead0129235746fd2014ea62f80270d81bfa898e7e4749c5c9d762586a44b0ace0ba',1391149);
INSERT INTO _sqlx_migrations VALUES(3,'custom domains','2026-11-29 10:48:07',1,X'fe661639543702409730f0efcd4b2c40598d9a2bd0334ce016cdc5ca073a0f7518b2a12c4fd9cf93905a90e5d35047cf',359412);
INSERT INTO _sqlx_migrations VALUES(4,'access','2026-11-29 10:48:07',1,X'634dc3eeb41ec2e0260c703690d9ee5884de6d59ceaf74d3265d8a41dfbf410e66fef8a110c5e88a66a8bd4f96c016f0',779816);
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
    updated_at    TEXT    NOT NULL, trusted INTEGER NOT NULL DEFAULT 0,
    UNIQUE (slug, version)
);
INSERT INTO templates VALUES(1,'tmpl_oqwl7zcbocobghb7','nginx-web','nginx-web','1.0.0','Simple nginx web server','user-1',replace('services:\n  web:\n    image: busybox\n    command: [httpd, -f, -p, "80"]\n    ports:\n      - "80"','\n',char(10)),'[{"name":"index.html","path":"/www/index.html","content":"<h1>Hi</h1>"}]','[]',500,'web','["nginx"]',1,'2026-11-29T10:48:07.443Z','2026-11-29T10:48:07.486Z',0);
INSERT INTO templates VALUES(2,'tmpl_kpjureyztswuyehe','with-secret','with-secret','0.1.0','','user-2',replace('services:\n  db:\n    image: postgres:15-alpine','\n',char(10)),'[]','[{"name":"DB_PASSWORD","description":"db","default":"s3cret","required":true,"secret":true}]',0,NULL,'[]',0,'2026-11-29T10:48:07.500Z','2026-11-29T10:48:07.500Z',0);
CREATE TABLE deployments (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    template_id   TEXT    NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    customer_id   TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
, domain TEXT NOT NULL DEFAULT '', error_message TEXT, delete_requested INTEGER NOT NULL DEFAULT 0);
INSERT INTO deployments VALUES(1,'depl_vams4puv2ofapg3t','stopped site','tmpl_oqwl7zcbocobghb7','customer-1','stopped','2026-11-29T10:48:07.520Z','2026-11-29T10:48:18.197Z','stopped-site.apps.localhost',NULL,0);
INSERT INTO deployments VALUES(2,'depl_swp7gqyvtwuxhwyx','pending site','tmpl_oqwl7zcbocobghb7','customer-1','pending','2026-11-29T10:48:18.212Z','2026-11-29T10:48:18.212Z','pending-site.apps.localhost',NULL,0);
CREATE TABLE deployment_events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment_id TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    from_status   TEXT,
    to_status     TEXT    NOT NULL,
    message       TEXT,
    at            TEXT    NOT NULL
);
INSERT INTO deployment_events VALUES(1,'depl_vams4puv2ofapg3t',NULL,'pending',NULL,'2026-11-29T10:48:07.520Z');
INSERT INTO deployment_events VALUES(2,'depl_vams4puv2ofapg3t','pending','scheduled',NULL,'2026-11-29T10:48:07.555Z');
INSERT INTO deployment_events VALUES(3,'depl_vams4puv2ofapg3t','scheduled','starting',NULL,'2026-11-29T10:48:07.555Z');
INSERT INTO deployment_events VALUES(4,'depl_vams4puv2ofapg3t','starting','running',NULL,'2026-11-29T10:48:08.033Z');
INSERT INTO deployment_events VALUES(5,'depl_vams4puv2ofapg3t','running','stopping',NULL,'2026-11-29T10:48:08.047Z');
INSERT INTO deployment_events VALUES(6,'depl_vams4puv2ofapg3t','stopping','stopped',NULL,'2026-11-29T10:48:18.197Z');
INSERT INTO deployment_events VALUES(7,'depl_swp7gqyvtwuxhwyx',NULL,'pending',NULL,'2026-11-29T10:48:18.212Z');
CREATE TABLE port_assignments (
    deployment_id  TEXT    NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    service        TEXT    NOT NULL,
    container_port INTEGER NOT NULL,
    protocol       TEXT    NOT NULL,
    host_port      INTEGER NOT NULL,
    UNIQUE (host_port, protocol)
);
INSERT INTO port_assignments VALUES('depl_vams4puv2ofapg3t','web',80,'tcp',30001);
CREATE TABLE deployment_domains (
    domain        TEXT PRIMARY KEY,
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    created_at    TEXT NOT NULL
);
INSERT INTO deployment_domains VALUES('www.example.com','depl_swp7gqyvtwuxhwyx','2026-11-29T10:48:18.254Z');
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'creator', 'customer')),
    subject     TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
INSERT INTO api_tokens VALUES('tok_n5zkiawixl3l3xkv',X'7a751173d8c7412a6e599e2774a9bc216600ba29870f008c259afee222eb52f4','admin','ops','','2026-11-29T10:48:07.382Z',NULL);
INSERT INTO api_tokens VALUES('tok_wfs3eojmnjkkovbe',X'5d4911fd8c1899cc7ab3b44e293986f9ef443b5c227b7a56802940d35dbbfe63','customer','customer-1','fixture','2026-11-29T10:48:07.394Z',NULL);
CREATE TABLE audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT ''
);
INSERT INTO audit_log VALUES(1,'2026-11-29T10:48:07.382Z','cli','token.create','tok_n5zkiawixl3l3xkv','admin ops');
INSERT INTO audit_log VALUES(2,'2026-11-29T10:48:07.394Z','cli','token.create','tok_wfs3eojmnjkkovbe','customer customer-1');
INSERT INTO audit_log VALUES(3,'2026-11-29T10:48:07.445Z','local','template.create','tmpl_oqwl7zcbocobghb7','nginx-web');
INSERT INTO audit_log VALUES(4,'2026-11-29T10:48:07.486Z','local','template.publish','tmpl_oqwl7zcbocobghb7','');
INSERT INTO audit_log VALUES(5,'2026-11-29T10:48:07.501Z','local','template.create','tmpl_kpjureyztswuyehe','with-secret');
INSERT INTO audit_log VALUES(6,'2026-11-29T10:48:07.522Z','local','deployment.create','depl_vams4puv2ofapg3t','tmpl_oqwl7zcbocobghb7');
INSERT INTO audit_log VALUES(7,'2026-11-29T10:48:07.554Z','local','deployment.start','depl_vams4puv2ofapg3t','');
INSERT INTO audit_log VALUES(8,'2026-11-29T10:48:08.046Z','local','deployment.stop','depl_vams4puv2ofapg3t','');
INSERT INTO audit_log VALUES(9,'2026-11-29T10:48:18.221Z','local','deployment.create','depl_swp7gqyvtwuxhwyx','tmpl_oqwl7zcbocobghb7');
INSERT INTO audit_log VALUES(10,'2026-11-29T10:48:18.255Z','local','domain.add','depl_swp7gqyvtwuxhwyx','www.example.com');
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('audit_log',10);
INSERT INTO sqlite_sequence VALUES('templates',2);
INSERT INTO sqlite_sequence VALUES('deployments',2);
INSERT INTO sqlite_sequence VALUES('deployment_events',7);
CREATE INDEX templates_by_creator ON templates (creator_id, seq);
CREATE INDEX templates_by_published ON templates (published, seq);
CREATE INDEX deployments_by_template ON deployments (template_id);
CREATE INDEX deployments_by_customer ON deployments (customer_id, seq);
CREATE UNIQUE INDEX deployments_by_domain ON deployments (domain) WHERE domain <> '';
CREATE INDEX deployments_by_status ON deployments (status);
CREATE INDEX deployment_events_by_deployment ON deployment_events (deployment_id, seq);
CREATE INDEX port_assignments_by_deployment ON port_assignments (deployment_id);
CREATE INDEX deployment_domains_by_deployment ON deployment_domains (deployment_id);
COMMIT;
