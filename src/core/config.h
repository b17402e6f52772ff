/* webmeshd configuration: one key space for the YAML file, WEBMESH_* variables
 * and flags. The key "wireguard-port" is `wireguard-port:` in YAML,
 * WEBMESH_WIREGUARD_PORT in the environment and --wireguard-port on the command
 * line; later sources override earlier ones: defaults < file < env < flags.
 *
 * This file is the pure part: the key table, defaults, and turning one text
 * value into a typed, validated field. Reading files, the environment and argv
 * happens in src/node/config_load.c.
 */
#ifndef WM_CORE_CONFIG_H
#define WM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

#define WM_CFG_LIST_MAX 16
#define WM_CFG_KEYS_MAX 192 /* wm_cfg_keys has fewer entries (checked at build time) */

struct wm_config {
	/* identity and state */
	char *node_id;	 /* node-id: default host name */
	char *state_dir; /* state-dir: /var/lib/webmesh */
	/* bootstrap / join */
	bool bootstrap;		       /* bootstrap */
	struct wm_prefix ipv4_network; /* ipv4-network: 172.16.0.0/12 */
	char *domain;		       /* domain: webmesh.internal */
	char *join;		       /* join: HOST:PORT of a server */
	char *join_fingerprint;	       /* join-fingerprint: sha256:HEX */
	bool ephemeral;		       /* ephemeral: leave the mesh on exit */
	/* TLS */
	char *ca_file;		   /* ca-file */
	char *tls_cert;		   /* tls-cert: default STATE_DIR/tls.crt (self-signed) */
	char *tls_key;		   /* tls-key (secret path is fine to show; contents never) */
	char *server_name;	   /* server-name: verify the server's name */
	bool insecure_skip_verify; /* insecure-skip-verify */
	/* API */
	char *api_listen;   /* api-listen: [::]:8443 (dual-stack) */
	char *socket;	    /* socket: /run/webmesh/webmesh.sock */
	char *socket_group; /* socket-group: group of the socket (0660), unset = ours */
	/* WireGuard */
	char *interface;		  /* interface: webmesh0 */
	uint32_t mtu;			  /* mtu: 1420 (1280..9000) */
	uint16_t wireguard_port;	  /* wireguard-port: 51820 */
	char *wireguard_backend;	  /* wireguard-backend: auto|kernel|userspace|null */
	char *wireguard_go;		  /* wireguard-go: wireguard-go */
	uint32_t wireguard_workers;	  /* wireguard-workers: 0 = auto (embedded backend) */
	uint32_t persistent_keepalive;	  /* persistent-keepalive: 0 (seconds, 0..65535) */
	char *endpoints[WM_CFG_LIST_MAX]; /* endpoints: ip:port list, default detected */
	size_t n_endpoints;
	/* Raft */
	uint16_t raft_port;	    /* raft-port: 9000 */
	uint32_t raft_heartbeat_ms; /* raft-heartbeat-ms: 100 */
	uint32_t raft_election_ms;  /* raft-election-ms: 1000 */
	/* high availability */
	bool voter;				  /* voter: join as a Raft voter */
	bool observer;				  /* observer: join as a Raft observer (standby) */
	bool serve;				  /* serve: a plain member serves the API too */
	char *bootstrap_servers[WM_CFG_LIST_MAX]; /* bootstrap-servers: ID=HOST:PORT list */
	size_t n_bootstrap_servers;
	uint32_t heartbeat_interval_ms;	   /* heartbeat-interval-ms: 5000 */
	uint32_t api_keepalive_ms;	   /* api-keepalive-ms: 1000 (0 = off) */
	uint32_t api_keepalive_timeout_ms; /* api-keepalive-timeout-ms: 1000 */
	uint32_t unreachable_after_ms;	   /* unreachable-after-ms: 30000 */
	uint32_t remove_after_ms;	   /* remove-after-ms: 86400000 */
	uint32_t liveness_max_nodes;	   /* liveness-max-nodes: 65536 */
	uint32_t raft_snapshot_threshold;  /* raft-snapshot-threshold: 1024 */
	uint32_t raft_snapshot_trailing;   /* raft-snapshot-trailing: 128 */
	/* authentication (server side); see src/auth/auth.h */
	bool mtls;		     /* mtls: require and verify client certificates (ca-file) */
	char *mtls_identity_san;     /* mtls-identity-san: dns|email|uri, default: Subject CN */
	char *basic_auth_file;	     /* basic-auth-file: htpasswd file */
	char *ldap_url;		     /* ldap-url: ldap://HOST[:PORT] or ldaps://HOST[:PORT] */
	char *ldap_bind_dn;	     /* ldap-bind-dn: the service account */
	char *ldap_bind_password;    /* ldap-bind-password (secret) */
	char *ldap_base_dn;	     /* ldap-base-dn: where users are searched */
	char *ldap_user_filter_attr; /* ldap-user-filter-attr: uid */
	char *ldap_user_filter;	     /* ldap-user-filter: extra filter, e.g. (objectClass=person) */
	char *ldap_id_attr;	     /* ldap-id-attr: uid (the node ID) */
	char *ldap_disabled_attr;    /* ldap-disabled-attr */
	char *ldap_disabled_value;   /* ldap-disabled-value */
	char *ldap_ca_file;	     /* ldap-ca-file */
	bool ldap_starttls;	     /* ldap-starttls */
	uint32_t ldap_timeout_seconds;	/* ldap-timeout-seconds: 5 */
	char *key_auth_keys_file;	/* key-auth-keys-file: "NODE-ID BASE64-ED25519-KEY" lines */
	uint32_t key_auth_skew_seconds; /* key-auth-skew-seconds: 30 */
	/* authentication (client side: joiner) */
	char *basic_auth_user;		 /* basic-auth-user */
	char *basic_auth_password;	 /* basic-auth-password (secret) */
	char *key_auth_private_key_file; /* key-auth-private-key-file */
	/* authorization (bootstrap) */
	char *bootstrap_admin;			 /* bootstrap-admin: admin */
	char *bootstrap_voters[WM_CFG_LIST_MAX]; /* bootstrap-voters: node IDs */
	size_t n_bootstrap_voters;
	char *default_network_policy; /* default-network-policy: accept|deny */
	/* topology and routes (issue 4) */
	char *topology;		       /* topology: full|manual, with bootstrap (unset: full) */
	char *zone_awareness_id;       /* zone-awareness-id: nodes of one zone link directly */
	char *routes[WM_CFG_LIST_MAX]; /* routes: CIDR list advertised behind this node */
	size_t n_routes;
	char *use_exit_node;	/* use-exit-node: node ID whose default route to use */
	char *wireguard_record; /* wireguard-record: null backend's record file */
	/* NAT traversal (issue 6) */
	char *stun_servers[WM_CFG_LIST_MAX]; /* stun-servers: stun:HOST[:PORT] list */
	size_t n_stun_servers;
	char *turn_servers[WM_CFG_LIST_MAX]; /* turn-servers: turn:HOST[:PORT] list */
	size_t n_turn_servers;
	char *turn_username;		/* turn-username: static TURN credentials */
	char *turn_password;		/* turn-password (secret) */
	char *turn_secret;		/* turn-secret: coturn static-auth-secret, servers hand out
					   time-limited credentials (secret) */
	uint32_t turn_credential_ttl;	/* turn-credential-ttl: 43200 seconds */
	uint32_t ice_handshake_timeout; /* ice-handshake-timeout: 20 seconds, 0 = never */
	uint32_t endpoint_refresh;	/* endpoint-refresh: 30 seconds, 0 = only at start */
	/* libp2p (issue 11) */
	char *libp2p_listen[WM_CFG_LIST_MAX]; /* libp2p-listen: multiaddrs, default off */
	size_t n_libp2p_listen;
	char *libp2p_peers[WM_CFG_LIST_MAX]; /* libp2p-peers: multiaddrs to dial and keep */
	size_t n_libp2p_peers;
	uint32_t libp2p_ping_interval;		 /* libp2p-ping-interval: 30 seconds, 0 = never */
	uint32_t libp2p_max_connections;	 /* libp2p-max-connections: 64 */
	uint32_t libp2p_max_streams;		 /* libp2p-max-streams: 64 per connection */
	uint32_t libp2p_handshake_timeout;	 /* libp2p-handshake-timeout: 20 seconds */
	uint32_t libp2p_max_write_queue;	 /* libp2p-max-write-queue: 4 MiB per peer */
	uint32_t libp2p_max_held_per_stream;	 /* libp2p-max-held-per-stream: 1 MiB */
	uint32_t libp2p_max_held_per_connection; /* libp2p-max-held-per-connection: 2 MiB */
	/* libp2p circuit relay v2 (issue 11, src/p2p/relay.c) */
	bool libp2p_relay;			 /* libp2p-relay: serve as a relay */
	uint32_t libp2p_relay_max_reservations;	 /* held at once */
	uint32_t libp2p_relay_max_per_source;	 /* held by one IPv4 address or IPv6 /64 */
	uint32_t libp2p_relay_reservation_ttl;	 /* seconds */
	uint32_t libp2p_relay_reservation_bytes; /* per reservation, 0: none */
	uint32_t libp2p_relay_max_circuits;	 /* open at once */
	uint32_t libp2p_relay_max_circuits_per_peer;
	uint32_t libp2p_relay_circuit_duration; /* seconds, 0: none */
	uint32_t libp2p_relay_circuit_bytes;	/* each way, 0: none */
	/* Kademlia DHT and join by rendezvous (issue 11) */
	uint32_t libp2p_dht_max_providers;		/* libp2p-dht-max-providers: 1024 */
	uint32_t libp2p_dht_providers_per_key;		/* libp2p-dht-providers-per-key: 20 */
	uint32_t libp2p_dht_provider_ttl;		/* libp2p-dht-provider-ttl: 86400 seconds */
	uint32_t libp2p_dht_requests_per_second;	/* libp2p-dht-requests-per-second: 200 */
	uint32_t libp2p_dht_requests_per_stream;	/* libp2p-dht-requests-per-stream: 16 */
	uint32_t libp2p_dht_max_requests;		/* libp2p-dht-max-requests: 64 in flight */
	uint32_t libp2p_dht_max_lookups;		/* libp2p-dht-max-lookups: 16 at once */
	uint32_t libp2p_dht_query_timeout;		/* libp2p-dht-query-timeout: 5 seconds */
	uint32_t libp2p_dht_lookup_timeout;		/* libp2p-dht-lookup-timeout: 30 seconds */
	uint32_t libp2p_rendezvous_max_pipes;		/* libp2p-rendezvous-max-pipes: 256 */
	uint32_t libp2p_rendezvous_handshake_timeout;	/* seconds: 10 */
	uint32_t libp2p_rendezvous_handshakes_per_peer; /* 4 */
	char *announce_rendezvous;			/* announce-rendezvous: SECRET (secret) */
	char *join_rendezvous;				/* join-rendezvous: SECRET (secret) */
	char *announce_rendezvous_file;			/* announce-rendezvous-file */
	char *join_rendezvous_file;			/* join-rendezvous-file */
	/* limits before authentication (issue 10) */
	uint32_t api_max_connections;		  /* api-max-connections: 512 */
	uint32_t api_max_connections_per_source;  /* api-max-connections-per-source: 32 */
	uint32_t api_max_streams;		  /* api-max-streams: 100 per connection */
	uint32_t api_max_buffered_per_connection; /* api-max-buffered-per-connection: bytes */
	uint32_t api_max_buffered;		  /* api-max-buffered: bytes, all connections */
	uint32_t api_handshake_timeout;		  /* api-handshake-timeout: 10 seconds */
	uint32_t api_idle_timeout;		  /* api-idle-timeout: 300 seconds, 0 = never */
	uint32_t auth_max_pending;		  /* auth-max-pending: 256 */
	uint32_t auth_max_pending_per_source;	  /* auth-max-pending-per-source: 4 */
	uint32_t auth_backoff_max_ms;		  /* auth-backoff-max-ms: 10000 */
	uint32_t signaling_max_messages;	  /* signaling-max-messages: 4096 in all */
	uint32_t signaling_max_bytes;		  /* signaling-max-bytes: 4 MiB in all */
	/* secrets from files (issue 10): FILE holds the secret on its first line */
	char *ldap_bind_password_file;	/* ldap-bind-password-file */
	char *basic_auth_password_file; /* basic-auth-password-file */
	char *turn_password_file;	/* turn-password-file */
	char *turn_secret_file;		/* turn-secret-file */
	/* set by the loader, bit i for wm_cfg_secret_files[i]: where a secret came from */
	unsigned secret_from_flag, secret_from_config;
	/* MeshDNS (issue 14) */
	char *meshdns_listen;			   /* meshdns-listen: IP:PORT, unset = off */
	char *meshdns_forwarders[WM_CFG_LIST_MAX]; /* meshdns-forwarders: IP:PORT list */
	size_t n_meshdns_forwarders;
	bool meshdns_forward_public; /* meshdns-forward-public: forwarders on any address */
	bool use_meshdns;	     /* use-meshdns: the host resolver asks MeshDNS */
	char *meshdns_server;	     /* meshdns-server: IP:PORT, default found in the mesh */
	/* HTTP listener: metrics, health, the console (issue 13) */
	char *http_listen; /* http-listen: IP:PORT, default 127.0.0.1:8080, "" = off */
	char *http_allowed_hosts[WM_CFG_LIST_MAX]; /* http-allowed-hosts: Host names */
	size_t n_http_allowed_hosts;
	char *console_dir; /* console-dir: the console's files, default found */
	/* plugins (issue 12): include/webmesh/plugin.h */
	char *plugins[WM_CFG_LIST_MAX]; /* plugin: NAME=PATH.so list */
	size_t n_plugins;
	char *plugin_configs[WM_CFG_LIST_MAX]; /* plugin-config: NAME.KEY=VALUE list */
	size_t n_plugin_configs;
	/* storage plugins (issue 12): the mesh state outside Raft */
	char *storage;	      /* storage: raft|etcd */
	char *etcd_endpoints; /* etcd-endpoints: https://HOST:PORT,... */
	char *etcd_ca_file, *etcd_cert, *etcd_key;
	/* logging */
	char *log_level; /* log-level: debug|info|warn|error */
	/* not keys of the file: command-line only */
	char *config_file; /* --config FILE */
	bool print_config; /* --print-config */
	bool help;	   /* --help */
	bool version;	   /* --version */
};

enum wm_cfg_type {
	WM_CFG_STRING,
	WM_CFG_BOOL,
	WM_CFG_UINT,
	WM_CFG_LIST, /* comma-separated in env/flags, a sequence in YAML */
	WM_CFG_PREFIX,
	WM_CFG_ENUM,
};

enum {
	WM_CFG_SECRET = 1u << 0,    /* masked by --print-config and in errors */
	WM_CFG_FLAG_ONLY = 1u << 1, /* not accepted in the file or env */
	WM_CFG_EMPTY_OK = 1u << 2,  /* WM_CFG_STRING: "" is a value (e.g. "off") */
};

struct wm_cfg_key {
	const char *name; /* "wireguard-port" */
	enum wm_cfg_type type;
	size_t offset;		    /* into struct wm_config */
	size_t count_offset;	    /* WM_CFG_LIST: offset of the size_t count */
	const char *def;	    /* default as text, NULL = unset */
	uint64_t min, max;	    /* WM_CFG_UINT range */
	const char *const *choices; /* WM_CFG_ENUM, NULL-terminated */
	unsigned flags;
	const char *help;
	/* added with the implementation: */
	const char *arg; /* placeholder in --help, e.g. "HOST:PORT"; NULL for booleans */
	size_t size;	 /* WM_CFG_UINT: sizeof the field (2 or 4) */
	/* Extra per-key check after the type's own: NULL if value is fine, else
	 * what is allowed ("must be ..."), a static string. NULL = no check. For
	 * WM_CFG_LIST it is applied to each item. */
	const char *(*check)(const char *value);
};

/* The table of every key, terminated by an entry with name NULL. */
extern const struct wm_cfg_key wm_cfg_keys[];
const struct wm_cfg_key *wm_cfg_find(const char *name);

/* Fills cfg with the defaults. */
int wm_config_init(struct wm_config *cfg);
void wm_config_free(struct wm_config *cfg);
/* Sets one key from text. source names where the value came from (a file
 * path, "WEBMESH_MTU", "--mtu") for the error, which names the key, the
 * value (masked if secret) and what is allowed. Returns 0 or -WM_ECONFIG. */
int wm_config_set(struct wm_config *cfg, const struct wm_cfg_key *key, const char *value,
		  const char *source, char *err, size_t errlen);
/* WM_CFG_LIST: appends the comma-separated items of value (the flag "--endpoints
 * A --endpoints B" form, and one YAML sequence item at a time); other types:
 * the same as wm_config_set. All items are checked before any is added. */
int wm_config_append(struct wm_config *cfg, const struct wm_cfg_key *key, const char *value,
		     const char *source, char *err, size_t errlen);
/* Puts one key back to its default (unset when it has none). */
void wm_config_reset(struct wm_config *cfg, const struct wm_cfg_key *key);
/* Checks the combination (bootstrap xor join, at most one of ca-file /
 * join-fingerprint / insecure-skip-verify, tls-cert with tls-key, raft timing,
 * API and Raft ports). With help or version set nothing is checked; with
 * print-config, having neither bootstrap nor join is not an error. */
int wm_config_validate(const struct wm_config *cfg, char *err, size_t errlen);

/* Every secret key and its *-file form (a flag is readable by every local user
 * in /proc/PID/cmdline; a file of mode 0600 is not). NULL-terminated. */
struct wm_cfg_secret_file {
	const char *key, *file_key;
};
extern const struct wm_cfg_secret_file wm_cfg_secret_files[];
/* The effective config as YAML, secrets masked; malloc'd (NULL on ENOMEM).
 * Every key that the file accepts, in table order; unset values are null and
 * the output loads back as a config file. */
char *wm_config_to_yaml(const struct wm_config *cfg);
/* The same over another key table, terminated by a NULL name (for tests). */
char *wm_config_to_yaml_keys(const struct wm_config *cfg, const struct wm_cfg_key *keys);
/* "WEBMESH_WIREGUARD_PORT" for "wireguard-port"; out must hold 64 bytes. */
void wm_cfg_env_name(const char *key, char *out, size_t len);

#endif
