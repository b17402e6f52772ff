-- A state database of schema 5 (src/store/schema.c at 30926c0, the last
-- build before command versions) holding a few rows: the old-schema
-- fixture of tests/unit/test_migrate.c. Kept as shipped, never regenerated.
BEGIN TRANSACTION;
CREATE TABLE authz_settings (  id INTEGER PRIMARY KEY CHECK (id = 1),  default_accept INTEGER NOT NULL CHECK (default_accept IN (0, 1)),  admin TEXT NOT NULL);
INSERT INTO "authz_settings" VALUES(1,1,'admin');
CREATE TABLE denied_nodes (  node_id TEXT PRIMARY KEY NOT NULL CHECK (length(node_id) BETWEEN 1 AND 63),  by TEXT NOT NULL,  denied_at INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO "denied_nodes" VALUES('gone','admin',1700000020);
CREATE TABLE dns_records (  name TEXT NOT NULL,  type TEXT NOT NULL,  value TEXT NOT NULL,  PRIMARY KEY (name, type, value)) WITHOUT ROWID;
INSERT INTO "dns_records" VALUES('www','A','172.16.0.1');
CREATE TABLE edges (  source TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,  target TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,  weight INTEGER NOT NULL CHECK (weight >= 1),  attributes TEXT NOT NULL DEFAULT '{}',  PRIMARY KEY (source, target),  CHECK (source < target)) WITHOUT ROWID;
INSERT INTO "edges" VALUES('m1','s1',1,'{}');
CREATE TABLE leases (  ipv4 INTEGER PRIMARY KEY CHECK (ipv4 BETWEEN 0 AND 4294967295),  node_id TEXT NOT NULL UNIQUE REFERENCES nodes(id) ON DELETE CASCADE);
INSERT INTO "leases" VALUES(2886729729,'s1');
INSERT INTO "leases" VALUES(2886729730,'m1');
CREATE TABLE mesh (  id INTEGER PRIMARY KEY CHECK (id = 1),  ipv4_network TEXT NOT NULL,  ipv6_network TEXT NOT NULL,  domain TEXT NOT NULL,  created_at INTEGER NOT NULL,  ipv4_first INTEGER NOT NULL,  ipv4_last INTEGER NOT NULL CHECK (ipv4_last >= ipv4_first),  ipv4_low_water INTEGER NOT NULL,  topology INTEGER NOT NULL DEFAULT 0 CHECK (topology IN (0, 1)));
INSERT INTO "mesh" VALUES(1,'172.16.0.0/12','fd00:1:2::/48','webmesh.internal',1700000000,2886729729,2887778302,2886729731,0);
CREATE TABLE mesh_auth (  id INTEGER PRIMARY KEY CHECK (id = 1),  methods TEXT NOT NULL,  ca_fingerprint TEXT NOT NULL,  rbac INTEGER NOT NULL CHECK (rbac IN (0, 1)));
CREATE TABLE meta (  id INTEGER PRIMARY KEY CHECK (id = 1),  applied_index INTEGER NOT NULL CHECK (applied_index >= 0));
INSERT INTO "meta" VALUES(1,42);
CREATE TABLE network_acls (  name TEXT PRIMARY KEY NOT NULL,  priority INTEGER NOT NULL,  accept INTEGER NOT NULL CHECK (accept IN (0, 1)),  source_nodes TEXT NOT NULL,  destination_nodes TEXT NOT NULL,  source_cidrs TEXT NOT NULL,  destination_cidrs TEXT NOT NULL,  protocols TEXT NOT NULL,  ports TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE nodes (  id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),  raft_id INTEGER NOT NULL UNIQUE CHECK (raft_id <> 0),  public_key TEXT NOT NULL UNIQUE CHECK (length(public_key) = 44),  ipv6 TEXT NOT NULL UNIQUE,  endpoints TEXT NOT NULL,  listen_port INTEGER NOT NULL CHECK (listen_port BETWEEN 0 AND 65535),  raft_role INTEGER NOT NULL CHECK (raft_role IN (0, 1, 2)),  zone TEXT NOT NULL,  joined_at INTEGER NOT NULL,  routes TEXT NOT NULL,  exit_node TEXT NOT NULL DEFAULT '') WITHOUT ROWID;
INSERT INTO "nodes" VALUES('m1',1002,'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAI=','fd00:1:2:bbbb::/112','',51820,0,'z1',1700000010,'10.9.0.0/16','');
INSERT INTO "nodes" VALUES('s1',1001,'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=','fd00:1:2:aaaa::/112','10.0.0.1:51820',51820,1,'',1700000000,'','');
CREATE TABLE rbac_bindings (  name TEXT PRIMARY KEY NOT NULL,  builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),  role TEXT NOT NULL,  subjects TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO "rbac_bindings" VALUES('mesh-admin',1,'mesh-admin','user:admin,node:s1');
CREATE TABLE rbac_groups (  name TEXT PRIMARY KEY NOT NULL,  subjects TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO "rbac_groups" VALUES('ops','user:alice');
CREATE TABLE rbac_roles (  name TEXT PRIMARY KEY NOT NULL,  builtin INTEGER NOT NULL CHECK (builtin IN (0, 1)),  rules TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO "rbac_roles" VALUES('mesh-admin',1,'*:*:*');
CREATE TABLE routes (  node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,  prefix TEXT NOT NULL,  PRIMARY KEY (node_id, prefix)) WITHOUT ROWID;
CREATE INDEX edges_by_target ON edges (target);
COMMIT;
PRAGMA application_id = 2003661672;
PRAGMA user_version = 5;
