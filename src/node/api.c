/* The node's API endpoints: TLS on the API port (servers) and the local unix
 * socket (every node), plus the Status this node reports. */
#include "node/api.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hostport.h"
#include "auth/pki.h"
#include "core/ipam.h"
#include "node/console_dir.h"
#include "plugin/plugin.h"
#include "services/convert.h"
#include "services/signaling.h"
#include "store/authz.h"
#include "util/fsutil.h"
#include "util/log.h"

#define SHUTDOWN_GRACE_MS 500

static void limit_cb(void *data, const char *source, const char *what)
{
	(void)data;
	wm_warn("API limit hit by %s: %s (logged once a minute per source)", source, what);
}

/* The limits that hold before anyone is authenticated (config keys api-*). */
static struct wm_rpc_server_config public_limits(const struct wm_config *cfg)
{
	return (struct wm_rpc_server_config){
		.max_concurrent_streams = cfg->api_max_streams,
		.max_connections = cfg->api_max_connections,
		.max_connections_per_source = cfg->api_max_connections_per_source,
		.max_buffered_per_connection = cfg->api_max_buffered_per_connection,
		.max_buffered = cfg->api_max_buffered,
		.handshake_timeout_ms = (uint64_t)cfg->api_handshake_timeout * 1000,
		.idle_timeout_ms =
			cfg->api_idle_timeout ? (uint64_t)cfg->api_idle_timeout * 1000 : UINT64_MAX,
		.on_limit = limit_cb,
	};
}

static int start_public(struct wm_api *api, char *err, size_t errlen)
{
	char cert[PATH_MAX], key[PATH_MAX], host[256];
	uint16_t port;
	if (wm_hostport_split(api->c.cfg->api_listen, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen, "api-listen \"%s\" is not HOST:PORT", api->c.cfg->api_listen);
		return -EINVAL;
	}
	if (api->c.cfg->tls_cert) {
		snprintf(cert, sizeof(cert), "%s", api->c.cfg->tls_cert);
		snprintf(key, sizeof(key), "%s", api->c.cfg->tls_key);
	} else {
		snprintf(cert, sizeof(cert), "%s/tls.crt", api->c.cfg->state_dir);
		snprintf(key, sizeof(key), "%s/tls.key", api->c.cfg->state_dir);
		char ipbuf[WM_MAX_ENDPOINTS][WM_PREFIX_STRLEN];
		const char *ips[WM_MAX_ENDPOINTS];
		for (size_t i = 0; i < *api->c.n_endpoints; i++) {
			wm_prefix_format_addr(&api->c.endpoints[i].ip, ipbuf[i], sizeof(ipbuf[i]));
			ips[i] = ipbuf[i];
		}
		int rc = wm_tls_ensure_self_signed(cert, key, api->c.node_id, ips,
						   *api->c.n_endpoints, err, errlen);
		if (rc)
			return rc;
	}
	/* With --mtls every client is asked for a certificate; the gate's mTLS
	 * authenticator judges it (a bad one is UNAUTHENTICATED, not a broken
	 * handshake). */
	struct wm_tls_server_opts o = {.cert_file = cert,
				       .key_file = key,
				       .client_ca_file =
					       api->c.cfg->mtls ? api->c.cfg->ca_file : NULL,
				       .require_client_cert = api->c.cfg->mtls};
	api->server_tls = wm_tls_server_ctx_new(&o, err, errlen);
	if (!api->server_tls)
		return -EINVAL;
	int rc = wm_tls_cert_file_fingerprint(cert, api->fingerprint);
	if (rc) {
		snprintf(err, errlen, "cannot read %s: %s", cert, wm_strerror(rc));
		return rc;
	}
	struct wm_rpc_server_config limits = public_limits(api->c.cfg);
	/* the console's files for browsers (the same ones httpd serves) */
	char console[PATH_MAX];
	wm_node_console_dir(api->c.cfg, console, sizeof(console));
	limits.static_dir = console;
	rc = wm_rpc_server_new(api->c.loop, &limits, &api->api);
	if (!rc)
		wm_rpc_server_set_call_done(api->api, api->c.call_done, api->c.data);
	if (!rc)
		rc = wm_services_register_public(api->services, api->api);
	if (!rc)
		rc = wm_rpc_server_listen_tcp(api->api, host, port, api->server_tls);
	/* "::" means every address; on a kernel without IPv6 (ipv6.disable=1)
	 * every address is 0.0.0.0. A host whose interfaces merely have IPv6
	 * turned off (disable_ipv6) still opens [::] and takes IPv4 on it. */
	char at[WM_ENDPOINT_STRLEN];
	snprintf(at, sizeof(at), "%s", api->c.cfg->api_listen);
	if (rc == -EAFNOSUPPORT && strcmp(host, "::") == 0) {
		snprintf(at, sizeof(at), "0.0.0.0:%u", port);
		wm_warn("IPv6 is not supported on this host: the API listens on %s (IPv4 only) "
			"instead of %s",
			at, api->c.cfg->api_listen);
		rc = wm_rpc_server_listen_tcp(api->api, "0.0.0.0", port, api->server_tls);
	}
	if (rc) {
		snprintf(err, errlen, "cannot serve the API on %s: %s", api->c.cfg->api_listen,
			 wm_strerror(rc));
		return rc;
	}
	wm_info("serving the API on %s (TLS, certificate %s)", at, api->fingerprint);
	return 0;
}

/* socket-group: members of the group may use wmctl. The socket is created
 * with our own group (0660) and handed over here; where the daemon's group is
 * already that one (systemd's Group=), chown needs no capability. */
static int socket_group(const struct wm_config *cfg, char *err, size_t errlen)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (!cfg->socket_group)
		return 0;
	int rc = getgrnam_r(cfg->socket_group, &gr, buf, sizeof(buf), &res);
	if (rc || !res) {
		snprintf(err, errlen,
			 "socket-group: there is no group \"%s\" (create it, e.g. "
			 "groupadd --system %s)",
			 cfg->socket_group, cfg->socket_group);
		return rc ? -rc : -ENOENT;
	}
	if (chown(cfg->socket, (uid_t)-1, gr.gr_gid) < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket-group: cannot give %s to group %s: %s", cfg->socket,
			 cfg->socket_group, strerror(-rc));
		return rc;
	}
	return 0;
}

static int start_local(struct wm_api *api, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", api->c.cfg->socket);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		wm_mkdir_p(dir, 0750);
	}
	int rc = wm_rpc_server_new(api->c.loop, NULL, &api->local);
	if (!rc)
		wm_rpc_server_set_call_done(api->local, api->c.call_done, api->c.data);
	if (!rc)
		rc = wm_services_register_local(api->services, api->local);
	if (!rc)
		rc = wm_rpc_server_listen_unix(api->local, api->c.cfg->socket, 0660);
	if (rc) {
		snprintf(err, errlen, "cannot listen on %s: %s", api->c.cfg->socket,
			 wm_strerror(rc));
		return rc;
	}
	return socket_group(api->c.cfg, err, errlen);
}

size_t wm_api_call_metadata(const struct wm_api *api, const char *path, const char *server_fp,
			    struct wm_rpc_metadata *md, size_t max)
{
	(void)path;
	if (!api->creds)
		return 0;
	return wm_auth_client_metadata(api->creds, api->c.node_id, server_fp, (int64_t)time(NULL),
				       md, max);
}

void wm_api_cert_path(const struct wm_config *cfg, char *out, size_t len)
{
	if (cfg->tls_cert)
		snprintf(out, len, "%s", cfg->tls_cert);
	else
		snprintf(out, len, "%s/tls.crt", cfg->state_dir);
}

static int auth_start(struct wm_api *api, char *err, size_t errlen)
{
	int rc = wm_auth_from_config(api->c.loop, api->c.cfg, &api->auth, err, errlen);
	if (rc)
		return rc;
	rc = wm_plugins_auth_add(api->plugins, api->auth, err, errlen);
	if (rc)
		return rc;
	struct wm_gate_config gc = {
		.loop = api->c.loop,
		.auth = api->auth,
		.store = api->c.store,
		.data = api->c.data,
		.node_id = api->c.node_id,
		.wg_private_key = api->c.private_key,
		.skew = api->c.cfg->key_auth_skew_seconds,
	};
	rc = wm_gate_new(&gc, &api->gate);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	/* What we present to servers: a joiner's Join and stream, a member's
	 * proxied reads, a server's calls to the leader. */
	if (api->c.cfg->basic_auth_user || api->c.cfg->key_auth_private_key_file) {
		api->creds = calloc(1, sizeof(*api->creds));
		if (!api->creds)
			return -ENOMEM;
		char e[256] = "";
		rc = wm_auth_client_init(api->creds, api->c.cfg->basic_auth_user,
					 api->c.cfg->basic_auth_password,
					 api->c.cfg->key_auth_private_key_file, e, sizeof(e));
		if (rc) {
			free(api->creds);
			api->creds = NULL;
			snprintf(err, errlen, "client credentials: %s", e);
			return rc;
		}
	}
	if (wm_auth_is_open(api->auth)) {
		if (api->c.cfg->bootstrap || api->c.cfg->voter || api->c.cfg->observer ||
		    api->c.cfg->serve)
			wm_warn("no authentication is configured: anyone who can reach %s can "
				"join this mesh",
				api->c.cfg->api_listen);
	} else {
		wm_info("API authentication: %s", wm_auth_methods(api->auth));
	}
	char cert[PATH_MAX], warn[256];
	wm_api_cert_path(api->c.cfg, cert, sizeof(cert));
	if (wm_pki_expiry_warning(cert, (int64_t)time(NULL), WM_PKI_WARN_DAYS, warn,
				  sizeof(warn)) == 1)
		wm_warn("%s", warn);
	return 0;
}

static void free_auth(struct wm_api *api)
{
	wm_auth_free(api->auth);
	api->auth = NULL;
	if (api->creds) {
		wm_auth_client_free(api->creds);
		free(api->creds);
		api->creds = NULL;
	}
}

int wm_api_init(struct wm_api *api, const struct wm_api_config *c, char *err, size_t errlen)
{
	*api = (struct wm_api){.c = *c};
	struct wm_services_config sc = {
		.loop = c->loop,
		.node_id = c->node_id,
		.store = c->store(c->data),
		.upstream = c->upstream,
		.fill_status = c->fill_status,
		.leave_mesh = c->leave_mesh,
		.fill_bootstrap_info = c->fill_bootstrap_info,
		.ping = c->ping,
		.netcheck = c->netcheck,
		.console_url = c->console_url,
		.data = c->data,
		.api_port = c->api_port,
		.unreachable_after_ms = c->cfg->unreachable_after_ms,
		.remove_after_ms = c->cfg->remove_after_ms,
		.liveness_max_nodes = c->cfg->liveness_max_nodes,
		.wg_private_key = c->private_key,
		.client_cert = c->cfg->tls_cert,
		.client_key = c->cfg->tls_key,
		.call_metadata = c->call_metadata,
	};
	int rc = 0;
	if (c->cfg->n_plugins) {
		rc = wm_plugins_new(c->loop, c->cfg, &api->plugins, err, errlen);
		if (rc)
			return rc;
		wm_info("plugins: %s", wm_plugins_describe(api->plugins));
	}
	sc.plugins = api->plugins;
	rc = auth_start(api, err, errlen);
	if (rc)
		return rc;
	sc.gate = api->gate;
	rc = wm_services_new(&sc, &api->services);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	rc = wm_signaling_set_limits(api->services, api->c.cfg->signaling_max_messages,
				     api->c.cfg->signaling_max_bytes);
	if (rc) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (api->c.cfg->turn_secret) {
		/* Servers hand members short-lived TURN credentials instead. */
		struct wm_signaling_config sig = {
			.turn_secret = api->c.cfg->turn_secret,
			.turn_urls = (const char *const *)api->c.cfg->turn_servers,
			.n_turn_urls = api->c.cfg->n_turn_servers,
			.turn_ttl_s = api->c.cfg->turn_credential_ttl,
		};
		rc = wm_signaling_configure(api->services, &sig);
		if (rc) {
			snprintf(err, errlen,
				 "turn-secret: cannot use turn-servers and "
				 "turn-credential-ttl as given");
			return rc;
		}
	}
	rc = start_local(api, err, errlen);
	if (!rc && c->serve_public)
		rc = wm_api_serve_public(api, err, errlen);
	return rc;
}

int wm_api_serve_public(struct wm_api *api, char *err, size_t errlen)
{
	return api->api ? 0 : start_public(api, err, errlen);
}

struct wm_services *wm_api_services(const struct wm_api *api)
{
	return api->services;
}

const struct wm_auth *wm_api_auth(const struct wm_api *api)
{
	return api->auth;
}

const char *wm_api_fingerprint(const struct wm_api *api)
{
	return api->fingerprint;
}

struct api_closing {
	int left;
	void (*done)(void *data);
	void *data;
};

static void api_server_closed(void *data)
{
	struct api_closing *c = data;
	if (--c->left)
		return;
	void (*done)(void *data) = c->done;
	void *dd = c->data;
	free(c);
	done(dd);
}

void wm_api_close(struct wm_api *api, void (*done_cb)(void *data), void *data)
{
	/* exec: plugins' children, sockets and clients would keep the loop up. */
	wm_plugins_close(api->plugins);
	struct api_closing *c = malloc(sizeof(*c));
	if (!c) {
		/* cannot count: the servers are freed after the loop anyway */
		done_cb(data);
		return;
	}
	/* both listeners drain at once, each within the grace */
	*c = (struct api_closing){.left = 1, .done = done_cb, .data = data};
	if (api->api) {
		c->left++;
		wm_rpc_server_shutdown(api->api, SHUTDOWN_GRACE_MS, api_server_closed, c);
	}
	if (api->local) {
		c->left++;
		wm_rpc_server_shutdown(api->local, SHUTDOWN_GRACE_MS, api_server_closed, c);
	}
	api_server_closed(c);
}

void wm_api_free(struct wm_api *api, uv_loop_t *loop)
{
	/* Joins waiting for the IPAM plugin point into the services. */
	wm_plugins_ipam_abandon(api->plugins);
	wm_plugins_close(api->plugins); /* exec: plugins' children and sockets */
	wm_services_free(api->services);
	api->services = NULL;
	/* Calls still waiting for an authenticator end (CANCELLED) in the
	 * loop run below; only then may the gate they point into go. */
	free_auth(api);
	uv_run(loop, UV_RUN_DEFAULT); /* the services' close callbacks */
	if (api->api)
		wm_rpc_server_free(api->api);
	if (api->local)
		wm_rpc_server_free(api->local);
	api->api = api->local = NULL;
	wm_gate_free(api->gate);
	api->gate = NULL;
	/* Last: the chain's threads and the services' ipam requests are done. */
	wm_plugins_free(api->plugins);
	api->plugins = NULL;
	SSL_CTX_free(api->server_tls);
	api->server_tls = NULL;
}
