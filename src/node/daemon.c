/* webmeshd lifecycle: start the pieces in order, run the loop, and take them
 * down in reverse order on a signal, a fatal error or a leave. */
#include "node/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/hostport.h"
#include "node/routes.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "services/paths.h"

#define SHUTDOWN_GRACE_MS 500
#define EPHEMERAL_LEAVE_TIMEOUT_MS 3000

static void teardown(struct wm_daemon *d);

static int lock_state_dir(struct wm_daemon *d, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc = wm_mkdir_p(d->cfg->state_dir, 0700);
	if (rc) {
		snprintf(err, errlen, "cannot create state dir %s: %s", d->cfg->state_dir,
			 wm_strerror(rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/webmeshd.lock", d->cfg->state_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0 || flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -WM_ELOCKED : -errno;
		snprintf(err, errlen, "%s is in use by another webmeshd (%s)", d->cfg->state_dir,
			 wm_strerror(rc));
		return rc;
	}
	return 0;
}

/* ---- shutdown: api servers -> client -> store -> wireguard -> own handles */

static void stage_done(void *data);

static void next_stage(struct wm_daemon *d)
{
	/* Each stage starts asynchronous closes and counts them; the last one to
	 * finish calls stage_done, which moves on. The count starts at one so
	 * that a close finishing synchronously cannot end the stage early. */
	for (;;) {
		d->closing = 1;
		switch (d->stage++) {
		case 0:
			if (d->api) {
				d->closing++;
				wm_rpc_server_shutdown(d->api, SHUTDOWN_GRACE_MS, stage_done, d);
			}
			if (d->local) {
				d->closing++;
				wm_rpc_server_shutdown(d->local, SHUTDOWN_GRACE_MS, stage_done, d);
			}
			break;
		case 1:
			/* MeshDNS reads the store: it goes first */
			d->closing++;
			wm_node_dns_close(d, stage_done, d);
			/* ICE sessions end (BYE to the peers) before the clients go */
			d->closing++;
			wm_traversal_close(d, stage_done, d);
			if (d->local_client) {
				wm_rpc_client_free(d->local_client);
				d->local_client = NULL;
			}
			if (d->upstream) {
				wm_rpc_client_free(d->upstream);
				d->upstream = NULL;
			}
			if (d->store) {
				d->closing++;
				wm_store_close(d->store, stage_done, d);
			}
			break;
		case 2:
			/* routes, pins, NAT and ACL chains go before the interface does */
			wm_routes_cleanup(d);
			wm_netconf_remove_acl(d);
			wm_raftguard_remove(d);
			if (d->wg) {
				d->closing++;
				wm_wg_close(d->wg, stage_done, d);
			}
			break;
		case 3:
			uv_close((uv_handle_t *)&d->timer, NULL);
			uv_close((uv_handle_t *)&d->self_timer, NULL);
			uv_close((uv_handle_t *)&d->raft_timer, NULL);
			uv_close((uv_handle_t *)&d->heartbeat_timer, NULL);
			uv_close((uv_handle_t *)&d->endpoint_timer, NULL);
			uv_close((uv_handle_t *)&d->sigterm, NULL);
			uv_close((uv_handle_t *)&d->sigint, NULL);
			break;
		default:
			d->closing = 0;
			return;
		}
		if (--d->closing > 0)
			return;
	}
}

static void stage_done(void *data)
{
	struct wm_daemon *d = data;
	if (--d->closing == 0)
		next_stage(d);
}

static void teardown(struct wm_daemon *d)
{
	uv_timer_stop(&d->timer);
	uv_timer_stop(&d->self_timer);
	uv_timer_stop(&d->raft_timer);
	uv_timer_stop(&d->heartbeat_timer);
	uv_timer_stop(&d->endpoint_timer);
	if (d->peer_stream) {
		struct wm_rpc_stream *s = d->peer_stream;
		d->peer_stream = NULL;
		wm_rpc_stream_cancel(s);
	}
	wm_services_stop(d->services);
	next_stage(d);
}

static void ephemeral_left_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	(void)resp;
	(void)len;
	struct wm_daemon *d = data;
	if (status == WM_GRPC_OK || status == WM_GRPC_NOT_FOUND) {
		wm_info("ephemeral node left the mesh");
		wm_meshstate_remove(d->cfg->state_dir);
	} else {
		wm_warn("could not leave the mesh on exit (%s: %s); the servers will keep this "
			"node until it is removed",
			wm_grpc_status_name(status), message ? message : "");
	}
	teardown(d);
}

static void handed_over_cb(void *data, int err)
{
	struct wm_daemon *d = data;
	if (err)
		wm_warn("could not hand leadership over (%s); stopping anyway", wm_strerror(err));
	else
		wm_info("handed leadership over");
	teardown(d);
}

/* A leader that stops on purpose hands over first, so the mesh does not wait
 * an election timeout for a new one. */
static bool hand_over(struct wm_daemon *d)
{
	if (!d->store)
		return false;
	struct wm_store_status st;
	wm_store_status(d->store, &st);
	if (!st.is_leader)
		return false;
	return wm_store_transfer_leadership(d->store, handed_over_cb, d) == 0;
}

void wm_daemon_stop(struct wm_daemon *d, int exit_code)
{
	if (d->phase == WM_PHASE_STOPPING)
		return;
	d->phase = WM_PHASE_STOPPING;
	d->exit_code = exit_code;
	wm_info("stopping");
	if (d->cfg->ephemeral && !d->store && d->joined && d->upstream) {
		Webmesh__V1__LeaveRequest req = WEBMESH__V1__LEAVE_REQUEST__INIT;
		req.id = d->node_id;
		uint8_t buf[128];
		size_t len = webmesh__v1__leave_request__pack(&req, buf);
		if (wm_rpc_client_unary(d->upstream, WM_METHOD_MEMBERSHIP_LEAVE, buf, len,
					EPHEMERAL_LEAVE_TIMEOUT_MS, NULL, 0, ephemeral_left_cb,
					d) == 0)
			return;
	}
	if (hand_over(d))
		return;
	teardown(d);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct wm_daemon *d = s->data;
	wm_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	wm_daemon_stop(d, 0);
}

/* The bootstrap server registers itself with its endpoints: after discovery. */
static void bootstrap_server(struct wm_daemon *d)
{
	char err[512] = "";
	int rc = wm_server_start(d, err, sizeof(err));
	if (rc) {
		wm_error("%s", err[0] ? err : wm_strerror(rc));
		wm_daemon_stop(d, 1);
	}
}

static int start(struct wm_daemon *d, char *err, size_t errlen)
{
	/* api-listen was validated with the config; the port is read by every
	 * peer update (servers to fail over to), so parse it once. */
	char host[256];
	d->api_port = 8443;
	wm_hostport_split(d->cfg->api_listen, host, sizeof(host), &d->api_port);
	int rc = lock_state_dir(d, err, errlen);
	if (!rc)
		rc = wm_identity_load(d->cfg->state_dir, d->private_key, d->public_key, err, errlen);
	if (rc)
		return rc;
	char key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(d->public_key, key);
	wm_info("node %s, WireGuard public key %s", d->node_id, key);
	rc = wm_netconf_detect_endpoints(d);
	if (rc)
		wm_warn("cannot list this host's addresses: %s", wm_strerror(rc));
	if (d->n_endpoints == 0)
		wm_warn("no endpoint to advertise: other nodes cannot reach this one directly "
			"(set --endpoints IP:PORT)");
	rc = wm_netconf_open(d, err, errlen);
	/* after the interface exists: per-link DNS is set on it */
	if (!rc)
		rc = wm_node_dns_start(d, err, errlen);
	if (!rc)
		rc = wm_traversal_start(d, err, errlen);
	if (rc)
		return rc;
	if (d->cfg->bootstrap) {
		/* The API comes first: other bootstrap servers fetch our key from
		 * it before any store exists. */
		rc = wm_api_start(d, true, err, errlen);
		if (!rc)
			wm_traversal_discover(d, bootstrap_server);
	} else {
		rc = wm_api_start(d, false, err, errlen);
		if (!rc)
			rc = wm_member_start(d, err, errlen);
	}
	return rc;
}

int wm_daemon_run(const struct wm_config *cfg, const char *node_id)
{
	uv_loop_t loop;
	struct wm_daemon *d = calloc(1, sizeof(*d));
	if (!d || uv_loop_init(&loop) < 0) {
		free(d);
		fprintf(stderr, "webmeshd: out of memory\n");
		return 1;
	}
	/* libraft and our sockets write to peers that may vanish at any moment. */
	signal(SIGPIPE, SIG_IGN);
	d->loop = &loop;
	d->cfg = cfg;
	d->lock_fd = -1;
	d->started_at = (int64_t)time(NULL);
	snprintf(d->node_id, sizeof(d->node_id), "%s", node_id);
	wm_log_set_name(d->node_id);
	uv_timer_init(&loop, &d->timer);
	uv_timer_init(&loop, &d->self_timer);
	uv_timer_init(&loop, &d->raft_timer);
	uv_timer_init(&loop, &d->heartbeat_timer);
	uv_timer_init(&loop, &d->endpoint_timer);
	d->timer.data = d->self_timer.data = d->raft_timer.data = d->heartbeat_timer.data = d;
	d->endpoint_timer.data = d;
	uv_signal_init(&loop, &d->sigterm);
	uv_signal_init(&loop, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d->sigint, signal_cb, SIGINT);

	char err[512] = "";
	int rc = start(d, err, sizeof(err));
	if (rc) {
		wm_error("%s", err[0] ? err : wm_strerror(rc));
		wm_daemon_stop(d, 1);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	int code = d->exit_code;

	wm_services_free(d->services);
	/* Calls still waiting for an authenticator end (CANCELLED) in the
	 * loop run below; only then may the gate they point into go. */
	wm_api_free_auth(d);
	uv_run(&loop, UV_RUN_DEFAULT); /* the services' close callbacks */
	if (d->api)
		wm_rpc_server_free(d->api);
	if (d->local)
		wm_rpc_server_free(d->local);
	wm_gate_free(d->gate);
	SSL_CTX_free(d->server_tls);
	SSL_CTX_free(d->client_tls);
	SSL_CTX_free(d->overlay_tls);
	wm_wg_device_free(d->desired);
	wm_multiboot_free(d);
	free(d->peer_names);
	wm_wipe(d->private_key, sizeof(d->private_key));
	if (uv_loop_close(&loop) == UV_EBUSY)
		wm_warn("some handles were still open at exit");
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d);
	wm_info("stopped");
	return code;
}
