/* The webmeshd key table, defaults, and typed validation of one text value per key. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "core/hostport.h"
#include "core/dnsname.h"
#include "core/error.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/ldapfilter.h"
#include "core/net.h"
#include "core/nat.h"
#include "core/p2prelay.h"
#include "core/p2pwire.h"
#include "core/rbac.h"

#define F(field) offsetof(struct wm_config, field)
#define SZ(field) sizeof(((struct wm_config *)0)->field)

static const char *check_node_id(const char *v);
static const char *check_path(const char *v);
static const char *check_domain(const char *v);
static const char *check_join(const char *v);
static const char *check_fingerprint(const char *v);
static const char *check_server_name(const char *v);
static const char *check_listen(const char *v);
static const char *check_socket(const char *v);
static const char *check_group(const char *v);
static const char *check_interface(const char *v);
static const char *check_endpoint(const char *v);
static const char *check_http_listen(const char *v);
static const char *check_host_name(const char *v);
static const char *check_ipv4_network(const char *v);
static const char *check_ldap_url(const char *v);
static const char *check_ldap_attr(const char *v);
static const char *check_ldap_filter(const char *v);
static const char *check_auth_name(const char *v);
static const char *check_admin_subject(const char *v);
static const char *check_bootstrap_server(const char *v);
static const char *check_plugin(const char *v);
static const char *check_plugin_config(const char *v);

static const char *check_zone(const char *v);
static const char *check_route(const char *v);
static const char *check_stun_server(const char *v);
static const char *check_libp2p_listen(const char *v);
static const char *check_libp2p_peer(const char *v);
static const char *check_turn_server(const char *v);
static const char *check_turn_username(const char *v);

static const char *const topologies[] = {"full", "manual", NULL};
static const char *const storages[] = {"raft", "etcd", NULL}; /* storage plugins (issue 12) */
static const char *check_etcd_endpoints(const char *v);
static const char *const backends[] = {"auto", "kernel", "userspace", "null", "embedded", NULL};
static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const san_kinds[] = {"dns", "email", "uri", NULL};
static const char *const policies[] = {"accept", "deny", NULL};

const struct wm_cfg_key wm_cfg_keys[] = {
	{.name = "node-id",
	 .type = WM_CFG_STRING,
	 .offset = F(node_id),
	 .arg = "ID",
	 .check = check_node_id,
	 .help = "this node's ID, a DNS label (default: from the host name)"},
	{.name = "state-dir",
	 .type = WM_CFG_STRING,
	 .offset = F(state_dir),
	 .arg = "DIR",
	 .def = "/var/lib/webmesh",
	 .check = check_path,
	 .help = "where keys, certificates and the Raft log live"},
	{.name = "bootstrap",
	 .type = WM_CFG_BOOL,
	 .offset = F(bootstrap),
	 .def = "false",
	 .help = "start a new mesh with this node as its first server"},
	{.name = "ipv4-network",
	 .type = WM_CFG_PREFIX,
	 .offset = F(ipv4_network),
	 .arg = "PREFIX",
	 .def = "172.16.0.0/12",
	 .check = check_ipv4_network,
	 .help = "with --bootstrap: the mesh's IPv4 network"},
	{.name = "domain",
	 .type = WM_CFG_STRING,
	 .offset = F(domain),
	 .arg = "NAME",
	 .def = "webmesh.internal",
	 .check = check_domain,
	 .help = "with --bootstrap: the mesh's DNS domain"},
	{.name = "join",
	 .type = WM_CFG_STRING,
	 .offset = F(join),
	 .arg = "HOST:PORT",
	 .check = check_join,
	 .help = "join the mesh through this server's API"},
	{.name = "join-fingerprint",
	 .type = WM_CFG_STRING,
	 .offset = F(join_fingerprint),
	 .arg = "sha256:HEX",
	 .check = check_fingerprint,
	 .help = "with --join: trust the server whose certificate has this SHA-256"},
	{.name = "ephemeral",
	 .type = WM_CFG_BOOL,
	 .offset = F(ephemeral),
	 .def = "false",
	 .help = "leave the mesh when the daemon stops"},
	{.name = "ca-file",
	 .type = WM_CFG_STRING,
	 .offset = F(ca_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "CA certificates that sign the servers' certificates"},
	{.name = "tls-cert",
	 .type = WM_CFG_STRING,
	 .offset = F(tls_cert),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "this node's TLS certificate (default: a self-signed one in state-dir)"},
	{.name = "tls-key",
	 .type = WM_CFG_STRING,
	 .offset = F(tls_key),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "the private key of tls-cert"},
	{.name = "server-name",
	 .type = WM_CFG_STRING,
	 .offset = F(server_name),
	 .arg = "NAME",
	 .check = check_server_name,
	 .help = "the name to verify in the server's certificate"},
	{.name = "insecure-skip-verify",
	 .type = WM_CFG_BOOL,
	 .offset = F(insecure_skip_verify),
	 .def = "false",
	 .help = "do not verify the server's certificate (tests only)"},
	{.name = "api-listen",
	 .type = WM_CFG_STRING,
	 .offset = F(api_listen),
	 .arg = "IP:PORT",
	 .def = "[::]:8443",
	 .check = check_listen,
	 .help = "where the TLS API listens ([::] takes IPv4 and IPv6)"},
	{.name = "socket",
	 .type = WM_CFG_STRING,
	 .offset = F(socket),
	 .arg = "PATH",
	 .def = "/run/webmesh/webmesh.sock",
	 .check = check_socket,
	 .help = "the local API's unix socket (for wmctl)"},
	{.name = "socket-group",
	 .type = WM_CFG_STRING,
	 .offset = F(socket_group),
	 .arg = "GROUP",
	 .check = check_group,
	 .help = "the group that may use the local socket (mode 0660), e.g. webmesh "
		 "(default: the daemon's own group)"},
	{.name = "interface",
	 .type = WM_CFG_STRING,
	 .offset = F(interface),
	 .arg = "NAME",
	 .def = "webmesh0",
	 .check = check_interface,
	 .help = "the WireGuard interface"},
	{.name = "mtu",
	 .type = WM_CFG_UINT,
	 .offset = F(mtu),
	 .size = SZ(mtu),
	 .arg = "N",
	 .def = "1420",
	 .min = 1280,
	 .max = 9000,
	 .help = "the WireGuard interface's MTU"},
	{.name = "wireguard-port",
	 .type = WM_CFG_UINT,
	 .offset = F(wireguard_port),
	 .size = SZ(wireguard_port),
	 .arg = "PORT",
	 .def = "51820",
	 .min = 1,
	 .max = 65535,
	 .help = "the WireGuard UDP port"},
	{.name = "wireguard-backend",
	 .type = WM_CFG_ENUM,
	 .offset = F(wireguard_backend),
	 .def = "auto",
	 .choices = backends,
	 .help = "kernel module, embedded (our own WireGuard in this process), userspace "
		 "(wireguard-go), null (no tunnel), or auto (kernel, else embedded)"},
	{.name = "wireguard-go",
	 .type = WM_CFG_STRING,
	 .offset = F(wireguard_go),
	 .arg = "PATH",
	 .def = "wireguard-go",
	 .check = check_path,
	 .help = "the userspace WireGuard program to run"},
	/* the embedded WireGuard's crypto pool (issue 17) */
	{.name = "wireguard-workers",
	 .type = WM_CFG_UINT,
	 .offset = F(wireguard_workers),
	 .size = SZ(wireguard_workers),
	 .arg = "N",
	 .def = "0",
	 .min = 0,
	 .max = 64,
	 .help = "embedded backend: threads that encrypt and decrypt beside its two "
		 "(0: one per CPU but one)"},
	{.name = "persistent-keepalive",
	 .type = WM_CFG_UINT,
	 .offset = F(persistent_keepalive),
	 .size = SZ(persistent_keepalive),
	 .arg = "SECONDS",
	 .def = "0",
	 .min = 0,
	 .max = 65535,
	 .help = "WireGuard keepalive interval, 0 = off"},
	{.name = "endpoints",
	 .type = WM_CFG_LIST,
	 .offset = F(endpoints),
	 .count_offset = F(n_endpoints),
	 .arg = "IP:PORT,...",
	 .check = check_endpoint,
	 .help = "addresses other nodes reach this node at (default: detected)"},
	{.name = "raft-port",
	 .type = WM_CFG_UINT,
	 .offset = F(raft_port),
	 .size = SZ(raft_port),
	 .arg = "PORT",
	 .def = "9000",
	 .min = 1,
	 .max = 65535,
	 .help = "the Raft TCP port on the mesh address"},
	{.name = "raft-heartbeat-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(raft_heartbeat_ms),
	 .size = SZ(raft_heartbeat_ms),
	 .arg = "MS",
	 .def = "100",
	 .min = 10,
	 .max = 10000,
	 .help = "Raft heartbeat interval"},
	{.name = "raft-election-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(raft_election_ms),
	 .size = SZ(raft_election_ms),
	 .arg = "MS",
	 .def = "1000",
	 .min = 100,
	 .max = 60000,
	 .help = "Raft election timeout"},
	{.name = "voter",
	 .type = WM_CFG_BOOL,
	 .offset = F(voter),
	 .def = "false",
	 .help = "with --join: become a Raft voter (holds the state, can lead)"},
	{.name = "observer",
	 .type = WM_CFG_BOOL,
	 .offset = F(observer),
	 .def = "false",
	 .help = "with --join: become a Raft observer (holds the state, never votes)"},
	{.name = "serve",
	 .type = WM_CFG_BOOL,
	 .offset = F(serve),
	 .def = "false",
	 .help = "serve the API on api-listen even as a plain member"},
	{.name = "bootstrap-servers",
	 .type = WM_CFG_LIST,
	 .offset = F(bootstrap_servers),
	 .count_offset = F(n_bootstrap_servers),
	 .arg = "ID=HOST:PORT,...",
	 .check = check_bootstrap_server,
	 .help = "with --bootstrap: every initial voter (this node included), in order"},
	{.name = "heartbeat-interval-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(heartbeat_interval_ms),
	 .size = SZ(heartbeat_interval_ms),
	 .arg = "MS",
	 .def = "5000",
	 .min = 100,
	 .max = 3600000,
	 .help = "how often a node tells the leader it is alive"},
	{.name = "api-keepalive-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(api_keepalive_ms),
	 .size = SZ(api_keepalive_ms),
	 .arg = "MS",
	 .def = "1000",
	 .min = 0,
	 .max = 3600000,
	 .help = "a member PINGs its server's API connection this often (HTTP/2), 0 = off"},
	{.name = "api-keepalive-timeout-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(api_keepalive_timeout_ms),
	 .size = SZ(api_keepalive_timeout_ms),
	 .arg = "MS",
	 .def = "1000",
	 .min = 100,
	 .max = 3600000,
	 .help = "a server that answers no keepalive PING for this long is left for another"},
	{.name = "unreachable-after-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(unreachable_after_ms),
	 .size = SZ(unreachable_after_ms),
	 .arg = "MS",
	 .def = "30000",
	 .min = 200,
	 .max = 4000000000u,
	 .help = "a node not heard from for this long is shown as unreachable, and its "
		 "routes fail over to the next node advertising them"},
	{.name = "remove-after-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(remove_after_ms),
	 .size = SZ(remove_after_ms),
	 .arg = "MS",
	 .def = "86400000",
	 .min = 0,
	 .max = 4000000000u,
	 .help = "a node not heard from for this long is removed (0: never)"},
	{.name = "liveness-max-nodes",
	 .type = WM_CFG_UINT,
	 .offset = F(liveness_max_nodes),
	 .size = SZ(liveness_max_nodes),
	 .arg = "N",
	 .def = "65536",
	 .min = 16,
	 .max = 16777216,
	 .help = "the leader tracks the liveness of at most this many nodes"},
	{.name = "raft-snapshot-threshold",
	 .type = WM_CFG_UINT,
	 .offset = F(raft_snapshot_threshold),
	 .size = SZ(raft_snapshot_threshold),
	 .arg = "ENTRIES",
	 .def = "1024",
	 .min = 8,
	 .max = 10000000,
	 .help = "log entries between two Raft snapshots"},
	{.name = "raft-snapshot-trailing",
	 .type = WM_CFG_UINT,
	 .offset = F(raft_snapshot_trailing),
	 .size = SZ(raft_snapshot_trailing),
	 .arg = "ENTRIES",
	 .def = "128",
	 .min = 0,
	 .max = 10000000,
	 .help = "log entries kept after a snapshot, for followers slightly behind"},
	{.name = "mtls",
	 .type = WM_CFG_BOOL,
	 .offset = F(mtls),
	 .def = "false",
	 .help = "require client certificates signed by ca-file; the identity is the "
		 "certificate's CN"},
	{.name = "mtls-identity-san",
	 .type = WM_CFG_ENUM,
	 .offset = F(mtls_identity_san),
	 .choices = san_kinds,
	 .help = "with mtls: take the identity from this SAN type instead of the CN"},
	{.name = "basic-auth-file",
	 .type = WM_CFG_STRING,
	 .offset = F(basic_auth_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "accept users of this htpasswd file (bcrypt, yescrypt, SHA-crypt)"},
	{.name = "ldap-url",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_url),
	 .arg = "URL",
	 .check = check_ldap_url,
	 .help = "accept users of this LDAP server (ldap://HOST or ldaps://HOST)"},
	{.name = "ldap-bind-dn",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_bind_dn),
	 .arg = "DN",
	 .help = "the service account that searches for users"},
	{.name = "ldap-bind-password",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_bind_password),
	 .arg = "PASSWORD",
	 .flags = WM_CFG_SECRET,
	 .help = "the service account's password"},
	{.name = "ldap-base-dn",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_base_dn),
	 .arg = "DN",
	 .help = "where users are searched (subtree)"},
	{.name = "ldap-user-filter-attr",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_user_filter_attr),
	 .arg = "ATTR",
	 .def = "uid",
	 .check = check_ldap_attr,
	 .help = "the attribute that holds the user name"},
	{.name = "ldap-user-filter",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_user_filter),
	 .arg = "FILTER",
	 .check = check_ldap_filter,
	 .help = "an extra search filter, e.g. (objectClass=person)"},
	{.name = "ldap-id-attr",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_id_attr),
	 .arg = "ATTR",
	 .def = "uid",
	 .check = check_ldap_attr,
	 .help = "the attribute that holds the node ID"},
	{.name = "ldap-disabled-attr",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_disabled_attr),
	 .arg = "ATTR",
	 .check = check_ldap_attr,
	 .help = "users with ldap-disabled-value in this attribute are refused"},
	{.name = "ldap-disabled-value",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_disabled_value),
	 .arg = "VALUE",
	 .help = "see ldap-disabled-attr"},
	{.name = "ldap-ca-file",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_ca_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "CA certificates for ldaps:// and StartTLS"},
	{.name = "ldap-starttls",
	 .type = WM_CFG_BOOL,
	 .offset = F(ldap_starttls),
	 .def = "false",
	 .help = "upgrade ldap:// connections with StartTLS (required to succeed)"},
	{.name = "ldap-timeout-seconds",
	 .type = WM_CFG_UINT,
	 .offset = F(ldap_timeout_seconds),
	 .size = SZ(ldap_timeout_seconds),
	 .arg = "SECONDS",
	 .def = "5",
	 .min = 1,
	 .max = 60,
	 .help = "give up on the LDAP server after this long"},
	{.name = "key-auth-keys-file",
	 .type = WM_CFG_STRING,
	 .offset = F(key_auth_keys_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "accept nodes proving an Ed25519 key of this file (\"ID KEY\" lines)"},
	{.name = "key-auth-skew-seconds",
	 .type = WM_CFG_UINT,
	 .offset = F(key_auth_skew_seconds),
	 .size = SZ(key_auth_skew_seconds),
	 .arg = "SECONDS",
	 .def = "30",
	 .min = 0,
	 .max = 3600,
	 .help = "how far a key-auth client's clock may be off"},
	{.name = "basic-auth-user",
	 .type = WM_CFG_STRING,
	 .offset = F(basic_auth_user),
	 .arg = "USER",
	 .check = check_auth_name,
	 .help = "with join: authenticate with this user name (basic auth or LDAP)"},
	{.name = "basic-auth-password",
	 .type = WM_CFG_STRING,
	 .offset = F(basic_auth_password),
	 .arg = "PASSWORD",
	 .flags = WM_CFG_SECRET,
	 .help = "with join: the password of basic-auth-user"},
	{.name = "key-auth-private-key-file",
	 .type = WM_CFG_STRING,
	 .offset = F(key_auth_private_key_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "with join: prove this Ed25519 key (base64 seed file, mode 0600)"},
	{.name = "bootstrap-admin",
	 .type = WM_CFG_STRING,
	 .offset = F(bootstrap_admin),
	 .arg = "ID",
	 .def = "admin",
	 .check = check_admin_subject,
	 .help = "with bootstrap: the user (NAME or user:NAME) or node (node:ID) bound to "
		 "the mesh-admin role"},
	{.name = "bootstrap-voters",
	 .type = WM_CFG_LIST,
	 .offset = F(bootstrap_voters),
	 .count_offset = F(n_bootstrap_voters),
	 .arg = "ID,...",
	 .check = check_node_id,
	 .help = "with bootstrap: nodes bound to the voters role besides this one"},
	{.name = "default-network-policy",
	 .type = WM_CFG_ENUM,
	 .offset = F(default_network_policy),
	 .def = "accept",
	 .choices = policies,
	 .help = "with bootstrap: what network ACLs do when none matches"},
	{.name = "topology",
	 .type = WM_CFG_ENUM,
	 .offset = F(topology),
	 .choices = topologies,
	 .help = "with --bootstrap: joins link to every node (full, the default) or only to "
		 "their server and zone (manual)"},
	{.name = "zone-awareness-id",
	 .type = WM_CFG_STRING,
	 .offset = F(zone_awareness_id),
	 .arg = "ZONE",
	 .check = check_zone,
	 .help = "this node's zone: in a manual mesh it links directly to the nodes of its zone"},
	{.name = "routes",
	 .type = WM_CFG_LIST,
	 .offset = F(routes),
	 .count_offset = F(n_routes),
	 .arg = "CIDR,...",
	 .check = check_route,
	 .help = "networks reachable through this node (0.0.0.0/0,::/0: an exit node)"},
	{.name = "use-exit-node",
	 .type = WM_CFG_STRING,
	 .offset = F(use_exit_node),
	 .arg = "ID",
	 .check = check_node_id,
	 .help = "send this host's default traffic through that exit node"},
	{.name = "wireguard-record",
	 .type = WM_CFG_STRING,
	 .offset = F(wireguard_record),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "with wireguard-backend null: append every WireGuard change to this file"},
	{.name = "stun-servers",
	 .type = WM_CFG_LIST,
	 .offset = F(stun_servers),
	 .count_offset = F(n_stun_servers),
	 .arg = "stun:HOST[:PORT],...",
	 .check = check_stun_server,
	 .help = "STUN servers: learn this node's public address and what its NAT does"},
	{.name = "turn-servers",
	 .type = WM_CFG_LIST,
	 .offset = F(turn_servers),
	 .count_offset = F(n_turn_servers),
	 .arg = "turn:HOST[:PORT],...",
	 .check = check_turn_server,
	 .help = "TURN relays for peers that no hole punching reaches (UDP)"},
	{.name = "turn-username",
	 .type = WM_CFG_STRING,
	 .offset = F(turn_username),
	 .arg = "USER",
	 .check = check_turn_username,
	 .help = "static TURN credentials (default: ask the server for short-lived ones)"},
	{.name = "turn-password",
	 .type = WM_CFG_STRING,
	 .offset = F(turn_password),
	 .arg = "PASSWORD",
	 .flags = WM_CFG_SECRET,
	 .help = "the password of turn-username"},
	{.name = "turn-secret",
	 .type = WM_CFG_STRING,
	 .offset = F(turn_secret),
	 .arg = "SECRET",
	 .flags = WM_CFG_SECRET,
	 .help = "servers: coturn's static-auth-secret, to hand members time-limited TURN "
		 "credentials"},
	{.name = "turn-credential-ttl",
	 .type = WM_CFG_UINT,
	 .offset = F(turn_credential_ttl),
	 .size = SZ(turn_credential_ttl),
	 .arg = "SECONDS",
	 .def = "43200",
	 .min = 60,
	 .max = 2592000,
	 .help = "how long TURN credentials handed out by turn-secret stay valid"},
	{.name = "ice-handshake-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(ice_handshake_timeout),
	 .size = SZ(ice_handshake_timeout),
	 .arg = "SECONDS",
	 .def = "20",
	 .min = 0,
	 .max = 3600,
	 .help = "move a peer to ICE when no WireGuard handshake completes at its direct "
		 "endpoints within this time (0: never)"},
	{.name = "endpoint-refresh",
	 .type = WM_CFG_UINT,
	 .offset = F(endpoint_refresh),
	 .size = SZ(endpoint_refresh),
	 .arg = "SECONDS",
	 .def = "30",
	 .min = 0,
	 .max = 86400,
	 .help = "discover this node's endpoints again this often and tell the mesh when "
		 "they changed, e.g. a laptop on a new network (0: only at start)"},
	/* libp2p (issue 11, src/p2p) */
	{.name = "libp2p-listen",
	 .type = WM_CFG_LIST,
	 .offset = F(libp2p_listen),
	 .count_offset = F(n_libp2p_listen),
	 .arg = "MULTIADDR,...",
	 .check = check_libp2p_listen,
	 .help = "speak libp2p (TCP, Noise, yamux, identify, ping) on these addresses, e.g. "
		 "/ip4/0.0.0.0/tcp/4001 (default: off)"},
	{.name = "libp2p-peers",
	 .type = WM_CFG_LIST,
	 .offset = F(libp2p_peers),
	 .count_offset = F(n_libp2p_peers),
	 .arg = "MULTIADDR,...",
	 .check = check_libp2p_peer,
	 .help = "libp2p peers to connect to and keep, /ip4|ip6/ADDR/tcp/PORT[/p2p/ID] "
		 "(without /p2p the peer ID is learnt in the handshake)"},
	{.name = "libp2p-ping-interval",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_ping_interval),
	 .size = SZ(libp2p_ping_interval),
	 .arg = "SECONDS",
	 .def = "30",
	 .min = 0,
	 .max = 86400,
	 .help = "ping the libp2p peers this node dialed this often (0: never)"},
	{.name = "libp2p-max-connections",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_max_connections),
	 .size = SZ(libp2p_max_connections),
	 .arg = "N",
	 .def = "64",
	 .min = 1,
	 .max = 4096,
	 .help = "libp2p connections open at once, both ways; more are closed at accept"},
	{.name = "libp2p-max-streams",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_max_streams),
	 .size = SZ(libp2p_max_streams),
	 .arg = "N",
	 .def = "64",
	 .min = 1,
	 .max = 1024,
	 .help = "yamux streams open at once on one libp2p connection"},
	{.name = "libp2p-handshake-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_handshake_timeout),
	 .size = SZ(libp2p_handshake_timeout),
	 .arg = "SECONDS",
	 .def = "20",
	 .min = 1,
	 /* Each connection still in its handshake holds an inbound slot: a
	  * longer wait lets slow peers fill them. */
	 .max = 300,
	 .help = "a libp2p connection not secured and multiplexed (Noise, yamux) this long after "
		 "its TCP connect is closed"},
	{.name = "libp2p-max-write-queue",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_max_write_queue),
	 .size = SZ(libp2p_max_write_queue),
	 .arg = "BYTES",
	 .def = "4194304",
	 .min = 1048576,
	 .max = 1073741824,
	 .help = "bytes queued to one libp2p peer's socket; a peer that reads no more is "
		 "disconnected past it (1 MiB to 1 GiB)"},
	{.name = "libp2p-max-held-per-stream",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_max_held_per_stream),
	 .size = SZ(libp2p_max_held_per_stream),
	 .arg = "BYTES",
	 .def = "1048576",
	 .min = 1048576,
	 .max = 67108864,
	 .help = "bytes a libp2p stream holds back for want of the peer's yamux window; a write "
		 "beyond fails (1 MiB, what relays and WireGuard carriers are built for, to 64 "
		 "MiB)"},
	{.name = "libp2p-max-held-per-connection",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_max_held_per_connection),
	 .size = SZ(libp2p_max_held_per_connection),
	 .arg = "BYTES",
	 .def = "2097152",
	 .min = 1048576,
	 .max = 1073741824,
	 .help = "bytes held back over all streams of one libp2p connection (at least "
		 "libp2p-max-held-per-stream, at most libp2p-max-write-queue)"},
	/* libp2p circuit relay v2 (issue 11, src/p2p/relay.c) */
	{.name = "libp2p-relay",
	 .type = WM_CFG_BOOL,
	 .offset = F(libp2p_relay),
	 .def = "false",
	 .help = "serve libp2p peers as a circuit relay v2 (hop), within the libp2p-relay-* "
		 "limits"},
	{.name = "libp2p-relay-max-reservations",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_max_reservations),
	 .size = SZ(libp2p_relay_max_reservations),
	 .arg = "N",
	 .def = "128",
	 .min = 1,
	 .max = 65536,
	 .help = "relay reservations held at once; more are refused"},
	{.name = "libp2p-relay-max-reservations-per-source",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_max_per_source),
	 .size = SZ(libp2p_relay_max_per_source),
	 .arg = "N",
	 .def = "4",
	 .min = 1,
	 .max = 65536,
	 .help = "relay reservations held by one IPv4 address or IPv6 /64"},
	{.name = "libp2p-relay-reservation-ttl",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_reservation_ttl),
	 .size = SZ(libp2p_relay_reservation_ttl),
	 .arg = "SECONDS",
	 .def = "3600",
	 .min = 10,
	 .max = 86400,
	 .help = "how long a relay reservation lasts unless renewed"},
	{.name = "libp2p-relay-reservation-bytes",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_reservation_bytes),
	 .size = SZ(libp2p_relay_reservation_bytes),
	 .arg = "BYTES",
	 .def = "0",
	 .min = 0,
	 .max = UINT32_MAX,
	 .help = "bytes relayed for one reservation over all its circuits and its life, up "
		 "to 4 GiB (0: no limit)"},
	{.name = "libp2p-relay-max-circuits",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_max_circuits),
	 .size = SZ(libp2p_relay_max_circuits),
	 .arg = "N",
	 .def = "64",
	 .min = 1,
	 .max = 65536,
	 .help = "relayed connections open at once through this relay"},
	{.name = "libp2p-relay-max-circuits-per-peer",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_max_circuits_per_peer),
	 .size = SZ(libp2p_relay_max_circuits_per_peer),
	 .arg = "N",
	 .def = "8",
	 .min = 1,
	 .max = 65536,
	 .help = "relayed connections open at once to one reserved peer"},
	{.name = "libp2p-relay-circuit-duration",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_circuit_duration),
	 .size = SZ(libp2p_relay_circuit_duration),
	 .arg = "SECONDS",
	 .def = "0",
	 .min = 0,
	 .max = 86400,
	 .help = "a relayed connection is closed after this long (0: no limit)"},
	{.name = "libp2p-relay-circuit-bytes",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_relay_circuit_bytes),
	 .size = SZ(libp2p_relay_circuit_bytes),
	 .arg = "BYTES",
	 .def = "0",
	 .min = 0,
	 .max = UINT32_MAX,
	 .help = "a relayed connection is closed after this many bytes either way (0: no "
		 "limit)"},
	/* Kademlia DHT and join by rendezvous (issue 11, src/p2p/dht.c, rendezvous.c) */
	{.name = "libp2p-dht-max-providers",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_max_providers),
	 .size = SZ(libp2p_dht_max_providers),
	 .arg = "N",
	 .def = "1024",
	 .min = 1,
	 .max = 1000000,
	 .help = "DHT provider records this node stores for others, over all keys"},
	{.name = "libp2p-dht-providers-per-key",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_providers_per_key),
	 .size = SZ(libp2p_dht_providers_per_key),
	 .arg = "N",
	 .def = "20",
	 .min = 1,
	 .max = 1000,
	 .help = "DHT provider records stored for one key; newcomers beyond are refused"},
	{.name = "libp2p-dht-provider-ttl",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_provider_ttl),
	 .size = SZ(libp2p_dht_provider_ttl),
	 .arg = "SECONDS",
	 .def = "86400",
	 .min = 60,
	 .max = 604800,
	 .help = "life of a DHT provider record; this node announces its own again every 10 "
		 "minutes (or at half the life if shorter)"},
	{.name = "libp2p-dht-requests-per-second",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_requests_per_second),
	 .size = SZ(libp2p_dht_requests_per_second),
	 .arg = "N",
	 .def = "200",
	 .min = 1,
	 .max = 100000,
	 .help = "DHT requests this node answers per second, from all peers together; more are "
		 "refused"},
	{.name = "libp2p-dht-requests-per-stream",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_requests_per_stream),
	 .size = SZ(libp2p_dht_requests_per_stream),
	 .arg = "N",
	 .def = "16",
	 .min = 1,
	 .max = 1024,
	 .help = "DHT requests answered on one inbound stream before it is reset"},
	{.name = "libp2p-dht-max-requests",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_max_requests),
	 .size = SZ(libp2p_dht_max_requests),
	 .arg = "N",
	 .def = "64",
	 .min = 1,
	 .max = 4096,
	 .help = "DHT requests of this node in flight at once, over all its lookups; more wait or "
		 "count as failed"},
	{.name = "libp2p-dht-max-lookups",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_max_lookups),
	 .size = SZ(libp2p_dht_max_lookups),
	 .arg = "N",
	 .def = "16",
	 .min = 1,
	 .max = 1024,
	 .help = "DHT lookups of this node at once (rendezvous, announcements, refreshes); "
		 "more are refused"},
	{.name = "libp2p-dht-query-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_query_timeout),
	 .size = SZ(libp2p_dht_query_timeout),
	 .arg = "SECONDS",
	 .def = "5",
	 .min = 1,
	 .max = 300,
	 .help = "one DHT request of this node to one peer counts as failed after this long"},
	{.name = "libp2p-dht-lookup-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_dht_lookup_timeout),
	 .size = SZ(libp2p_dht_lookup_timeout),
	 .arg = "SECONDS",
	 .def = "30",
	 .min = 1,
	 /* A lookup holds one of libp2p-dht-max-lookups: ten minutes is
	  * already far past any useful answer. */
	 .max = 600,
	 .help = "a DHT lookup of this node (rendezvous, announcements) ends with what it found "
		 "after this long"},
	{.name = "libp2p-rendezvous-max-pipes",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_rendezvous_max_pipes),
	 .size = SZ(libp2p_rendezvous_max_pipes),
	 .arg = "N",
	 .def = "256",
	 .min = 1,
	 .max = 65536,
	 .help = "rendezvous pipes (libp2p streams to the API) open at once; a joined member keeps "
		 "one as its upstream"},
	{.name = "libp2p-rendezvous-handshake-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_rendezvous_handshake_timeout),
	 .size = SZ(libp2p_rendezvous_handshake_timeout),
	 .arg = "SECONDS",
	 .def = "10",
	 .min = 1,
	 .max = 600,
	 .help = "a rendezvous pipe whose proofs of the secret are not done this long after "
		 "it opened is closed"},
	{.name = "libp2p-rendezvous-handshakes-per-peer",
	 .type = WM_CFG_UINT,
	 .offset = F(libp2p_rendezvous_handshakes_per_peer),
	 .size = SZ(libp2p_rendezvous_handshakes_per_peer),
	 .arg = "N",
	 .def = "4",
	 .min = 1,
	 .max = 256,
	 .help = "servers: rendezvous pipes of one peer in their handshake at once; more are "
		 "refused"},
	{.name = "announce-rendezvous",
	 .type = WM_CFG_STRING,
	 .offset = F(announce_rendezvous),
	 .arg = "SECRET",
	 .flags = WM_CFG_SECRET,
	 .help = "servers: announce this server in the libp2p DHT under a key derived from "
		 "SECRET (16 to 256 characters), for nodes started with --join-rendezvous"},
	{.name = "join-rendezvous",
	 .type = WM_CFG_STRING,
	 .offset = F(join_rendezvous),
	 .arg = "SECRET",
	 .flags = WM_CFG_SECRET,
	 .help = "join the mesh through a server found in the libp2p DHT (from --libp2p-peers) "
		 "that proves it knows SECRET; instead of --join HOST:PORT"},
	{.name = "announce-rendezvous-file",
	 .type = WM_CFG_STRING,
	 .offset = F(announce_rendezvous_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read announce-rendezvous from the first line of this file (mode 0600)"},
	{.name = "join-rendezvous-file",
	 .type = WM_CFG_STRING,
	 .offset = F(join_rendezvous_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read join-rendezvous from the first line of this file (mode 0600)"},
	{.name = "api-max-connections",
	 .type = WM_CFG_UINT,
	 .offset = F(api_max_connections),
	 .size = SZ(api_max_connections),
	 .arg = "N",
	 .def = "512",
	 .min = 1,
	 .max = 65535,
	 .help = "API connections kept open at once; more are closed at accept"},
	{.name = "api-max-connections-per-source",
	 .type = WM_CFG_UINT,
	 .offset = F(api_max_connections_per_source),
	 .size = SZ(api_max_connections_per_source),
	 .arg = "N",
	 .def = "32",
	 .min = 1,
	 .max = 65535,
	 .help = "API connections from one IPv4 address or IPv6 /64"},
	{.name = "api-max-streams",
	 .type = WM_CFG_UINT,
	 .offset = F(api_max_streams),
	 .size = SZ(api_max_streams),
	 .arg = "N",
	 .def = "100",
	 .min = 1,
	 .max = 1000,
	 .help = "concurrent calls on one API connection (HTTP/2 streams)"},
	{.name = "api-max-buffered-per-connection",
	 .type = WM_CFG_UINT,
	 .offset = F(api_max_buffered_per_connection),
	 .size = SZ(api_max_buffered_per_connection),
	 .arg = "BYTES",
	 .def = "10485760",
	 .min = 4259840,
	 .max = 1073741824,
	 .help = "request bytes one API connection may have in flight (its HTTP/2 window); "
		 "announced lengths count"},
	{.name = "api-max-buffered",
	 .type = WM_CFG_UINT,
	 .offset = F(api_max_buffered),
	 .size = SZ(api_max_buffered),
	 .arg = "BYTES",
	 .def = "33554432",
	 .min = 4259840,
	 .max = UINT32_MAX,
	 .help = "request bytes all API connections together may have in flight"},
	{.name = "api-handshake-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(api_handshake_timeout),
	 .size = SZ(api_handshake_timeout),
	 .arg = "SECONDS",
	 .def = "10",
	 .min = 1,
	 .max = 300,
	 .help = "close an API connection that has not finished TLS and the HTTP/2 preface in this "
		 "time"},
	{.name = "api-idle-timeout",
	 .type = WM_CFG_UINT,
	 .offset = F(api_idle_timeout),
	 .size = SZ(api_idle_timeout),
	 .arg = "SECONDS",
	 .def = "300",
	 .min = 0,
	 .max = 86400,
	 .help = "close an API connection without a call in progress for this long (0: never)"},
	{.name = "auth-max-pending",
	 .type = WM_CFG_UINT,
	 .offset = F(auth_max_pending),
	 .size = SZ(auth_max_pending),
	 .arg = "N",
	 .def = "256",
	 .min = 1,
	 .max = 65535,
	 .help = "authentications being checked at once"},
	{.name = "auth-max-pending-per-source",
	 .type = WM_CFG_UINT,
	 .offset = F(auth_max_pending_per_source),
	 .size = SZ(auth_max_pending_per_source),
	 .arg = "N",
	 .def = "4",
	 .min = 1,
	 .max = 1024,
	 .help = "authentications being checked at once for one source address"},
	{.name = "auth-backoff-max-ms",
	 .type = WM_CFG_UINT,
	 .offset = F(auth_backoff_max_ms),
	 .size = SZ(auth_backoff_max_ms),
	 .arg = "MS",
	 .def = "10000",
	 .min = 100,
	 .max = 3600000,
	 .help = "the longest wait after failed authentications from a source or for a user (it "
		 "doubles from 100 ms)"},
	{.name = "signaling-max-messages",
	 .type = WM_CFG_UINT,
	 .offset = F(signaling_max_messages),
	 .size = SZ(signaling_max_messages),
	 .arg = "N",
	 .def = "4096",
	 .min = 1,
	 .max = 1000000,
	 .help = "ICE signals a server keeps for absent nodes, in all"},
	{.name = "signaling-max-bytes",
	 .type = WM_CFG_UINT,
	 .offset = F(signaling_max_bytes),
	 .size = SZ(signaling_max_bytes),
	 .arg = "BYTES",
	 .def = "4194304",
	 .min = 65536,
	 .max = 1073741824,
	 .help = "bytes of ICE signals a server keeps for absent nodes, in all"},
	/* MeshDNS (issue 14) */
	{.name = "meshdns-listen",
	 .type = WM_CFG_STRING,
	 .offset = F(meshdns_listen),
	 .arg = "IP:PORT",
	 .check = check_endpoint,
	 .help = "serve the mesh domain over DNS (UDP and TCP) here; voters and observers "
		 "only"},
	{.name = "meshdns-forwarders",
	 .type = WM_CFG_LIST,
	 .offset = F(meshdns_forwarders),
	 .count_offset = F(n_meshdns_forwarders),
	 .arg = "IP:PORT,...",
	 .check = check_endpoint,
	 .help = "MeshDNS passes names outside the mesh to the first of these (default: "
		 "REFUSED)"},
	{.name = "meshdns-forward-public",
	 .type = WM_CFG_BOOL,
	 .offset = F(meshdns_forward_public),
	 .def = "false",
	 .help = "allow meshdns-forwarders on a listen address that is neither loopback nor "
		 "in the mesh (an open resolver for whoever reaches it)"},
	{.name = "use-meshdns",
	 .type = WM_CFG_BOOL,
	 .offset = F(use_meshdns),
	 .def = "false",
	 .help = "resolve the mesh domain (only it) through MeshDNS: per-link DNS with "
		 "systemd-resolved, else a block in /etc/resolv.conf removed at exit"},
	{.name = "meshdns-server",
	 .type = WM_CFG_STRING,
	 .offset = F(meshdns_server),
	 .arg = "IP:PORT",
	 .check = check_endpoint,
	 .help = "with use-meshdns: the MeshDNS server to ask (default: port 53 at the mesh "
		 "address of a voter or observer this node knows)"},
	/* HTTP listener: metrics, health, the console (issue 13) */
	{.name = "http-listen",
	 .type = WM_CFG_STRING,
	 .offset = F(http_listen),
	 .arg = "IP:PORT",
	 .def = "127.0.0.1:8080",
	 .flags = WM_CFG_EMPTY_OK,
	 .check = check_http_listen,
	 .help = "serve /metrics, /healthz, /readyz and the web console over HTTP here "
		 "(an empty value turns it off; /metrics and the probes need no login)"},
	{.name = "http-allowed-hosts",
	 .type = WM_CFG_LIST,
	 .offset = F(http_allowed_hosts),
	 .count_offset = F(n_http_allowed_hosts),
	 .arg = "NAME,...",
	 .check = check_host_name,
	 .help = "host names (as in http://NAME:8080/) the HTTP listener answers to when "
		 "reached on a non-loopback address, besides IP addresses and localhost; "
		 "others get 421, which keeps DNS-rebinding pages out"},
	{.name = "console-dir",
	 .type = WM_CFG_STRING,
	 .offset = F(console_dir),
	 .arg = "DIR",
	 .check = check_path,
	 .help = "the web console's files (default: the installed share/webmesh/console, or "
		 "build/console in the build tree)"},
	{.name = "log-level",
	 .type = WM_CFG_ENUM,
	 .offset = F(log_level),
	 .def = "info",
	 .choices = log_levels,
	 .help = "the least severe messages logged"},
	/* Secrets from files (issue 10): the *-file form of every secret key. */
	{.name = "ldap-bind-password-file",
	 .type = WM_CFG_STRING,
	 .offset = F(ldap_bind_password_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read ldap-bind-password from the first line of this file (mode 0600)"},
	{.name = "basic-auth-password-file",
	 .type = WM_CFG_STRING,
	 .offset = F(basic_auth_password_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read basic-auth-password from the first line of this file (mode 0600)"},
	{.name = "turn-password-file",
	 .type = WM_CFG_STRING,
	 .offset = F(turn_password_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read turn-password from the first line of this file (mode 0600)"},
	{.name = "turn-secret-file",
	 .type = WM_CFG_STRING,
	 .offset = F(turn_secret_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "read turn-secret from the first line of this file (mode 0600)"},
	/* plugins (issue 12) */
	{.name = "plugin",
	 .type = WM_CFG_LIST,
	 .offset = F(plugins),
	 .count_offset = F(n_plugins),
	 .arg = "NAME=PATH.so",
	 .check = check_plugin,
	 .help = "load the plugin PATH.so as NAME (include/webmesh/plugin.h), or run "
		 "NAME=exec:PROGRAM as one or dial NAME=grpcs://HOST:PORT (over gRPC); "
		 "repeatable"},
	{.name = "plugin-config",
	 .type = WM_CFG_LIST,
	 .offset = F(plugin_configs),
	 .count_offset = F(n_plugin_configs),
	 .arg = "NAME.KEY=VALUE",
	 .check = check_plugin_config,
	 .help = "a setting handed to plugin NAME's init; repeatable"},
	/* storage plugins (issue 12): the mesh state in etcd */
	{.name = "storage",
	 .type = WM_CFG_ENUM,
	 .offset = F(storage),
	 .def = "raft",
	 .choices = storages,
	 .help = "where a server keeps the mesh state: raft (the built-in replicated "
		 "store) or etcd (webmesh-etcd.so, an etcd v3 cluster; no join address "
		 "needed)"},
	{.name = "etcd-endpoints",
	 .type = WM_CFG_STRING,
	 .offset = F(etcd_endpoints),
	 .arg = "URL,...",
	 .check = check_etcd_endpoints,
	 .help = "with storage etcd: the etcd members, https://HOST:PORT,... (http:// is "
		 "accepted for tests and logged at startup: nothing on it is private)"},
	{.name = "etcd-ca-file",
	 .type = WM_CFG_STRING,
	 .offset = F(etcd_ca_file),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "with storage etcd: the CA that signed the etcd members' certificates"},
	{.name = "etcd-cert",
	 .type = WM_CFG_STRING,
	 .offset = F(etcd_cert),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "with storage etcd: this server's client certificate for etcd"},
	{.name = "etcd-key",
	 .type = WM_CFG_STRING,
	 .offset = F(etcd_key),
	 .arg = "PATH",
	 .check = check_path,
	 .help = "with storage etcd: the key of etcd-cert (mode 0600)"},
	{.name = "config",
	 .type = WM_CFG_STRING,
	 .offset = F(config_file),
	 .arg = "FILE",
	 .flags = WM_CFG_FLAG_ONLY,
	 .check = check_path,
	 .help = "read this YAML file (also WEBMESH_CONFIG)"},
	{.name = "print-config",
	 .type = WM_CFG_BOOL,
	 .offset = F(print_config),
	 .def = "false",
	 .flags = WM_CFG_FLAG_ONLY,
	 .help = "print the effective configuration and exit"},
	{.name = "help",
	 .type = WM_CFG_BOOL,
	 .offset = F(help),
	 .def = "false",
	 .flags = WM_CFG_FLAG_ONLY,
	 .help = "show this help and exit"},
	{.name = "version",
	 .type = WM_CFG_BOOL,
	 .offset = F(version),
	 .def = "false",
	 .flags = WM_CFG_FLAG_ONLY,
	 .help = "show the version and exit"},
	{.name = NULL},
};

_Static_assert(sizeof(wm_cfg_keys) / sizeof(wm_cfg_keys[0]) <= WM_CFG_KEYS_MAX,
	       "raise WM_CFG_KEYS_MAX");

#define FIELD(cfg, k, type) ((type *)((char *)(cfg) + (k)->offset))

const struct wm_cfg_key *wm_cfg_find(const char *name)
{
	if (!name)
		return NULL;
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		if (strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

void wm_cfg_env_name(const char *key, char *out, size_t len)
{
	size_t o;

	if (!len)
		return;
	o = (size_t)snprintf(out, len, "WEBMESH_");
	for (; key && *key && o + 1 < len; key++)
		out[o++] = *key == '-' ? '_' : (char)toupper((unsigned char)*key);
	out[o < len ? o : len - 1] = '\0';
}

/* ---- per-key checks: NULL when fine, else what is allowed ----
 * A reason with the rule's own words is formatted into a per-thread buffer:
 * set_value copies it into its error before this thread checks anything
 * else, so no answer outlives its check. */

/* "ID=HOST:PORT" of bootstrap-servers. */
static const char *check_bootstrap_server(const char *v)
{
	char id[WM_NODE_ID_MAX + 2], host[256];
	uint16_t port;
	const char *eq = strchr(v, '=');
	if (!eq || (size_t)(eq - v) > WM_NODE_ID_MAX)
		return "is not ID=HOST:PORT (e.g. node1=10.0.0.1:8443)";
	memcpy(id, v, (size_t)(eq - v));
	id[eq - v] = '\0';
	if (wm_node_id_check(id, NULL) < 0)
		return "is not ID=HOST:PORT: the ID is not a valid node ID";
	if (wm_hostport_split(eq + 1, host, sizeof(host), &port) < 0)
		return "is not ID=HOST:PORT: HOST:PORT needs a port 1..65535";
	return NULL;
}

/* "NAME=/PATH.so" of plugin: NAME a DNS label, as node IDs are. */
static const char *check_plugin(const char *v)
{
	char name[WM_NODE_ID_MAX + 1];
	const char *eq = strchr(v, '=');

	if (!eq || eq == v || (size_t)(eq - v) > WM_NODE_ID_MAX)
		return "is not NAME=/PATH/TO/PLUGIN.so";
	memcpy(name, v, (size_t)(eq - v));
	name[eq - v] = '\0';
	if (wm_node_id_check(name, NULL) < 0)
		return "is not NAME=/PATH/TO/PLUGIN.so: NAME must be a lower-case DNS label";
	/* grpcs://HOST:PORT is a remote plugin, parsed in src/plugin/exec.c;
	 * never cleartext over a network (it decides who joins). */
	if (strncmp(eq + 1, "grpcs://", 8) == 0 && eq[9])
		return NULL;
	if (strncmp(eq + 1, "grpc://", 7) == 0)
		return "uses grpc://, which is not supported: a remote plugin is dialled with "
		       "mutual TLS only (grpcs://HOST:PORT)";
	/* exec:/PROG is an out-of-process plugin (src/plugin/exec.c). */
	if (eq[1] != '/' && !(strncmp(eq + 1, "exec:/", 6) == 0 && eq[7]))
		return "is not NAME=/PATH/TO/PLUGIN.so or NAME=exec:/PATH/TO/PROGRAM: the path "
		       "must be absolute";
	return check_path(eq + 1);
}

/* "NAME.KEY=VALUE" of plugin-config. */
static const char *check_plugin_config(const char *v)
{
	char name[WM_NODE_ID_MAX + 1];
	const char *dot = strchr(v, '.'), *eq = strchr(v, '=');

	if (!dot || !eq || dot > eq || dot == v || (size_t)(dot - v) > WM_NODE_ID_MAX)
		return "is not NAME.KEY=VALUE";
	memcpy(name, v, (size_t)(dot - v));
	name[dot - v] = '\0';
	if (wm_node_id_check(name, NULL) < 0)
		return "is not NAME.KEY=VALUE: NAME must be a lower-case DNS label";
	if (eq == dot + 1 || eq - dot - 1 > 63)
		return "is not NAME.KEY=VALUE: KEY must be 1 to 63 characters";
	for (const char *p = dot + 1; p < eq; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' &&
		    *p != '_')
			return "is not NAME.KEY=VALUE: KEY may hold a-z, 0-9, '-' and '_'";
	if (strlen(eq + 1) > 1024)
		return "has a VALUE longer than 1024 bytes";
	for (const char *p = eq + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "has a control character in its VALUE";
	return NULL;
}

static const char *check_node_id(const char *v)
{
	static _Thread_local char why[96];
	const char *reason;

	if (wm_node_id_check(v, &reason) == 0)
		return NULL;
	snprintf(why, sizeof(why), "is not a valid node ID: it %s", reason);
	return why;
}

static const char *check_zone(const char *v)
{
	static _Thread_local char why[96];
	const char *reason;

	if (wm_zone_check(v, &reason) == 0)
		return NULL;
	snprintf(why, sizeof(why), "is not a valid zone: it %s", reason);
	return why;
}

/* stun:/turn: URIs (src/core/nat.c); the scheme may be left out. */
static const char *check_ice_uri(const char *v, int scheme)
{
	static _Thread_local char why[160];
	struct wm_ice_uri u;
	const char *reason = NULL;

	if (wm_ice_uri_parse(v, scheme, &u, &reason) == 0 && u.scheme == scheme)
		return NULL;
	snprintf(why, sizeof(why), "is not a %s URI (%s:HOST[:PORT]): it %s",
		 scheme == WM_URI_STUN ? "stun:" : "turn:", scheme == WM_URI_STUN ? "stun" : "turn",
		 reason ? reason : "has the other scheme");
	return why;
}

/* libp2p multiaddrs (src/core/p2pwire.c): TCP ones, with /p2p for peers. */
static const char *check_libp2p_maddr(const char *v, bool peer)
{
	static _Thread_local char why[320];
	uint8_t b[WM_MADDR_MAX];
	struct wm_maddr_tcp t;
	char relay[WM_MADDR_TEXT_MAX];
	struct wm_peer_id target;
	int n;

	/* A peer may be a circuit: a relay's address, /p2p-circuit/p2p/ID. */
	if (peer &&
	    (n = wm_relay_circuit_split(v, relay, sizeof(relay), &target, why, sizeof(why))) != 0)
		return n < 0 ? why : NULL;
	n = wm_maddr_parse(v, b, sizeof(b), why, sizeof(why));
	if (n < 0)
		return why;
	if (wm_maddr_to_tcp(b, (size_t)n, &t))
		return "must be /ip4/ADDR/tcp/PORT or /ip6/ADDR/tcp/PORT (with /p2p/ID for a peer)";
	if (t.has_peer && !peer)
		return "a listen address has no /p2p/ID part";
	if (peer && t.port == 0)
		return "a peer's port must not be 0";
	return NULL;
}

static const char *check_libp2p_listen(const char *v)
{
	return check_libp2p_maddr(v, false);
}

static const char *check_libp2p_peer(const char *v)
{
	return check_libp2p_maddr(v, true);
}

static const char *check_stun_server(const char *v)
{
	return check_ice_uri(v, WM_URI_STUN);
}

static const char *check_turn_server(const char *v)
{
	return check_ice_uri(v, WM_URI_TURN);
}

static const char *check_turn_username(const char *v)
{
	/* It travels in a STUN USERNAME attribute (at most 509 bytes); printable
	 * ASCII keeps it out of trouble in logs and config files. */
	if (strlen(v) > 255)
		return "is longer than 255 characters";
	for (; *v; v++)
		if (*v < 0x21 || *v > 0x7e)
			return "may only contain printable ASCII without spaces";
	return NULL;
}

static const char *check_route(const char *v)
{
	struct wm_prefix p;

	if (wm_route_parse(v, &p) < 0)
		return "is not a network such as 10.1.0.0/16, 0.0.0.0/0 or ::/0";
	return NULL;
}

/* storage plugins (issue 12): "http(s)://HOST:PORT,..."; the etcd client
 * parses each again when it connects. */
static const char *check_etcd_endpoints(const char *v)
{
	const char *p = v;
	while (*p) {
		size_t n = strcspn(p, ",");
		size_t scheme = strncmp(p, "https://", 8) == 0	? 8
				: strncmp(p, "http://", 7) == 0 ? 7
								: 0;
		if (!scheme)
			return "each endpoint must start with https:// (or http://)";
		/* A user:password@ would be echoed by every error and status
		 * line that shows the endpoints; etcd authenticates webmeshd
		 * by its client certificate instead. */
		if (memchr(p + scheme, '@', n - scheme))
			return "credentials in an endpoint (user:password@) are not supported: "
			       "use etcd-cert and etcd-key";
		const char *colon = memchr(p + scheme, ':', n - scheme);
		if (n - scheme < 3 || !colon || colon == p + scheme || colon + 1 == p + n)
			return "each endpoint must be http(s)://HOST:PORT";
		p += n;
		if (*p == ',' && *++p == '\0')
			return "a trailing comma";
	}
	return NULL;
}

static const char *check_path(const char *v)
{
	(void)v;
	return NULL; /* any non-empty text; the type check refuses empty values */
}

/* A DNS name (core/dnsname.c owns the syntax); upper case allowed when upper. */
static bool dns_name_ok(const char *v, bool upper)
{
	return wm_dns_name_check(v, upper ? WM_DNS_NAME_UPPER : 0, NULL) == 0;
}

static const char *check_domain(const char *v)
{
	if (dns_name_ok(v, false))
		return NULL;
	return "is not a domain name (lower-case DNS labels separated by '.', "
	       "such as webmesh.internal)";
}

/* Digits only, no sign, no leading zero; 0 and *out on success. */
static int parse_uint(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (!*v || (v[0] == '0' && v[1]) || strlen(v) > 19)
		return -EINVAL;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return -EINVAL;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return 0;
}

static const char *check_join(const char *v)
{
	char host[WM_DNS_NAME_MAX + 1];
	uint16_t port;

	if (wm_hostport_split(v, host, sizeof(host), &port) == 0)
		return NULL;
	return "is not HOST:PORT (a host name, an IPv4 address or [IPv6 address], "
	       "and a port 1..65535)";
}

static const char *check_fingerprint(const char *v)
{
	char fp[WM_FINGERPRINT_LEN];

	if (wm_fingerprint_parse(v, fp) == 0)
		return NULL;
	return "is not a certificate fingerprint (sha256: followed by 64 hex digits)";
}

static const char *check_server_name(const char *v)
{
	struct wm_prefix p;

	if (dns_name_ok(v, true) || wm_addr_parse(v, &p) == 0)
		return NULL;
	return "is not a host name or IP address";
}

static const char *check_listen(const char *v)
{
	struct wm_endpoint e;

	if (wm_endpoint_parse(v, &e) == 0)
		return NULL;
	return "is not IP:PORT (such as 0.0.0.0:8443 or [::]:8443)";
}

static const char *check_group(const char *v)
{
	/* Debian's adduser rule (NAME_REGEX), which groupadd and NSS accept. */
	size_t n = strlen(v);

	if (n == 0 || n > 32 || !((v[0] >= 'a' && v[0] <= 'z') || v[0] == '_'))
		return "must be a group name: a lower-case letter or _ first, at most 32 "
		       "characters of a-z, 0-9, _ and -";
	for (size_t i = 1; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ||
		      v[i] == '-'))
			return "must be a group name: a lower-case letter or _ first, at most 32 "
			       "characters of a-z, 0-9, _ and -";
	return NULL;
}

static const char *check_socket(const char *v)
{
	/* sizeof(struct sockaddr_un.sun_path) is 108 on Linux, with the NUL. */
	if (strlen(v) > 107)
		return "is longer than a unix socket path may be (107 characters)";
	return NULL;
}

static const char *check_interface(const char *v)
{
	static _Thread_local char why[96];
	const char *reason;

	if (wm_ifname_check(v, &reason) == 0)
		return NULL;
	snprintf(why, sizeof(why), "is not an interface name: it %s", reason);
	return why;
}

/* http-listen: IP:PORT, or empty for no listener */
static const char *check_http_listen(const char *v)
{
	return v[0] ? check_endpoint(v) : NULL;
}

/* http-allowed-hosts: a DNS name as a browser sends it in Host (no port) */
static const char *check_host_name(const char *v)
{
	const char *why = NULL;
	if (wm_dns_name_check(v, WM_DNS_NAME_UPPER, &why) == 0)
		return NULL;
	static char msg[160];
	snprintf(msg, sizeof(msg), "is not a host name (%s)", why ? why : "bad name");
	return msg;
}

static const char *check_endpoint(const char *v)
{
	struct wm_endpoint e;

	if (wm_endpoint_parse(v, &e) == 0)
		return NULL;
	return "is not IP:PORT (such as 192.0.2.1:51820 or [2001:db8::1]:51820)";
}

static const char *check_ipv4_network(const char *v)
{
	struct wm_prefix p, n;

	if (wm_prefix_parse(v, &p) < 0 || p.family != AF_INET || !strchr(v, '/'))
		return "is not an IPv4 network such as 172.16.0.0/12";
	if (p.len < 8 || p.len > 30)
		return "must be a network of /8 to /30";
	n = wm_prefix_network(&p);
	if (!wm_prefix_equal(&n, &p))
		return "has host bits set (write the network address, such as 172.16.0.0/12)";
	return NULL;
}

static const char *check_ldap_url(const char *v)
{
	const char *host;

	if (strncmp(v, "ldap://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "ldaps://", 8) == 0)
		host = v + 8;
	else
		return "is not an LDAP URL (ldap://HOST[:PORT] or ldaps://HOST[:PORT])";
	if (!*host || strchr(host, '/') || strchr(host, '?') || strchr(host, ' ') ||
	    strchr(host, '@'))
		return "must name a host and optional port only (ldap://HOST[:PORT])";
	return NULL;
}

static const char *check_ldap_attr(const char *v)
{
	if (wm_ldap_attr_ok(v))
		return NULL;
	return "is not an LDAP attribute name (a letter, then letters, digits, '-'; at most 64)";
}

static const char *check_ldap_filter(const char *v)
{
	int depth = 0;

	if (v[0] != '(')
		return "is not an LDAP filter in parentheses, such as (objectClass=person)";
	for (; *v; v++) {
		if (*v == '(')
			depth++;
		else if (*v == ')' && --depth < 0)
			break;
	}
	if (depth != 0)
		return "has unbalanced parentheses";
	return NULL;
}

/* User and node names of authenticators: printable, no ':' (basic auth). */
static const char *check_auth_name(const char *v)
{
	if (strlen(v) > 253)
		return "is longer than 253 characters";
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if (c <= 0x20 || c == ':' || c == 0x7f)
			return "may not contain spaces, ':' or control characters";
	}
	return NULL;
}

/* bootstrap-admin: a user name, "user:NAME" or "node:ID". It becomes an RBAC
 * subject (user:NAME unless it says node:), so a name is an RBAC name
 * (core/rbac.h), the rule the FSM checks it by: check_auth_name let "bob!"
 * through to a bootstrap the FSM then refused. */
static const char *check_admin_subject(const char *v)
{
	static _Thread_local char why[120];
	const char *reason;

	if (strncmp(v, "node:", 5) == 0)
		return check_node_id(v + 5) ? "node:ID needs a valid node ID" : NULL;
	if (strncmp(v, "user:", 5) == 0 && !*(v += 5))
		return "user:NAME needs a name";
	if (wm_rbac_name_check(v, &reason) == 0 || strcmp(v, "*") == 0)
		return NULL;
	snprintf(why, sizeof(why), "is not a user name for RBAC: it %s", reason);
	return why;
}

/* ---- setting values ---- */

/* The user:password of each scheme://user:password@host in v replaced by
 * "<redacted>", into out (len >= 1): a URL's credentials are a secret
 * whatever key carries them. */
static const char *without_userinfo(const char *v, char *out, size_t len)
{
	size_t o = 0;
	const char *p = v;
	while (*p && o + 1 < len) {
		const char *s = strstr(p, "://");
		const char *auth = s ? s + 3 : p + strlen(p);
		size_t alen = s ? strcspn(auth, "/,") : 0;
		const char *at = NULL;
		for (size_t j = 0; j < alen; j++)
			if (auth[j] == '@')
				at = auth + j;
		while (p < auth && o + 1 < len)
			out[o++] = *p++;
		if (at) {
			o += (size_t)snprintf(out + o, len - o, "<redacted>");
			if (o >= len)
				o = len - 1;
			p = at;
		}
	}
	out[o] = '\0';
	return out;
}

/* Quoted and escaped for an error message, or <redacted> for secrets. */
static void show_value(const struct wm_cfg_key *k, const char *v, char *out, size_t len)
{
	size_t o = 0, i;
	char clean[256];

	if (k->flags & WM_CFG_SECRET) {
		snprintf(out, len, "<redacted>");
		return;
	}
	v = without_userinfo(v, clean, sizeof(clean));
	if (len < 8) {
		if (len)
			out[0] = '\0';
		return;
	}
	out[o++] = '"';
	for (i = 0; v[i] && o + 6 < len && i < 64; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	if (v[i] && o + 5 < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o++] = '"';
	out[o] = '\0';
}

__attribute__((format(printf, 6, 7))) static int fail(char *err, size_t errlen,
						      const struct wm_cfg_key *k, const char *value,
						      const char *source, const char *fmt, ...)
{
	char shown[300], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	show_value(k, value, shown, sizeof(shown));
	if (err && errlen)
		snprintf(err, errlen, "config: %s: %s%s%s %s", k->name, shown,
			 source ? " from " : "", source ? source : "", why);
	return -WM_ECONFIG;
}

/* Decodes one UTF-8 sequence at s; returns its length and *cp, or 0 if invalid
 * (overlong forms, surrogates and values above U+10FFFF included). */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Every value must be printable UTF-8: control characters in a path or name
 * are never meant, and they would garble logs and --print-config. */
static bool text_ok(const char *v)
{
	const unsigned char *s = (const unsigned char *)v;

	while (*s) {
		uint32_t cp;
		size_t n = utf8_decode(s, &cp);

		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 ||
		    cp == 0x2029 || cp == 0xfeff)
			return false;
		s += n;
	}
	return true;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "1", "on", NULL};
	static const char *const no[] = {"false", "no", "0", "off", NULL};

	for (size_t i = 0; yes[i]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static void choices_text(const struct wm_cfg_key *k, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; k->choices[i] && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", k->choices[i]);
}

static int list_check(const struct wm_cfg_key *k, const char *item, const char *whole,
		      const char *source, char *err, size_t errlen)
{
	const char *why;

	if (!*item)
		return fail(err, errlen, k, whole, source, "has an empty item");
	if (!text_ok(item))
		return fail(err, errlen, k, item, source,
			    "contains a control character or is not UTF-8");
	if (k->check && (why = k->check(item)))
		return fail(err, errlen, k, item, source, "%s", why);
	return 0;
}

/* Splits a comma-separated list in place; spaces around items are dropped. */
static size_t list_split(char *s, char **items, size_t max)
{
	size_t n = 0;
	char *p = s;

	for (;;) {
		char *comma = strchr(p, ',');
		char *end;

		if (comma)
			*comma = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strlen(p);
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (n < max)
			items[n] = p;
		n++;
		if (!comma)
			return n;
		p = comma + 1;
	}
}

static int list_append(struct wm_config *cfg, const struct wm_cfg_key *k, const char *value,
		       const char *source, char *err, size_t errlen)
{
	char **list = FIELD(cfg, k, char *);
	size_t *count = (size_t *)((char *)cfg + k->count_offset);
	char *copy, *items[WM_CFG_LIST_MAX + 1];
	size_t n;
	int r = 0;

	if (!*value)
		return 0;
	copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	n = list_split(copy, items, WM_CFG_LIST_MAX + 1);
	if (*count + n > WM_CFG_LIST_MAX) {
		r = fail(err, errlen, k, value, source, "has more than %d items", WM_CFG_LIST_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		r = list_check(k, items[i], value, source, err, errlen);
		if (r < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		list[*count] = strdup(items[i]);
		if (!list[*count]) {
			r = -ENOMEM;
			goto out;
		}
		(*count)++;
	}
out:
	free(copy);
	return r;
}

static void list_clear(struct wm_config *cfg, const struct wm_cfg_key *k)
{
	char **list = FIELD(cfg, k, char *);
	size_t *count = (size_t *)((char *)cfg + k->count_offset);

	for (size_t i = 0; i < *count; i++) {
		free(list[i]);
		list[i] = NULL;
	}
	*count = 0;
}

static int set_value(struct wm_config *cfg, const struct wm_cfg_key *k, const char *value,
		     bool append, const char *source, char *err, size_t errlen)
{
	const char *why;
	char text[200];

	if (!cfg || !k || !value)
		return -EINVAL;
	if (k->type == WM_CFG_LIST) {
		if (!append) {
			/* Check everything first so a bad list leaves the old one. */
			struct wm_config tmp;
			int r;

			memset(&tmp, 0, sizeof(tmp));
			r = list_append(&tmp, k, value, source, err, errlen);
			list_clear(&tmp, k);
			if (r < 0)
				return r;
			list_clear(cfg, k);
		}
		return list_append(cfg, k, value, source, err, errlen);
	}
	if (!*value && !(k->flags & WM_CFG_EMPTY_OK))
		return fail(err, errlen, k, value, source, "is empty");
	if (strlen(value) > 4096)
		return fail(err, errlen, k, value, source, "is longer than 4096 characters");
	if (!text_ok(value))
		return fail(err, errlen, k, value, source,
			    "contains a control character or is not UTF-8");

	switch (k->type) {
	case WM_CFG_BOOL: {
		bool b;

		if (parse_bool(value, &b) < 0)
			return fail(err, errlen, k, value, source,
				    "is not a boolean (true/false, yes/no, on/off, 1/0)");
		*FIELD(cfg, k, bool) = b;
		return 0;
	}
	case WM_CFG_UINT: {
		uint64_t n;

		if (parse_uint(value, &n) < 0)
			return fail(err, errlen, k, value, source,
				    "is not a number (digits only, no leading zero)");
		if (n < k->min || n > k->max)
			return fail(err, errlen, k, value, source, "is out of range %llu..%llu",
				    (unsigned long long)k->min, (unsigned long long)k->max);
		if (k->size == sizeof(uint16_t))
			*FIELD(cfg, k, uint16_t) = (uint16_t)n;
		else if (k->size == sizeof(uint32_t))
			*FIELD(cfg, k, uint32_t) = (uint32_t)n;
		else
			*FIELD(cfg, k, uint64_t) = n;
		return 0;
	}
	case WM_CFG_PREFIX: {
		struct wm_prefix p;

		if (k->check && (why = k->check(value)))
			return fail(err, errlen, k, value, source, "%s", why);
		if (wm_prefix_parse(value, &p) < 0)
			return fail(err, errlen, k, value, source, "is not an IP prefix");
		*FIELD(cfg, k, struct wm_prefix) = p;
		return 0;
	}
	case WM_CFG_ENUM: {
		size_t i;

		for (i = 0; k->choices[i]; i++) {
			if (strcmp(k->choices[i], value) == 0)
				break;
		}
		if (!k->choices[i]) {
			choices_text(k, text, sizeof(text));
			return fail(err, errlen, k, value, source, "is not one of %s", text);
		}
		break; /* stored as a string below */
	}
	case WM_CFG_STRING:
		if (k->check && (why = k->check(value)))
			return fail(err, errlen, k, value, source, "%s", why);
		break;
	default:
		return -EINVAL;
	}

	{
		char **slot = FIELD(cfg, k, char *);
		char *copy = strdup(value);

		if (!copy)
			return -ENOMEM;
		if (*slot && (k->flags & WM_CFG_SECRET))
			wm_wipe(*slot, strlen(*slot));
		free(*slot);
		*slot = copy;
	}
	return 0;
}

int wm_config_set(struct wm_config *cfg, const struct wm_cfg_key *key, const char *value,
		  const char *source, char *err, size_t errlen)
{
	return set_value(cfg, key, value, false, source, err, errlen);
}

int wm_config_append(struct wm_config *cfg, const struct wm_cfg_key *key, const char *value,
		     const char *source, char *err, size_t errlen)
{
	return set_value(cfg, key, value, true, source, err, errlen);
}

static void key_clear(struct wm_config *cfg, const struct wm_cfg_key *k)
{
	switch (k->type) {
	case WM_CFG_STRING:
	case WM_CFG_ENUM: {
		char **slot = FIELD(cfg, k, char *);

		if (*slot && (k->flags & WM_CFG_SECRET))
			wm_wipe(*slot, strlen(*slot));
		free(*slot);
		*slot = NULL;
		break;
	}
	case WM_CFG_LIST:
		list_clear(cfg, k);
		break;
	case WM_CFG_BOOL:
		*FIELD(cfg, k, bool) = false;
		break;
	case WM_CFG_UINT:
		memset(FIELD(cfg, k, char), 0, k->size);
		break;
	case WM_CFG_PREFIX:
		memset(FIELD(cfg, k, struct wm_prefix), 0, sizeof(struct wm_prefix));
		break;
	}
}

void wm_config_reset(struct wm_config *cfg, const struct wm_cfg_key *key)
{
	key_clear(cfg, key);
	/* Defaults are in the table and valid by construction. */
	if (key->def)
		set_value(cfg, key, key->def, false, "default", NULL, 0);
}

int wm_config_init(struct wm_config *cfg)
{
	char err[256];
	int r;

	memset(cfg, 0, sizeof(*cfg));
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		if (!k->def)
			continue;
		r = set_value(cfg, k, k->def, false, "default", err, sizeof(err));
		if (r < 0) {
			wm_config_free(cfg);
			return r;
		}
	}
	return 0;
}

void wm_config_free(struct wm_config *cfg)
{
	if (!cfg)
		return;
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++)
		key_clear(cfg, k);
	memset(cfg, 0, sizeof(*cfg));
}

const struct wm_cfg_secret_file wm_cfg_secret_files[] = {
	{"ldap-bind-password", "ldap-bind-password-file"},
	{"basic-auth-password", "basic-auth-password-file"},
	{"turn-password", "turn-password-file"},
	{"turn-secret", "turn-secret-file"},
	{"announce-rendezvous", "announce-rendezvous-file"}, /* rendezvous (issue 11) */
	{"join-rendezvous", "join-rendezvous-file"},
	{NULL, NULL},
};

/* ---- whole-config checks ---- */

static int vfail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vfail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -WM_ECONFIG;
}

int wm_config_validate(const struct wm_config *cfg, char *err, size_t errlen)
{
	int trust = 0;

	if (cfg->help || cfg->version)
		return 0;
	if (cfg->bootstrap && cfg->join)
		return vfail(err, errlen,
			     "config: bootstrap and join exclude each other: a node either "
			     "starts a mesh or joins one");
	/* storage plugins (issue 12) */
	bool etcd = cfg->storage && strcmp(cfg->storage, "etcd") == 0;
	if (etcd && !cfg->etcd_endpoints)
		return vfail(err, errlen,
			     "config: storage etcd needs etcd-endpoints: where the etcd members "
			     "are");
	if (!etcd && (cfg->etcd_endpoints || cfg->etcd_ca_file || cfg->etcd_cert || cfg->etcd_key))
		return vfail(err, errlen, "config: etcd-* settings are for storage etcd");
	if (!cfg->etcd_cert != !cfg->etcd_key)
		return vfail(err, errlen, "config: etcd-cert and etcd-key go together");
	if (etcd && cfg->join)
		return vfail(err, errlen,
			     "config: storage etcd and join exclude each other: a server on etcd "
			     "reads the mesh from etcd (members join it with --join, without "
			     "--storage)");
	if (etcd && !cfg->bootstrap && !cfg->serve)
		return vfail(err, errlen,
			     "config: storage etcd needs --bootstrap (create or resume the mesh "
			     "in etcd) or --serve (serve the mesh that is there)");
	if (etcd && cfg->n_bootstrap_servers)
		return vfail(err, errlen,
			     "config: bootstrap-servers lists Raft voters: servers on etcd need "
			     "none (each one registers in etcd)");
	if (cfg->join_rendezvous && (cfg->join || cfg->bootstrap))
		return vfail(err, errlen,
			     "config: join-rendezvous excludes %s: it finds the server to join "
			     "itself",
			     cfg->join ? "join" : "bootstrap");
	/* The secret is all that keeps a stranger from posing as the mesh
	 * (rendezvous.h): too short is refused, as over-long input is. */
	const char *rdv[] = {cfg->announce_rendezvous, cfg->join_rendezvous};
	for (int i = 0; i < 2; i++)
		if (rdv[i] && (strlen(rdv[i]) < 16 || strlen(rdv[i]) > 256))
			return vfail(err, errlen,
				     "config: %s: the secret must have 16 to 256 characters",
				     i ? "join-rendezvous" : "announce-rendezvous");
	if (cfg->libp2p_max_held_per_connection < cfg->libp2p_max_held_per_stream)
		return vfail(err, errlen,
			     "config: libp2p-max-held-per-connection (%" PRIu32
			     ") is less than libp2p-max-held-per-stream (%" PRIu32
			     "): one stream could never use its share; raise it or lower the other",
			     cfg->libp2p_max_held_per_connection, cfg->libp2p_max_held_per_stream);
	/* What a connection holds back for the peer's window is queued to its
	 * socket once the window opens: more than the queue takes would
	 * disconnect a peer for reading at the pace yamux allows. */
	if (cfg->libp2p_max_write_queue < cfg->libp2p_max_held_per_connection)
		return vfail(err, errlen,
			     "config: libp2p-max-write-queue (%" PRIu32
			     ") is less than libp2p-max-held-per-connection (%" PRIu32
			     "): what a connection holds back could not be queued; raise it or "
			     "lower the other",
			     cfg->libp2p_max_write_queue, cfg->libp2p_max_held_per_connection);
	if (cfg->join_rendezvous && cfg->n_libp2p_peers == 0)
		return vfail(err, errlen,
			     "config: join-rendezvous needs --libp2p-peers MULTIADDR: the DHT is "
			     "searched from there");
	if (cfg->announce_rendezvous && cfg->n_libp2p_listen == 0)
		return vfail(err, errlen,
			     "config: announce-rendezvous needs --libp2p-listen MULTIADDR: joiners "
			     "reach this server there");
	if (!cfg->bootstrap && !cfg->join && !cfg->join_rendezvous && !etcd && !cfg->print_config)
		return vfail(err, errlen,
			     "config: nothing to do: pass --bootstrap to start a mesh or "
			     "--join HOST:PORT to join one");
	trust = (cfg->ca_file != NULL) + (cfg->join_fingerprint != NULL) +
		(cfg->insecure_skip_verify ? 1 : 0);
	if (trust > 1)
		return vfail(err, errlen,
			     "config: ca-file, join-fingerprint and insecure-skip-verify are "
			     "different ways to trust the server: give at most one");
	if (!cfg->tls_cert != !cfg->tls_key)
		return vfail(err, errlen, "config: %s is set without %s: give both or neither",
			     cfg->tls_cert ? "tls-cert" : "tls-key",
			     cfg->tls_cert ? "tls-key" : "tls-cert");
	if (cfg->voter && cfg->observer)
		return vfail(err, errlen,
			     "config: voter and observer exclude each other: a Raft member either "
			     "votes or observes");
	if ((cfg->voter || cfg->observer) && !cfg->join && !cfg->join_rendezvous)
		return vfail(err, errlen, "config: %s needs --join: it is how a node becomes one",
			     cfg->voter ? "voter" : "observer");
	if (cfg->n_bootstrap_servers && !cfg->bootstrap)
		return vfail(err, errlen, "config: bootstrap-servers needs --bootstrap");
	if (cfg->n_bootstrap_servers == 1)
		return vfail(err, errlen,
			     "config: bootstrap-servers lists one server: leave it out for a "
			     "single bootstrap node, or list every initial voter");
	if (cfg->remove_after_ms && cfg->remove_after_ms <= cfg->unreachable_after_ms)
		return vfail(err, errlen,
			     "config: remove-after-ms (%u) must be greater than "
			     "unreachable-after-ms (%u), or 0 to never remove",
			     cfg->remove_after_ms, cfg->unreachable_after_ms);
	if (cfg->mtls && !cfg->ca_file)
		return vfail(err, errlen,
			     "config: mtls needs ca-file: the CA that signs the client "
			     "certificates");
	if (cfg->mtls_identity_san && !cfg->mtls)
		return vfail(err, errlen, "config: mtls-identity-san is set without mtls");
	if (cfg->ldap_url && !cfg->ldap_base_dn)
		return vfail(err, errlen, "config: ldap-url needs ldap-base-dn");
	if (!cfg->ldap_bind_dn != !cfg->ldap_bind_password)
		return vfail(err, errlen,
			     "config: ldap-bind-dn and ldap-bind-password go together");
	if (cfg->ldap_starttls && cfg->ldap_url && strncmp(cfg->ldap_url, "ldaps://", 8) == 0)
		return vfail(err, errlen,
			     "config: ldap-starttls is for ldap:// URLs; ldaps:// is TLS already");
	if (!cfg->ldap_disabled_attr != !cfg->ldap_disabled_value)
		return vfail(err, errlen,
			     "config: ldap-disabled-attr and ldap-disabled-value go together");
	if (!cfg->turn_username != !cfg->turn_password)
		return vfail(err, errlen, "config: turn-username and turn-password go together");
	if (cfg->turn_username && !cfg->n_turn_servers)
		return vfail(err, errlen,
			     "config: turn-username is set without turn-servers: say which relay "
			     "the credentials are for");
	if (!cfg->basic_auth_user != !cfg->basic_auth_password)
		return vfail(err, errlen,
			     "config: basic-auth-user and basic-auth-password go together");
	if (cfg->topology && !cfg->bootstrap)
		return vfail(err, errlen,
			     "config: topology is chosen when the mesh is created: it needs "
			     "--bootstrap");
	if (cfg->wireguard_record &&
	    (!cfg->wireguard_backend || strcmp(cfg->wireguard_backend, "null") != 0))
		return vfail(err, errlen,
			     "config: wireguard-record needs wireguard-backend null (it records "
			     "what the null backend would configure)");
	if (cfg->use_exit_node && cfg->node_id && strcmp(cfg->use_exit_node, cfg->node_id) == 0)
		return vfail(err, errlen, "config: use-exit-node names this node itself");
	if (cfg->raft_election_ms <= cfg->raft_heartbeat_ms)
		return vfail(err, errlen,
			     "config: raft-election-ms (%u) must be greater than "
			     "raft-heartbeat-ms (%u)",
			     cfg->raft_election_ms, cfg->raft_heartbeat_ms);
	if (cfg->api_max_buffered < cfg->api_max_buffered_per_connection)
		return vfail(err, errlen,
			     "config: api-max-buffered (%u) must be at least "
			     "api-max-buffered-per-connection (%u)",
			     cfg->api_max_buffered, cfg->api_max_buffered_per_connection);
	if (cfg->api_listen) {
		struct wm_endpoint e;

		if (wm_endpoint_parse(cfg->api_listen, &e) == 0 && e.port == cfg->raft_port)
			return vfail(err, errlen,
				     "config: api-listen and raft-port both use TCP port %u: "
				     "pick different ports",
				     e.port);
	}
	return 0;
}

/* ---- output ---- */

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap + (size_t)n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
}

/* A YAML double-quoted scalar in plain ASCII: everything else is escaped, so
 * no character can be read back as a line break or lost. */
static void yaml_quote(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	bprintf(b, "\"");
	while (*p) {
		uint32_t cp;
		size_t n = utf8_decode(p, &cp);

		if (n == 0) {
			/* Not reachable for values that went through set_value. */
			cp = 0xfffd;
			n = 1;
		}
		p += n;
		if (cp == '"' || cp == '\\')
			bprintf(b, "\\%c", (char)cp);
		else if (cp >= 0x20 && cp < 0x7f)
			bprintf(b, "%c", (char)cp);
		else if (cp <= 0xffff)
			bprintf(b, "\\u%04x", (unsigned)cp);
		else
			bprintf(b, "\\U%08x", (unsigned)cp);
	}
	bprintf(b, "\"");
}

char *wm_config_to_yaml(const struct wm_config *cfg)
{
	return wm_config_to_yaml_keys(cfg, wm_cfg_keys);
}

char *wm_config_to_yaml_keys(const struct wm_config *cfg, const struct wm_cfg_key *keys)
{
	struct buf b = {0};

	b.cap = 1024;
	b.p = malloc(b.cap);
	if (!b.p)
		return NULL;
	b.p[0] = '\0';
	for (const struct wm_cfg_key *k = keys; k->name; k++) {
		const void *field = (const char *)cfg + k->offset;

		if (k->flags & WM_CFG_FLAG_ONLY)
			continue;
		bprintf(&b, "%s:", k->name);
		switch (k->type) {
		case WM_CFG_BOOL:
			bprintf(&b, " %s\n", *(const bool *)field ? "true" : "false");
			break;
		case WM_CFG_UINT: {
			uint64_t v;

			if (k->size == sizeof(uint16_t))
				v = *(const uint16_t *)field;
			else if (k->size == sizeof(uint32_t))
				v = *(const uint32_t *)field;
			else
				v = *(const uint64_t *)field;
			bprintf(&b, " %llu\n", (unsigned long long)v);
			break;
		}
		case WM_CFG_PREFIX: {
			char text[WM_PREFIX_STRLEN];

			if (wm_prefix_format(field, text, sizeof(text)) < 0)
				bprintf(&b, " null\n");
			else
				bprintf(&b, " \"%s\"\n", text);
			break;
		}
		case WM_CFG_STRING:
		case WM_CFG_ENUM: {
			const char *v = *(char *const *)field;

			if (!v)
				bprintf(&b, " null");
			else if (k->flags & WM_CFG_SECRET)
				bprintf(&b, " \"<redacted>\"");
			else {
				bprintf(&b, " ");
				yaml_quote(&b, v);
			}
			bprintf(&b, "\n");
			break;
		}
		case WM_CFG_LIST: {
			char *const *list = field;
			size_t n = *(const size_t *)((const char *)cfg + k->count_offset);

			if (n == 0)
				bprintf(&b, " []\n");
			else
				bprintf(&b, "\n");
			for (size_t i = 0; i < n; i++) {
				bprintf(&b, "  - ");
				if (k->flags & WM_CFG_SECRET)
					bprintf(&b, "\"<redacted>\"");
				else
					yaml_quote(&b, list[i]);
				bprintf(&b, "\n");
			}
			break;
		}
		}
	}
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
