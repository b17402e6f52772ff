/* Unit tests for src/core/config.c and src/node/config_load.c: keys, sources, precedence, errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/error.h"
#include "node/config_load.h"
#include "node/secrets.h"

static char tmpdir[256];

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/wm-test-config-XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return rmdir(tmpdir);
}

/* Writes text to a file of the test's directory; the caller unlinks it. */
static void write_file(const char *name, const char *text, char *path, size_t len)
{
	FILE *f;

	snprintf(path, len, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* Loads argv (NULL-terminated, without argv[0]) and env; returns the result. */
static int load(struct wm_config *cfg, const char *const *args, const char *const *env, char *err,
		size_t errlen)
{
	char *argv[32] = {"webmeshd"};
	int argc = 1;

	for (; args && *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return wm_config_load(cfg, argc, argv, (char **)env, err, errlen);
}

static void test_table(void **state)
{
	static const char *const names[] = {
		"node-id",
		"state-dir",
		"bootstrap",
		"ipv4-network",
		"domain",
		"join",
		"join-fingerprint",
		"ephemeral",
		"ca-file",
		"tls-cert",
		"tls-key",
		"server-name",
		"insecure-skip-verify",
		"api-listen",
		"socket",
		"socket-group",
		"interface",
		"mtu",
		"wireguard-port",
		"wireguard-backend",
		"wireguard-go",
		"wireguard-workers",
		"persistent-keepalive",
		"endpoints",
		"raft-port",
		"raft-heartbeat-ms",
		"raft-election-ms",
		"voter",
		"observer",
		"serve",
		"bootstrap-servers",
		"heartbeat-interval-ms",
		"api-keepalive-ms",
		"api-keepalive-timeout-ms",
		"unreachable-after-ms",
		"remove-after-ms",
		"liveness-max-nodes",
		"raft-snapshot-threshold",
		"raft-snapshot-trailing",
		"mtls",
		"mtls-identity-san",
		"basic-auth-file",
		"ldap-url",
		"ldap-bind-dn",
		"ldap-bind-password",
		"ldap-base-dn",
		"ldap-user-filter-attr",
		"ldap-user-filter",
		"ldap-id-attr",
		"ldap-disabled-attr",
		"ldap-disabled-value",
		"ldap-ca-file",
		"ldap-starttls",
		"ldap-timeout-seconds",
		"key-auth-keys-file",
		"key-auth-skew-seconds",
		"basic-auth-user",
		"basic-auth-password",
		"key-auth-private-key-file",
		"bootstrap-admin",
		"bootstrap-voters",
		"default-network-policy",
		"topology",
		"zone-awareness-id",
		"routes",
		"use-exit-node",
		"wireguard-record",
		"stun-servers",
		"turn-servers",
		"turn-username",
		"turn-password",
		"turn-secret",
		"turn-credential-ttl",
		"ice-handshake-timeout",
		"endpoint-refresh",
		"libp2p-listen",
		"libp2p-peers",
		"libp2p-ping-interval",
		"libp2p-max-connections",
		"libp2p-max-streams",
		"libp2p-handshake-timeout",
		"libp2p-max-write-queue",
		"libp2p-max-held-per-stream",
		"libp2p-max-held-per-connection",
		"libp2p-relay",
		"libp2p-relay-max-reservations",
		"libp2p-relay-max-reservations-per-source",
		"libp2p-relay-reservation-ttl",
		"libp2p-relay-reservation-bytes",
		"libp2p-relay-max-circuits",
		"libp2p-relay-max-circuits-per-peer",
		"libp2p-relay-circuit-duration",
		"libp2p-relay-circuit-bytes",
		"libp2p-dht-max-providers",
		"libp2p-dht-providers-per-key",
		"libp2p-dht-provider-ttl",
		"libp2p-dht-requests-per-second",
		"libp2p-dht-requests-per-stream",
		"libp2p-dht-max-requests",
		"libp2p-dht-max-lookups",
		"libp2p-dht-query-timeout",
		"libp2p-dht-lookup-timeout",
		"libp2p-rendezvous-max-pipes",
		"libp2p-rendezvous-handshake-timeout",
		"libp2p-rendezvous-handshakes-per-peer",
		"announce-rendezvous",
		"join-rendezvous",
		"announce-rendezvous-file",
		"join-rendezvous-file",
		"api-max-connections",
		"api-max-connections-per-source",
		"api-max-streams",
		"api-max-buffered-per-connection",
		"api-max-buffered",
		"api-handshake-timeout",
		"api-idle-timeout",
		"auth-max-pending",
		"auth-max-pending-per-source",
		"auth-backoff-max-ms",
		"signaling-max-messages",
		"signaling-max-bytes",
		"meshdns-listen",
		"meshdns-forwarders",
		"meshdns-forward-public",
		"use-meshdns",
		"meshdns-server",
		"http-listen",
		"http-allowed-hosts",
		"console-dir",
		"log-level",
		"ldap-bind-password-file",
		"basic-auth-password-file",
		"turn-password-file",
		"turn-secret-file",
		"plugin",
		"plugin-config",
		"storage",
		"etcd-endpoints",
		"etcd-ca-file",
		"etcd-cert",
		"etcd-key",
		"config",
		"print-config",
		"help",
		"version",
	};
	size_t i = 0;
	char env[64];

	(void)state;
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++, i++) {
		assert_true(i < sizeof(names) / sizeof(names[0]));
		assert_string_equal(k->name, names[i]);
		assert_ptr_equal(wm_cfg_find(k->name), k);
		assert_non_null(k->help);
		if (k->type == WM_CFG_UINT)
			assert_true(k->size == 2 || k->size == 4);
		if (k->type == WM_CFG_ENUM)
			assert_non_null(k->choices);
		if (k->type == WM_CFG_LIST)
			assert_true(k->count_offset != 0);
		if (k->type != WM_CFG_BOOL && k->type != WM_CFG_ENUM)
			assert_non_null(k->arg);
		bool flag_only = (k->flags & WM_CFG_FLAG_ONLY) != 0;
		assert_int_equal(flag_only, strcmp(k->name, "config") == 0 ||
						    strcmp(k->name, "print-config") == 0 ||
						    strcmp(k->name, "help") == 0 ||
						    strcmp(k->name, "version") == 0);
		/* Only the passwords and the rendezvous secrets are secret
		 * (masked by --print-config). */
		assert_int_equal((k->flags & WM_CFG_SECRET) != 0,
				 strcmp(k->name, "ldap-bind-password") == 0 ||
					 strcmp(k->name, "basic-auth-password") == 0 ||
					 strcmp(k->name, "turn-password") == 0 ||
					 strcmp(k->name, "turn-secret") == 0 ||
					 strcmp(k->name, "announce-rendezvous") == 0 ||
					 strcmp(k->name, "join-rendezvous") == 0);
	}
	assert_int_equal(i, sizeof(names) / sizeof(names[0]));
	assert_null(wm_cfg_find("nope"));
	assert_null(wm_cfg_find(NULL));
	wm_cfg_env_name("wireguard-port", env, sizeof(env));
	assert_string_equal(env, "WEBMESH_WIREGUARD_PORT");
	wm_cfg_env_name("raft-heartbeat-ms", env, 12);
	assert_string_equal(env, "WEBMESH_RAF");
}

static void test_defaults(void **state)
{
	struct wm_config c;
	char buf[WM_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(wm_config_init(&c), 0);
	assert_null(c.node_id);
	assert_string_equal(c.state_dir, "/var/lib/webmesh");
	assert_false(c.bootstrap);
	wm_prefix_format(&c.ipv4_network, buf, sizeof(buf));
	assert_string_equal(buf, "172.16.0.0/12");
	assert_string_equal(c.domain, "webmesh.internal");
	assert_null(c.join);
	assert_null(c.join_fingerprint);
	assert_false(c.ephemeral);
	assert_null(c.ca_file);
	assert_null(c.tls_cert);
	assert_null(c.tls_key);
	assert_null(c.server_name);
	assert_false(c.insecure_skip_verify);
	assert_string_equal(c.api_listen, "[::]:8443");
	assert_string_equal(c.socket, "/run/webmesh/webmesh.sock");
	assert_string_equal(c.interface, "webmesh0");
	assert_int_equal(c.mtu, 1420);
	assert_int_equal(c.wireguard_port, 51820);
	assert_string_equal(c.wireguard_backend, "auto");
	assert_string_equal(c.wireguard_go, "wireguard-go");
	assert_int_equal(c.persistent_keepalive, 0);
	assert_int_equal(c.n_endpoints, 0);
	assert_int_equal(c.raft_port, 9000);
	assert_int_equal(c.raft_heartbeat_ms, 100);
	assert_int_equal(c.raft_election_ms, 1000);
	assert_string_equal(c.log_level, "info");
	assert_int_equal(c.api_max_connections, 512);
	assert_int_equal(c.api_max_connections_per_source, 32);
	assert_int_equal(c.api_max_streams, 100);
	assert_int_equal(c.api_max_buffered_per_connection, 10 * 1024 * 1024);
	assert_int_equal(c.api_max_buffered, 32 * 1024 * 1024);
	assert_int_equal(c.api_handshake_timeout, 10);
	assert_int_equal(c.api_idle_timeout, 300);
	assert_int_equal(c.auth_max_pending, 256);
	assert_int_equal(c.auth_max_pending_per_source, 4);
	assert_int_equal(c.auth_backoff_max_ms, 10000);
	assert_int_equal(c.signaling_max_messages, 4096);
	assert_int_equal(c.signaling_max_bytes, 4 * 1024 * 1024);
	assert_null(c.config_file);
	assert_false(c.print_config || c.help || c.version);
	wm_config_free(&c);
	wm_config_free(&c); /* idempotent */
	wm_config_free(NULL);
}

static void test_precedence(void **state)
{
	struct wm_config c;
	char path[512], path2[512], err[512], envcfg[600];

	(void)state;
	write_file("a.yaml",
		   "# a comment\n"
		   "mtu: 1300\n"
		   "log-level: debug\n"
		   "raft-port: 9100\n"
		   "domain: file.example\n"
		   "bootstrap: yes\n",
		   path, sizeof(path));
	write_file("b.yaml", "mtu: 1500\nwireguard-port: 1234\n", path2, sizeof(path2));

	/* file < env < flag, per key */
	const char *env[] = {"PATH=/bin", "WEBMESH_MTU=1350", "WEBMESH_LOG_LEVEL=warn", NULL};
	const char *args[] = {"--config", path, "--mtu", "1400", NULL};
	assert_int_equal(load(&c, args, env, err, sizeof(err)), 0);
	assert_int_equal(c.mtu, 1400);
	assert_string_equal(c.log_level, "warn");
	assert_int_equal(c.raft_port, 9100);
	assert_string_equal(c.domain, "file.example");
	assert_true(c.bootstrap);
	assert_int_equal(c.wireguard_port, 51820);
	assert_string_equal(c.config_file, path);
	wm_config_free(&c);

	/* the file from WEBMESH_CONFIG; --config overrides it */
	snprintf(envcfg, sizeof(envcfg), "WEBMESH_CONFIG=%s", path2);
	const char *env2[] = {envcfg, NULL};
	assert_int_equal(load(&c, NULL, env2, err, sizeof(err)), 0);
	assert_int_equal(c.mtu, 1500);
	assert_int_equal(c.wireguard_port, 1234);
	assert_string_equal(c.config_file, path2);
	wm_config_free(&c);
	const char *args2[] = {"--config=" /* joined below */, NULL};
	char joined[600];
	snprintf(joined, sizeof(joined), "--config=%s", path);
	args2[0] = joined;
	assert_int_equal(load(&c, args2, env2, err, sizeof(err)), 0);
	assert_int_equal(c.mtu, 1300);
	assert_int_equal(c.wireguard_port, 51820);
	wm_config_free(&c);

	/* a missing file is an error naming it */
	const char *args3[] = {"--config", "/nonexistent/wm.yaml", NULL};
	assert_int_equal(load(&c, args3, NULL, err, sizeof(err)), -WM_ECONFIG);
	assert_contains(err, "/nonexistent/wm.yaml");
	wm_config_free(&c);

	/* a later flag wins over an earlier one; env without file */
	const char *args4[] = {"--mtu=1300",  "--mtu",		"1301",
			       "--bootstrap", "--no-bootstrap", NULL};
	const char *env4[] = {"WEBMESH_BOOTSTRAP=true", "WEBMESH_RAFT_PORT=9555", NULL};
	assert_int_equal(load(&c, args4, env4, err, sizeof(err)), 0);
	assert_int_equal(c.mtu, 1301);
	assert_false(c.bootstrap);
	assert_int_equal(c.raft_port, 9555);
	wm_config_free(&c);

	unlink(path);
	unlink(path2);
}

struct set_case {
	const char *key, *value;
	const char *why; /* NULL: accepted */
};

static void test_set_values(void **state)
{
	static const struct set_case cases[] = {
		{"mtu", "99999", "is out of range 1280..9000"},
		{"mtu", "1279", "is out of range 1280..9000"},
		{"mtu", "1280", NULL},
		{"mtu", "9000", NULL},
		{"mtu", "abc", "is not a number"},
		{"mtu", "-1", "is not a number"},
		{"mtu", "+1400", "is not a number"},
		{"mtu", "01400", "no leading zero"},
		{"mtu", "1400 ", "is not a number"},
		{"mtu", "", "is empty"},
		{"mtu", "99999999999999999999999", "is not a number"},
		{"wireguard-port", "0", "is out of range 1..65535"},
		{"wireguard-port", "65536", "is out of range"},
		{"wireguard-port", "65535", NULL},
		{"persistent-keepalive", "0", NULL},
		{"persistent-keepalive", "65536", "out of range 0..65535"},
		{"raft-heartbeat-ms", "9", "out of range 10..10000"},
		{"raft-election-ms", "60001", "out of range 100..60000"},
		{"bootstrap", "maybe", "is not a boolean"},
		{"bootstrap", "", "is empty"},
		{"ephemeral", "On", NULL},
		{"wireguard-backend", "kernel", NULL},
		{"wireguard-backend", "Kernel", "is not one of auto, kernel, userspace, null"},
		{"log-level", "trace", "is not one of debug, info, warn, error"},
		{"ipv4-network", "10.0.0.0/8", NULL},
		{"ipv4-network", "10.0.0.1/8", "host bits"},
		{"ipv4-network", "fd00::/8", "is not an IPv4 network"},
		{"ipv4-network", "10.0.0.0", "is not an IPv4 network"},
		{"ipv4-network", "10.0.0.0/31", "/8 to /30"},
		{"ipv4-network", "0.0.0.0/0", "/8 to /30"},
		{"node-id", "Web1", "is not a valid node ID: it has upper-case"},
		{"node-id", "localhost", "reserved"},
		{"node-id", "web-1", NULL},
		{"domain", "mesh.example", NULL},
		{"domain", "Mesh.example", "is not a domain name"},
		{"domain", "a..b", "is not a domain name"},
		{"domain", "-a.b", "is not a domain name"},
		{"join", "10.0.0.1:8443", NULL},
		{"join", "server.example:8443", NULL},
		{"join", "[fd00::1]:8443", NULL},
		{"join", "server.example", "is not HOST:PORT"},
		{"join", "server.example:0", "is not HOST:PORT"},
		{"join", "server.example:65536", "is not HOST:PORT"},
		{"join", "fd00::1:8443", "is not HOST:PORT"},
		{"join", "[fd00::1/64]:8443", "is not HOST:PORT"},
		{"join", "bad_host:8443", "is not HOST:PORT"},
		{"join-fingerprint",
		 "sha256:0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef", NULL},
		{"join-fingerprint", "sha256:0123", "sha256: followed by 64 hex digits"},
		{"join-fingerprint",
		 "md5:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		 "is not a certificate fingerprint"},
		{"join-fingerprint",
		 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
		 "is not a certificate fingerprint"},
		{"interface", "wm_0.a-b", NULL},
		{"interface", "abcdefghijklmnop", "longer than 15"},
		{"interface", "a/b", "may only contain"},
		{"interface", "a b", "may only contain"},
		{"interface", "..", "is not an interface name"},
		{"api-listen", "[::]:8443", NULL},
		{"api-listen", "localhost:8443", "is not IP:PORT"},
		/* IPv6 underlays: [v6]:port in every flag that takes an address,
		 * and a bare or broken one refused by name */
		{"api-listen", "[fd77::1]:8443", NULL},
		{"api-listen", "::8443", "is not IP:PORT"},
		{"api-listen", "[::]8443", "is not IP:PORT"},
		{"join", "[fd77::1]:8443", NULL},
		{"join", "[fd77::1:8443", "is not HOST:PORT"},
		{"meshdns-listen", "[fd00::1]:53", NULL},
		{"meshdns-listen", "fd00::1:53", "is not IP:PORT"},
		{"meshdns-forwarders", "[2001:db8::53]:53,192.0.2.53:53", NULL},
		{"meshdns-forwarders", "[2001:db8::53:53", "is not IP:PORT"},
		{"stun-servers", "stun:[fd77::1]:3478,stun:192.0.2.1", NULL},
		{"stun-servers", "stun:fd77::1:3478", "without brackets"},
		{"turn-servers", "turn:[fd77::1]:3478", NULL},
		{"turn-servers", "turn:[fd77::1", "unterminated"},
		{"server-name", "node1.mesh.example", NULL},
		{"server-name", "10.1.2.3", NULL},
		{"server-name", "bad name", "is not a host name or IP address"},
		{"endpoints", "1.2.3.4:51820", NULL},
		{"endpoints", "1.2.3.4:51820, [fd00::1]:51820", NULL},
		{"endpoints", "1.2.3.4", "is not IP:PORT"},
		{"endpoints", "1.2.3.4:1,,2.3.4.5:1", "has an empty item"},
		{"endpoints",
		 "1.1.1.1:1,1.1.1.1:2,1.1.1.1:3,1.1.1.1:4,1.1.1.1:5,1.1.1.1:6,1.1.1.1:7,1.1.1.1:8,"
		 "1.1.1.1:9,1.1.1.1:10,1.1.1.1:11,1.1.1.1:12,1.1.1.1:13,1.1.1.1:14,1.1.1.1:15,"
		 "1.1.1.1:16,1.1.1.1:17",
		 "has more than 16 items"},
		{"state-dir", "", "is empty"},
		{"socket",
		 "/run/"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaa.sock",
		 "longer than a unix socket path"},
		{"socket-group", "webmesh", NULL},
		{"socket-group", "_wm-1", NULL},
		{"socket-group", "Webmesh", "must be a group name"},
		{"socket-group", "1abc", "must be a group name"},
		{"socket-group", "web mesh", "must be a group name"},
		{"socket-group", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "must be a group name"},
	};
	char err[512], shown[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct set_case *t = &cases[i];
		const struct wm_cfg_key *k = wm_cfg_find(t->key);
		struct wm_config c;
		int r;

		assert_non_null(k);
		assert_int_equal(wm_config_init(&c), 0);
		err[0] = '\0';
		r = wm_config_set(&c, k, t->value, "--test", err, sizeof(err));
		if (!t->why) {
			if (r != 0)
				fail_msg("%s=%s refused: %s", t->key, t->value, err);
		} else {
			if (r != -WM_ECONFIG)
				fail_msg("%s=%s accepted", t->key, t->value);
			/* The error names the key, the value, the source and the rule. */
			snprintf(shown, sizeof(shown), "config: %s: \"%.20s", t->key, t->value);
			assert_contains(err, shown);
			assert_contains(err, "from --test");
			assert_contains(err, t->why);
		}
		wm_config_free(&c);
	}
}

static void test_set_effects(void **state)
{
	static const char *const yes[] = {"true", "yes", "1", "on", "TRUE", "Yes", NULL};
	static const char *const no[] = {"false", "no", "0", "off", "False", "OFF", NULL};
	const struct wm_cfg_key *bk = wm_cfg_find("bootstrap");
	const struct wm_cfg_key *ek = wm_cfg_find("endpoints");
	struct wm_config c;
	char err[512];

	(void)state;
	assert_int_equal(wm_config_init(&c), 0);
	for (size_t i = 0; yes[i]; i++) {
		c.bootstrap = false;
		assert_int_equal(wm_config_set(&c, bk, yes[i], "t", err, sizeof(err)), 0);
		assert_true(c.bootstrap);
	}
	for (size_t i = 0; no[i]; i++) {
		c.bootstrap = true;
		assert_int_equal(wm_config_set(&c, bk, no[i], "t", err, sizeof(err)), 0);
		assert_false(c.bootstrap);
	}
	assert_int_equal(
		wm_config_set(&c, wm_cfg_find("wireguard-port"), "65535", "t", err, sizeof(err)),
		0);
	assert_int_equal(c.wireguard_port, 65535);
	assert_int_equal(
		wm_config_set(&c, wm_cfg_find("raft-election-ms"), "60000", "t", err, sizeof(err)),
		0);
	assert_int_equal(c.raft_election_ms, 60000);

	/* set replaces a list, append adds; a bad list leaves the old one. */
	assert_int_equal(wm_config_set(&c, ek, " 1.2.3.4:1 ,[::1]:2", "t", err, sizeof(err)), 0);
	assert_int_equal(c.n_endpoints, 2);
	assert_string_equal(c.endpoints[0], "1.2.3.4:1");
	assert_string_equal(c.endpoints[1], "[::1]:2");
	assert_int_equal(wm_config_append(&c, ek, "5.6.7.8:3", "t", err, sizeof(err)), 0);
	assert_int_equal(c.n_endpoints, 3);
	assert_int_equal(wm_config_set(&c, ek, "9.9.9.9:9,bad", "t", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_contains(err, "\"bad\"");
	assert_int_equal(c.n_endpoints, 3);
	assert_int_equal(wm_config_set(&c, ek, "", "t", err, sizeof(err)), 0);
	assert_int_equal(c.n_endpoints, 0);

	/* reset goes back to the default or to unset */
	assert_int_equal(wm_config_set(&c, wm_cfg_find("mtu"), "1500", "t", err, sizeof(err)), 0);
	wm_config_reset(&c, wm_cfg_find("mtu"));
	assert_int_equal(c.mtu, 1420);
	assert_int_equal(wm_config_set(&c, wm_cfg_find("join"), "a:1", "t", err, sizeof(err)), 0);
	wm_config_reset(&c, wm_cfg_find("join"));
	assert_null(c.join);

	/* no source: the error still reads well */
	assert_int_equal(wm_config_set(&c, wm_cfg_find("mtu"), "1", NULL, err, sizeof(err)),
			 -WM_ECONFIG);
	assert_string_equal(err, "config: mtu: \"1\" is out of range 1280..9000");
	/* values are escaped and cut in errors */
	assert_int_equal(
		wm_config_set(&c, wm_cfg_find("log-level"), "a\nb\"c", "t", err, sizeof(err)),
		-WM_ECONFIG);
	assert_contains(err, "\"a\\x0ab\\\"c\"");
	/* control characters and broken UTF-8 are refused in any value */
	static const char *const garbled[] = {"/a\tb",
					      "/a\xff"
					      "b",
					      "/a\xc2\x85"
					      "b",
					      "/a\xe2\x80\xa8",
					      "/a\xc0\xaf"
					      "b",
					      "/a\x7f",
					      NULL};
	for (size_t i = 0; garbled[i]; i++) {
		assert_int_equal(wm_config_set(&c, wm_cfg_find("state-dir"), garbled[i], "t", err,
					       sizeof(err)),
				 -WM_ECONFIG);
		assert_contains(err, "contains a control character or is not UTF-8");
	}
	assert_int_equal(wm_config_set(&c, ek, "1.2.3.4:1,\x01", "t", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_contains(err, "\"\\x01\" from t contains a control character");
	assert_int_equal(wm_config_set(&c, wm_cfg_find("state-dir"),
				       "/v\xc3\xa9"
				       "r",
				       "t", err, sizeof(err)),
			 0);
	/* a tiny buffer is not overrun */
	char small[8];
	assert_int_equal(wm_config_set(&c, wm_cfg_find("mtu"), "1", NULL, small, sizeof(small)),
			 -WM_ECONFIG);
	assert_int_equal(strlen(small), 7);
	wm_config_free(&c);
}

static void test_flag_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *want;
	} cases[] = {
		{{"--bogus"}, "unknown flag --bogus"},
		{{"--mtu"}, "--mtu needs a value"},
		{{"--mtu=99999"}, "config: mtu: \"99999\" from --mtu is out of range 1280..9000"},
		{{"--mtu", "1"}, "from --mtu is out of range"},
		{{"--no-mtu"}, "unknown flag --no-mtu"},
		{{"--no-bootstrap=yes"}, "--no-bootstrap takes no value"},
		{{"--bootstrap=maybe"},
		 "config: bootstrap: \"maybe\" from --bootstrap is not a boolean"},
		{{"stray"}, "unexpected argument \"stray\""},
		{{"-x"}, "unexpected argument \"-x\""},
		{{"--"}, "unexpected argument \"--\""},
		{{"--node-id", "Bad"}, "config: node-id: \"Bad\" from --node-id"},
		{{"--bootstrap-admin", "node:Bad"}, "node:ID needs a valid node ID"},
		{{"--bootstrap-admin", "user:"}, "user:NAME needs a name"},
		{{"--bootstrap-admin", "group:ops"},
		 "may only contain A-Z, a-z, 0-9 and . _ @ + -"},
		/* config took it, the FSM's RBAC subject rule refused it */
		{{"--bootstrap-admin", "bob!"}, "is not a user name for RBAC"},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_config c;

		assert_int_equal(load(&c, cases[i].args, NULL, err, sizeof(err)), -WM_ECONFIG);
		assert_contains(err, cases[i].want);
		wm_config_free(&c);
	}
}

static void test_flag_forms(void **state)
{
	struct wm_config c;
	char err[512];

	(void)state;
	const char *args[] = {"--join",
			      "a.example:8443",
			      "--ephemeral",
			      "--insecure-skip-verify=false",
			      "--endpoints",
			      "1.1.1.1:1",
			      "--endpoints=2.2.2.2:2,3.3.3.3:3",
			      NULL};
	const char *env[] = {"WEBMESH_ENDPOINTS=9.9.9.9:9", NULL};
	assert_int_equal(load(&c, args, env, err, sizeof(err)), 0);
	assert_string_equal(c.join, "a.example:8443");
	assert_true(c.ephemeral);
	assert_false(c.insecure_skip_verify);
	/* flags replace the env's list, then repeated flags append */
	assert_int_equal(c.n_endpoints, 3);
	assert_string_equal(c.endpoints[0], "1.1.1.1:1");
	assert_string_equal(c.endpoints[2], "3.3.3.3:3");
	wm_config_free(&c);

	/* -h and --help skip the file and env, so a broken one does not hide help */
	const char *h[] = {"-h", "--config", "/nonexistent", NULL};
	const char *badenv[] = {"WEBMESH_NOPE=1", NULL};
	assert_int_equal(load(&c, h, badenv, err, sizeof(err)), 0);
	assert_true(c.help);
	wm_config_free(&c);
	const char *v[] = {"--version", NULL};
	assert_int_equal(load(&c, v, badenv, err, sizeof(err)), 0);
	assert_true(c.version);
	wm_config_free(&c);
	/* ... but a bad flag is still reported */
	const char *hb[] = {"--help", "--bogus", NULL};
	assert_int_equal(load(&c, hb, NULL, err, sizeof(err)), -WM_ECONFIG);
	wm_config_free(&c);
	/* a value that looks like --help is a value */
	const char *hv[] = {"--node-id", "--help", NULL};
	assert_int_equal(load(&c, hv, NULL, err, sizeof(err)), -WM_ECONFIG);
	assert_false(c.help);
	assert_contains(err, "node-id: \"--help\"");
	wm_config_free(&c);
	const char *pc[] = {"--print-config", NULL};
	assert_int_equal(load(&c, pc, NULL, err, sizeof(err)), 0);
	assert_true(c.print_config);
	wm_config_free(&c);
}

static void test_env(void **state)
{
	struct wm_config c;
	char err[512];

	(void)state;
	const char *typo[] = {"HOME=/root", "WEBMESH_MTUU=1400", NULL};
	assert_int_equal(load(&c, NULL, typo, err, sizeof(err)), -WM_ECONFIG);
	assert_contains(err, "unknown environment variable WEBMESH_MTUU");
	wm_config_free(&c);

	const char *flagonly[] = {"WEBMESH_PRINT_CONFIG=1", NULL};
	assert_int_equal(load(&c, NULL, flagonly, err, sizeof(err)), -WM_ECONFIG);
	assert_contains(err, "WEBMESH_PRINT_CONFIG");
	assert_contains(err, "command line");
	wm_config_free(&c);

	const char *bad[] = {"WEBMESH_WIREGUARD_PORT=0", NULL};
	assert_int_equal(load(&c, NULL, bad, err, sizeof(err)), -WM_ECONFIG);
	assert_string_equal(err, "config: wireguard-port: \"0\" from WEBMESH_WIREGUARD_PORT is out "
				 "of range 1..65535");
	wm_config_free(&c);

	/* other variables and lower-case names are not ours */
	const char *ok[] = {"webmesh_mtu=1", "WEBMESHX=1", "WEBMESH_INTERFACE=wg7",
			    "WEBMESH_NOVALUE", NULL};
	assert_int_equal(load(&c, NULL, ok, err, sizeof(err)), 0);
	assert_string_equal(c.interface, "wg7");
	wm_config_free(&c);
}

struct yaml_case {
	const char *name;
	const char *text;
	const char *want; /* NULL: loads */
};

static void test_yaml(void **state)
{
	static const struct yaml_case cases[] = {
		{"empty file", "", NULL},
		{"only a comment", "# nothing\n", NULL},
		{"empty document", "---\n...\n", NULL},
		{"unknown key", "mtu: 1400\nmtuu: 1400\n", "cfg.yaml:2: unknown key \"mtuu\""},
		{"flag-only key", "help: true\n",
		 "cfg.yaml:1: \"help\" can only be given on the command line"},
		{"config key", "config: /etc/x\n", "\"config\" can only be given"},
		{"bad value", "\n\nmtu: 99999\n",
		 "config: mtu: \"99999\" from cfg.yaml:3 is out of range 1280..9000"},
		{"list for a scalar", "mtu:\n  - 1400\n",
		 "cfg.yaml:2: mtu: expected a single value, not a list"},
		{"mapping for a scalar", "domain: {a: b}\n",
		 "domain: expected a single value, not a mapping"},
		{"mapping for a list", "endpoints: {a: b}\n",
		 "endpoints: expected a single value, not a mapping"},
		{"nested list item", "endpoints:\n  - [1.2.3.4:1]\n",
		 "list items must be single values, not a list"},
		{"top level list", "- mtu\n",
		 "cfg.yaml:1: expected a mapping of \"key: value\" lines, not a list"},
		{"top level scalar", "mtu\n", "not a single value"},
		{"complex key", "? [a]\n: b\n", "a key must be a name, not a list"},
		{"syntax error", "mtu: 1400\n  bad: [\n", "cfg.yaml:"},
		{"tab indentation", "mtu:\t1400\n\tdomain: x\n", "not valid YAML"},
		{"duplicate key", "mtu: 1400\nmtu: 1500\n", "cfg.yaml:2: \"mtu\" is given twice"},
		{"alias", "domain: &d mesh.example\nserver-name: *d\n", "not an alias"},
		{"two documents", "mtu: 1400\n---\nmtu: 1500\n", "only one YAML document"},
		{"empty list item", "endpoints:\n  - 1.2.3.4:1\n  -\n", "empty list item"},
		{"comma in a list item", "endpoints:\n  - 1.2.3.4:1,2.2.2.2:2\n", "contains ','"},
		{"bad list item", "endpoints:\n  - 1.2.3.4:1\n  - nope\n",
		 "config: endpoints: \"nope\" from cfg.yaml:3 is not IP:PORT"},
		{"bad key bytes", "\"a\\x01b\": 1\n", "unknown key \"a\\x01b\""},
		{"NUL in a value", "domain: \"a\\0b\"\n", "NUL byte"},
		{"NUL in a key", "\"mtu\\0x\": 1400\n", "unknown key"},
		{"quoted values", "domain: \"mesh.example\"\nmtu: '1400'\n", NULL},
		{"null values", "node-id: ~\ndomain: null\nendpoints:\njoin: \"a:1\"\n", NULL},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct yaml_case *t = &cases[i];
		struct wm_config c;
		size_t len = strlen(t->text);
		int r;

		/* NUL tests carry the NUL as an escape in YAML, not in the buffer. */
		assert_int_equal(wm_config_init(&c), 0);
		err[0] = '\0';
		r = wm_config_load_yaml(&c, t->text, len, "cfg.yaml", err, sizeof(err));
		if (!t->want) {
			if (r != 0)
				fail_msg("%s: refused: %s", t->name, err);
		} else {
			if (r != -WM_ECONFIG)
				fail_msg("%s: returned %d", t->name, r);
			if (!strstr(err, t->want))
				fail_msg("%s: \"%s\" lacks \"%s\"", t->name, err, t->want);
		}
		wm_config_free(&c);
	}
}

/* plugins: (issue 12): the YAML section becomes plugin and plugin-config
 * items, checked as the flags are. */
static void test_yaml_plugins(void **state)
{
	struct wm_config c;
	char err[512];
	const char *ok = "plugins:\n  ipam1:\n    path: /opt/p/ipam.so\n    config:\n"
			 "      table: /etc/t\n      auth-timeout-ms: 100\n  w:\n"
			 "    path: /opt/p/w.so\n";
	(void)state;
	assert_int_equal(wm_config_init(&c), 0);
	if (wm_config_load_yaml(&c, ok, strlen(ok), "f", err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(c.n_plugins, 2);
	assert_string_equal(c.plugins[0], "ipam1=/opt/p/ipam.so");
	assert_string_equal(c.plugins[1], "w=/opt/p/w.so");
	assert_int_equal(c.n_plugin_configs, 2);
	assert_string_equal(c.plugin_configs[0], "ipam1.table=/etc/t");
	assert_string_equal(c.plugin_configs[1], "ipam1.auth-timeout-ms=100");
	wm_config_free(&c);

	const struct {
		const char *yaml, *want;
	} bad[] = {
		{"plugins:\n  x:\n    config:\n      a: b\n", "plugins: x has no path:"},
		{"plugins:\n  x:\n    path: rel.so\n", "the path must be absolute"},
		{"plugins:\n  Bad_Name:\n    path: /a.so\n", "NAME must be a lower-case DNS label"},
		{"plugins:\n  x:\n    path: /a.so\n    paht: /b\n", "unknown key \"paht\""},
		{"plugins:\n  x:\n    path: /a.so\n    config:\n      K: v\n",
		 "KEY may hold a-z, 0-9"},
		{"plugins:\n  x: /a.so\n", "expected a mapping with path: and config:"},
		{"plugins: [a]\n", "expected a mapping of NAME"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(wm_config_init(&c), 0);
		err[0] = '\0';
		assert_true(wm_config_load_yaml(&c, bad[i].yaml, strlen(bad[i].yaml), "f", err,
						sizeof(err)) < 0);
		assert_contains(err, bad[i].want);
		wm_config_free(&c);
	}
	/* the flag form */
	assert_int_equal(wm_config_init(&c), 0);
	assert_int_equal(wm_config_append(&c, wm_cfg_find("plugin"), "a=/x.so,b=/y.so", "flag", err,
					  sizeof(err)),
			 0);
	assert_int_equal(c.n_plugins, 2);
	assert_true(wm_config_append(&c, wm_cfg_find("plugin-config"), "a.k", "flag", err,
				     sizeof(err)) < 0);
	assert_contains(err, "NAME.KEY=VALUE");
	wm_config_free(&c);
}

static void test_yaml_lists_and_nulls(void **state)
{
	struct wm_config c;
	char err[512];
	const char *seq = "endpoints:\n  - 1.2.3.4:1\n  - \"[fd00::1]:2\"\n";
	const char *flow = "endpoints: [1.2.3.4:1, \"[fd00::1]:2\"]\n";
	const char *str = "endpoints: 1.2.3.4:1, [fd00::1]:2\n";
	const char *texts[] = {seq, flow, str};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(wm_config_init(&c), 0);
		assert_int_equal(wm_config_set(&c, wm_cfg_find("endpoints"), "9.9.9.9:9", "t", err,
					       sizeof(err)),
				 0);
		if (wm_config_load_yaml(&c, texts[i], strlen(texts[i]), "f", err, sizeof(err)))
			fail_msg("%s: %s", texts[i], err);
		assert_int_equal(c.n_endpoints, 2);
		assert_string_equal(c.endpoints[0], "1.2.3.4:1");
		assert_string_equal(c.endpoints[1], "[fd00::1]:2");
		wm_config_free(&c);
	}

	/* null puts keys back to their defaults */
	const char *nulls = "mtu: ~\nendpoints: null\njoin:\nlog-level: \"debug\"\n";
	assert_int_equal(wm_config_init(&c), 0);
	wm_config_set(&c, wm_cfg_find("mtu"), "1500", "t", err, sizeof(err));
	wm_config_set(&c, wm_cfg_find("endpoints"), "1.1.1.1:1", "t", err, sizeof(err));
	wm_config_set(&c, wm_cfg_find("join"), "a:1", "t", err, sizeof(err));
	assert_int_equal(wm_config_load_yaml(&c, nulls, strlen(nulls), "f", err, sizeof(err)), 0);
	assert_int_equal(c.mtu, 1420);
	assert_int_equal(c.n_endpoints, 0);
	assert_null(c.join);
	assert_string_equal(c.log_level, "debug");
	wm_config_free(&c);

	/* a quoted "null" is text, not null */
	const char *qnull = "log-level: \"null\"\n";
	assert_int_equal(wm_config_init(&c), 0);
	assert_int_equal(wm_config_load_yaml(&c, qnull, strlen(qnull), "f", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_contains(err, "\"null\"");
	wm_config_free(&c);

	/* a list at its limit, then one more */
	char big[2048];
	size_t o = (size_t)snprintf(big, sizeof(big), "endpoints:\n");
	for (int i = 1; i <= WM_CFG_LIST_MAX + 1; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "  - 10.0.0.1:%d\n", i);
	assert_int_equal(wm_config_init(&c), 0);
	assert_int_equal(wm_config_load_yaml(&c, big, strlen(big), "f", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_contains(err, "more than 16 items");
	assert_contains(err, "f:18");
	wm_config_free(&c);
}

/* storage plugins (issue 12): the values the table itself refuses. */
static void test_storage_values(void **state)
{
	static const struct {
		const char *args[4];
		const char *want;
	} cases[] = {
		{{"--etcd-endpoints", "e:2379"}, "each endpoint must start with https://"},
		{{"--etcd-endpoints", "https://e"}, "each endpoint must be http(s)://HOST:PORT"},
		{{"--etcd-endpoints", "https://e:1,"}, "a trailing comma"},
		{{"--etcd-endpoints", "https://:1"}, "each endpoint must be http(s)://HOST:PORT"},
		{{"--storage", "zookeeper"}, "zookeeper"},
		{{"--etcd-endpoints", "https://root:s3cret@e:2379"},
		 "\"https://<redacted>@e:2379\""},
		{{"--etcd-endpoints", "https://root:s3cret@e:2379"},
		 "credentials in an endpoint (user:password@) are not supported"},
		{{"--etcd-endpoints", "https://e:2379,http://u:s3cret@f:2379/"},
		 "\"https://e:2379,http://<redacted>@f:2379/\""},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_config c;
		err[0] = '\0';
		assert_int_equal(load(&c, cases[i].args, NULL, err, sizeof(err)), -WM_ECONFIG);
		assert_contains(err, cases[i].want);
		assert_null(strstr(err, "s3cret"));
		wm_config_free(&c);
	}
}

static void test_validate(void **state)
{
	static const struct {
		const char *args[8];
		const char *want; /* NULL: valid */
	} cases[] = {
		{{NULL},
		 "nothing to do: pass --bootstrap to start a mesh or --join HOST:PORT to join one"},
		{{"--bootstrap"}, NULL},
		{{"--join", "a:1"}, NULL},
		{{"--bootstrap", "--join", "a:1"}, "bootstrap and join exclude each other"},
		{{"--print-config"}, NULL},
		{{"--help"}, NULL},
		{{"--version", "--bootstrap", "--join", "a:1"}, NULL},
		{{"--join", "a:1", "--ca-file", "/ca.pem"}, NULL},
		{{"--join", "a:1", "--insecure-skip-verify"}, NULL},
		{{"--join", "a:1", "--ca-file", "/ca.pem", "--insecure-skip-verify"},
		 "at most one"},
		{{"--join", "a:1", "--ca-file", "/ca.pem", "--join-fingerprint",
		  "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
		 "at most one"},
		{{"--join", "a:1", "--insecure-skip-verify", "--join-fingerprint",
		  "sha256:0000000000000000000000000000000000000000000000000000000000000000"},
		 "at most one"},
		{{"--bootstrap", "--tls-cert", "/c"}, "tls-cert is set without tls-key"},
		{{"--bootstrap", "--tls-key", "/k"}, "tls-key is set without tls-cert"},
		{{"--bootstrap", "--tls-key", "/k", "--tls-cert", "/c"}, NULL},
		{{"--bootstrap", "--raft-election-ms", "100", "--raft-heartbeat-ms", "100"},
		 "raft-election-ms (100) must be greater than raft-heartbeat-ms (100)"},
		{{"--bootstrap", "--api-listen", "[::]:9000"}, "both use TCP port 9000"},
		{{"--bootstrap", "--api-listen", "[::]:9000", "--raft-port", "9001"}, NULL},
		{{"--join", "a:1", "--voter"}, NULL},
		{{"--join", "a:1", "--voter", "--observer"}, "voter and observer exclude"},
		/* storage plugins (issue 12) */
		{{"--bootstrap", "--storage", "etcd", "--etcd-endpoints", "https://e:2379"}, NULL},
		{{"--serve", "--storage", "etcd", "--etcd-endpoints", "http://e:2379,https://f:1"},
		 NULL},
		{{"--serve", "--storage", "etcd"}, "storage etcd needs etcd-endpoints"},
		{{"--storage", "etcd", "--etcd-endpoints", "https://e:2379"},
		 "storage etcd needs --bootstrap"},
		{{"--join", "a:1", "--storage", "etcd", "--etcd-endpoints", "https://e:2379"},
		 "storage etcd and join exclude each other"},
		{{"--bootstrap", "--etcd-endpoints", "https://e:2379"},
		 "etcd-* settings are for storage etcd"},
		{{"--bootstrap", "--storage", "etcd", "--etcd-endpoints", "https://e:2379",
		  "--etcd-cert", "/c"},
		 "etcd-cert and etcd-key go together"},

		{{"--bootstrap", "--voter"}, "voter needs --join"},
		{{"--bootstrap", "--bootstrap-servers", "a=h:1,b=h:2"}, NULL},
		{{"--join", "a:1", "--bootstrap-servers", "a=h:1,b=h:2"},
		 "bootstrap-servers needs --bootstrap"},
		{{"--bootstrap", "--bootstrap-servers", "a=h:1"}, "lists one server"},
		{{"--bootstrap", "--unreachable-after-ms", "5000", "--remove-after-ms", "5000"},
		 "remove-after-ms (5000) must be greater than unreachable-after-ms (5000)"},
		{{"--bootstrap", "--remove-after-ms", "0"}, NULL},
		{{"--bootstrap", "--topology", "manual"}, NULL},
		{{"--join", "a:1", "--topology", "full"},
		 "topology is chosen when the mesh is created"},
		{{"--bootstrap", "--wireguard-backend", "null", "--wireguard-record", "/r"}, NULL},
		{{"--bootstrap", "--wireguard-record", "/r"},
		 "wireguard-record needs wireguard-backend null"},
		{{"--join", "a:1", "--node-id", "x", "--use-exit-node", "x"},
		 "names this node itself"},
		{{"--join", "a:1", "--use-exit-node", "gw", "--routes", "10.1.0.0/16,::/0"}, NULL},
		{{"--bootstrap", "--api-max-buffered-per-connection", "40000000"},
		 "api-max-buffered (33554432) must be at least api-max-buffered-per-connection "
		 "(40000000)"},
		{{"--bootstrap", "--api-max-buffered-per-connection", "40000000",
		  "--api-max-buffered", "40000000"},
		 NULL},
		/* join by rendezvous (issue 11) */
		{{"--join-rendezvous", "short", "--libp2p-peers", "/ip4/10.0.0.1/tcp/4001"},
		 "join-rendezvous: the secret must have 16 to 256 characters"},
		{{"--join-rendezvous", "0123456789abcdef", "--libp2p-peers",
		  "/ip4/10.0.0.1/tcp/4001"},
		 NULL},
		{{"--bootstrap", "--libp2p-max-held-per-stream", "4194304"},
		 "libp2p-max-held-per-connection (2097152) is less than libp2p-max-held-per-stream "
		 "(4194304)"},
		{{"--bootstrap", "--libp2p-max-held-per-stream", "4194304",
		  "--libp2p-max-held-per-connection", "4194304"},
		 NULL},
		{{"--bootstrap", "--libp2p-max-held-per-connection", "8388608"},
		 "libp2p-max-write-queue (4194304) is less than libp2p-max-held-per-connection "
		 "(8388608)"},
		{{"--bootstrap", "--libp2p-max-write-queue", "1048576"},
		 "libp2p-max-write-queue (1048576) is less than libp2p-max-held-per-connection "
		 "(2097152)"},
		{{"--bootstrap", "--libp2p-max-held-per-connection", "8388608",
		  "--libp2p-max-write-queue", "8388608"},
		 NULL},
		{{"--join-rendezvous", "0123456789abcdef"}, "join-rendezvous needs --libp2p-peers"},
		{{"--join-rendezvous", "0123456789abcdef", "--join", "a:1"},
		 "join-rendezvous excludes join"},
		{{"--join-rendezvous", "0123456789abcdef", "--bootstrap"},
		 "join-rendezvous excludes bootstrap"},
		{{"--join-rendezvous", "0123456789abcdef", "--libp2p-peers",
		  "/ip4/10.0.0.1/tcp/4001", "--voter"},
		 NULL},
		{{"--bootstrap", "--announce-rendezvous", "0123456789abcdef"},
		 "announce-rendezvous needs --libp2p-listen"},
		{{"--bootstrap", "--announce-rendezvous", "0123456789abcdef", "--libp2p-listen",
		  "/ip4/0.0.0.0/tcp/4001"},
		 NULL},
	};
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_config c;
		int r;

		assert_int_equal(load(&c, cases[i].args, NULL, err, sizeof(err)), 0);
		err[0] = '\0';
		r = wm_config_validate(&c, err, sizeof(err));
		if (!cases[i].want) {
			if (r != 0)
				fail_msg("case %zu refused: %s", i, err);
		} else {
			if (r != -WM_ECONFIG)
				fail_msg("case %zu accepted", i);
			assert_contains(err, cases[i].want);
		}
		wm_config_free(&c);
	}
}

static void test_to_yaml_roundtrip(void **state)
{
	struct wm_config c, d;
	char err[512];
	char *y1, *y2;

	(void)state;
	const char *args[] = {"--bootstrap", "--node-id",	  "n1",	   "--domain", "x.example",
			      "--endpoints", "1.2.3.4:5,[::1]:6", "--mtu", "1300",     NULL};
	assert_int_equal(load(&c, args, NULL, err, sizeof(err)), 0);
	/* a value YAML would misread unquoted survives */
	assert_int_equal(wm_config_set(&c, wm_cfg_find("wireguard-go"),
				       "/opt/wg go\"#: x \xc3\xa9\xf0\x9f\x98\x80", "t", err,
				       sizeof(err)),
			 0);
	y1 = wm_config_to_yaml(&c);
	assert_non_null(y1);
	assert_contains(y1, "node-id: \"n1\"\n");
	assert_contains(y1, "join: null\n");
	assert_contains(y1, "mtu: 1300\n");
	assert_contains(y1, "bootstrap: true\n");
	assert_contains(y1, "endpoints:\n  - \"1.2.3.4:5\"\n  - \"[::1]:6\"\n");
	assert_contains(y1, "ipv4-network: \"172.16.0.0/12\"\n");
	assert_contains(y1, "wireguard-go: \"/opt/wg go\\\"#: x \\u00e9\\U0001f600\"\n");
	assert_null(strstr(y1, "help"));
	assert_null(strstr(y1, " \n")); /* no trailing spaces */
	/* table order */
	assert_true(strstr(y1, "node-id:") < strstr(y1, "state-dir:"));
	assert_true(strstr(y1, "raft-election-ms:") < strstr(y1, "log-level:"));

	assert_int_equal(wm_config_init(&d), 0);
	if (wm_config_load_yaml(&d, y1, strlen(y1), "print-config", err, sizeof(err)))
		fail_msg("%s\n%s", err, y1);
	y2 = wm_config_to_yaml(&d);
	assert_string_equal(y1, y2);
	free(y1);
	free(y2);
	wm_config_free(&c);
	wm_config_free(&d);
}

/* The table has no secret yet; a private table shows the masking works. */
static const char *check_never(const char *v)
{
	(void)v;
	return "is never accepted";
}

static void test_secrets(void **state)
{
	const struct wm_cfg_key keys[] = {
		{.name = "token",
		 .type = WM_CFG_STRING,
		 .offset = offsetof(struct wm_config, tls_key),
		 .flags = WM_CFG_SECRET,
		 .help = "a secret"},
		{.name = "strict-token",
		 .type = WM_CFG_STRING,
		 .offset = offsetof(struct wm_config, ca_file),
		 .flags = WM_CFG_SECRET,
		 .check = check_never,
		 .help = "a secret"},
		{.name = "tokens",
		 .type = WM_CFG_LIST,
		 .offset = offsetof(struct wm_config, endpoints),
		 .count_offset = offsetof(struct wm_config, n_endpoints),
		 .flags = WM_CFG_SECRET,
		 .check = check_never,
		 .help = "secrets"},
		{.name = "plain",
		 .type = WM_CFG_STRING,
		 .offset = offsetof(struct wm_config, server_name),
		 .help = "not a secret"},
		{.name = NULL},
	};
	struct wm_config c;
	char err[512], *y;

	(void)state;
	assert_int_equal(wm_config_init(&c), 0);
	assert_int_equal(wm_config_set(&c, &keys[0], "hunter2", "--token", err, sizeof(err)), 0);
	assert_int_equal(
		wm_config_set(&c, &keys[1], "swordfish", "--strict-token", err, sizeof(err)),
		-WM_ECONFIG);
	assert_string_equal(err, "config: strict-token: <redacted> from --strict-token is never "
				 "accepted");
	assert_int_equal(wm_config_set(&c, &keys[2], "open,sesame", "--tokens", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_null(strstr(err, "open"));
	assert_contains(err, "<redacted>");
	assert_int_equal(wm_config_set(&c, &keys[3], "visible", "--plain", err, sizeof(err)), 0);
	y = wm_config_to_yaml_keys(&c, keys);
	assert_non_null(y);
	assert_null(strstr(y, "hunter2"));
	assert_contains(y, "token: \"<redacted>\"\n");
	assert_contains(y, "strict-token: null\n");
	assert_contains(y, "plain: \"visible\"\n");
	free(y);
	wm_config_free(&c);
}

/* Every secret has a *-file form; the file is read (first line), both forms
 * at once are refused, and secrets others can read are warned about. */
static void test_secret_files(void **state)
{
	struct wm_config c;
	char err[512], path[512], conf[512], warn[8][WM_SECRETS_WARN_LEN];

	(void)state;
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		if (!(k->flags & WM_CFG_SECRET))
			continue;
		unsigned bit = wm_secrets_bit(k->name);
		assert_true(bit != 0);
		for (unsigned i = 0; wm_cfg_secret_files[i].key; i++)
			if (bit == 1u << i)
				assert_non_null(wm_cfg_find(wm_cfg_secret_files[i].file_key));
	}
	write_file("ldap.pw", "s3cret-pw\nsecond line\n", path, sizeof(path));
	chmod(path, 0600);
	const char *a1[] = {"--ldap-bind-password-file", path, NULL};
	assert_int_equal(load(&c, a1, NULL, err, sizeof(err)), 0);
	assert_string_equal(c.ldap_bind_password, "s3cret-pw");
	assert_int_equal(wm_secrets_warnings(&c, warn, 8), 0);
	wm_config_free(&c);

	const char *a2[] = {"--ldap-bind-password-file", path, "--ldap-bind-password", "x", NULL};
	assert_int_equal(load(&c, a2, NULL, err, sizeof(err)), -WM_ECONFIG);
	assert_string_equal(err, "config: give ldap-bind-password or ldap-bind-password-file, "
				 "not both");
	wm_config_free(&c);

	/* A flag: readable in /proc/PID/cmdline. */
	const char *a3[] = {"--turn-secret", "t0ps3cret", NULL};
	assert_int_equal(load(&c, a3, NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_secrets_warnings(&c, warn, 8), 1);
	assert_string_equal(warn[0], "the secret turn-secret is given as a flag: every local "
				     "user can read it in /proc/PID/cmdline; use "
				     "--turn-secret-file FILE (mode 0600) instead");
	assert_null(strstr(warn[0], "t0ps3cret"));
	wm_config_free(&c);

	/* From the environment: only we and root can read it, no warning. */
	const char *e4[] = {"WEBMESH_TURN_SECRET=t0ps3cret", NULL};
	assert_int_equal(load(&c, NULL, e4, err, sizeof(err)), 0);
	assert_int_equal(wm_secrets_warnings(&c, warn, 8), 0);
	wm_config_free(&c);

	/* A config file others can read, and a secret file others can read. */
	write_file("open.yaml", "basic-auth-password: hunter2\n", conf, sizeof(conf));
	chmod(conf, 0644);
	chmod(path, 0640);
	const char *a5[] = {"--config", conf, "--ldap-bind-password-file", path, NULL};
	assert_int_equal(load(&c, a5, NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_secrets_warnings(&c, warn, 8), 2);
	char want[1200];
	snprintf(want, sizeof(want),
		 "the secret file %s (ldap-bind-password-file) is readable by group or others "
		 "(mode 0640): chmod 600 %s",
		 path, path);
	assert_string_equal(warn[0], want);
	snprintf(want, sizeof(want),
		 "the config file %s holds the secret basic-auth-password and is readable by "
		 "group or others (mode 0644): chmod 600 %s",
		 conf, conf);
	assert_string_equal(warn[1], want);
	wm_config_free(&c);
	chmod(conf, 0600);
	assert_int_equal(load(&c, a5 + 0, NULL, err, sizeof(err)), 0);
	assert_int_equal(wm_secrets_warnings(&c, warn, 8), 1); /* the 0640 secret file */
	wm_config_free(&c);

	/* An empty secret file, a missing one: named, and nothing set. */
	write_file("empty.pw", "\n", path, sizeof(path));
	const char *a6[] = {"--turn-password-file", path, NULL};
	assert_int_equal(load(&c, a6, NULL, err, sizeof(err)), -WM_ECONFIG);
	snprintf(want, sizeof(want), "config: turn-password-file %s: has an empty first line",
		 path);
	assert_string_equal(err, want);
	wm_config_free(&c);
	const char *a7[] = {"--turn-password-file", "/nonexistent/pw", NULL};
	assert_int_equal(load(&c, a7, NULL, err, sizeof(err)), -WM_ECONFIG);
	assert_string_equal(err, "config: turn-password-file /nonexistent/pw: No such file or "
				 "directory");
	wm_config_free(&c);
	unlink(path);
	unlink(conf);
	write_file("ldap.pw", "", path, sizeof(path));
	unlink(path);
}

/* The libp2p module's limits (issue 11): each a key with today's constant
 * as default, its range enforced naming the key, and 0 refused where it
 * would stop the node. */
static void test_libp2p_limits(void **state)
{
	static const struct {
		const char *key;
		size_t off;
		uint32_t def, min, max;
	} keys[] = {
#define K(k, f, d, lo, hi) {k, offsetof(struct wm_config, f), d, lo, hi}
		K("libp2p-handshake-timeout", libp2p_handshake_timeout, 20, 1, 300),
		K("libp2p-max-write-queue", libp2p_max_write_queue, 4194304, 1048576, 1073741824),
		K("libp2p-max-held-per-stream", libp2p_max_held_per_stream, 1048576, 1048576,
		  67108864),
		K("libp2p-max-held-per-connection", libp2p_max_held_per_connection, 2097152,
		  1048576, 1073741824),
		K("libp2p-dht-requests-per-second", libp2p_dht_requests_per_second, 200, 1, 100000),
		K("libp2p-dht-requests-per-stream", libp2p_dht_requests_per_stream, 16, 1, 1024),
		K("libp2p-dht-max-requests", libp2p_dht_max_requests, 64, 1, 4096),
		K("libp2p-dht-max-lookups", libp2p_dht_max_lookups, 16, 1, 1024),
		K("libp2p-dht-query-timeout", libp2p_dht_query_timeout, 5, 1, 300),
		K("libp2p-dht-lookup-timeout", libp2p_dht_lookup_timeout, 30, 1, 600),
		K("libp2p-rendezvous-max-pipes", libp2p_rendezvous_max_pipes, 256, 1, 65536),
		K("libp2p-rendezvous-handshake-timeout", libp2p_rendezvous_handshake_timeout, 10, 1,
		  600),
		K("libp2p-rendezvous-handshakes-per-peer", libp2p_rendezvous_handshakes_per_peer, 4,
		  1, 256),
#undef K
	};
	char err[512], flag[128], val[32], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		struct wm_config c;
		const char *args[4] = {flag, val, NULL};

		assert_int_equal(wm_config_init(&c), 0);
		assert_int_equal(*(uint32_t *)((char *)&c + keys[i].off), keys[i].def);
		wm_config_free(&c);
		snprintf(flag, sizeof(flag), "--%s", keys[i].key);
		/* both ends of the range are taken, as flag and in the environment */
		snprintf(val, sizeof(val), "%" PRIu32, keys[i].min);
		assert_int_equal(load(&c, args, NULL, err, sizeof(err)), 0);
		assert_int_equal(*(uint32_t *)((char *)&c + keys[i].off), keys[i].min);
		wm_config_free(&c);
		char env[160];
		size_t n = (size_t)snprintf(env, sizeof(env), "WEBMESH_");
		for (const char *k = keys[i].key; *k; k++)
			env[n++] = *k == '-' ? '_' : (char)toupper((unsigned char)*k);
		snprintf(env + n, sizeof(env) - n, "=%" PRIu32, keys[i].max);
		const char *envp[] = {env, NULL}, *none[] = {NULL};
		assert_int_equal(load(&c, none, envp, err, sizeof(err)), 0);
		assert_int_equal(*(uint32_t *)((char *)&c + keys[i].off), keys[i].max);
		wm_config_free(&c);
		/* below and above: refused, naming the key and the range */
		snprintf(want, sizeof(want),
			 "config: %s: \"%" PRIu32 "\" from %s is out of range %" PRIu32
			 "..%" PRIu32,
			 keys[i].key, keys[i].min - 1, flag, keys[i].min, keys[i].max);
		snprintf(val, sizeof(val), "%" PRIu32, keys[i].min - 1);
		assert_int_equal(load(&c, args, NULL, err, sizeof(err)), -WM_ECONFIG);
		assert_contains(err, want);
		wm_config_free(&c);
		snprintf(val, sizeof(val), "%" PRIu64, (uint64_t)keys[i].max + 1);
		assert_int_equal(load(&c, args, NULL, err, sizeof(err)), -WM_ECONFIG);
		assert_contains(err, keys[i].key);
		assert_contains(err, "out of range");
		wm_config_free(&c);
	}
}

static void test_usage(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	assert_non_null(f);
	wm_config_usage(f);
	fclose(f);
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		char flag[80];

		snprintf(flag, sizeof(flag), "--%s", k->name);
		assert_contains(text, flag);
	}
	assert_contains(text, "--mtu N");
	assert_contains(text, "[1420] (1280..9000)");
	assert_contains(text, "auto|kernel|userspace|null");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_set_values),
		cmocka_unit_test(test_set_effects),
		cmocka_unit_test(test_flag_errors),
		cmocka_unit_test(test_flag_forms),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_yaml),
		cmocka_unit_test(test_yaml_lists_and_nulls),
		cmocka_unit_test(test_yaml_plugins),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_to_yaml_roundtrip),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_secret_files),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_storage_values), /* storage plugins (issue 12) */
		cmocka_unit_test(test_libp2p_limits),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
