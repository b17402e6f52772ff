/* TURN credentials of the NAT layer: static ones (turn-username/-password),
 * or short-lived ones handed out by the server (GetTurnCredentials), asked
 * again before they expire. */
#include "node/nat_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "services/paths.h"
#include "util/log.h"
#include "webmesh/v1/signaling.pb-c.h"

#define P_TURN WM_METHOD_SIGNALING_GET_TURN_CREDENTIALS
#define TURN_CALL_TIMEOUT_MS 5000
#define TURN_REFRESH_MARGIN_S 300
#define TURN_RETRY_MS 10000
#define TURN_NONE_RETRY_MS 300000

static void turn_cred_cb(void *data, int status, const char *message, const uint8_t *resp,
			 size_t len)
{
	struct wm_node_nat *n = data;
	Webmesh__V1__TurnCredentials *tc = NULL;

	n->turn_pending = false;
	if (n->closing) {
		wm_nat_part_done(n);
		return;
	}
	if (status == WM_GRPC_OK)
		tc = webmesh__v1__turn_credentials__unpack(NULL, len, resp);
	if (!tc) {
		/* A server without turn-secret says FAILED_PRECONDITION: ask
		 * rarely, ICE works without a relay where hole punching does. */
		if (status != WM_GRPC_FAILED_PRECONDITION)
			wm_debug("no TURN credentials from the server: %s: %s",
				 wm_grpc_status_name(status), message ? message : "");
		n->turn_retry_at = uv_now(n->c.loop) + (status == WM_GRPC_FAILED_PRECONDITION
								? TURN_NONE_RETRY_MS
								: TURN_RETRY_MS);
		return;
	}
	/* No relays of our own: use the server's. */
	if (!n->c.cfg->n_turn_servers)
		wm_nat_turn_set_urls(n, tc->urls, tc->n_urls);
	snprintf(n->turn_user, sizeof(n->turn_user), "%s", tc->username ? tc->username : "");
	snprintf(n->turn_pass, sizeof(n->turn_pass), "%s", tc->password ? tc->password : "");
	n->turn_expires_at = tc->expires_at;
	if (tc->password)
		wm_wipe(tc->password, strlen(tc->password));
	webmesh__v1__turn_credentials__free_unpacked(tc, NULL);
	wm_debug("TURN credentials until %lld for %zu relays", (long long)n->turn_expires_at,
		 n->n_turn_cfg);
}

void wm_nat_turn_tick(struct wm_node_nat *n)
{
	Webmesh__V1__TurnCredentialsRequest r = WEBMESH__V1__TURN_CREDENTIALS_REQUEST__INIT;
	struct wm_rpc_client *client;
	uint8_t buf[128];
	size_t len;

	if (n->turn_static || n->turn_pending || n->closing ||
	    uv_now(n->c.loop) < n->turn_retry_at ||
	    (int64_t)time(NULL) + TURN_REFRESH_MARGIN_S < n->turn_expires_at)
		return;
	client = n->c.signaling_client(n->c.data);
	if (!client)
		return;
	r.id = n->node_id;
	len = webmesh__v1__turn_credentials_request__pack(&r, buf);
	if (wm_rpc_client_unary(client, P_TURN, buf, len, TURN_CALL_TIMEOUT_MS, NULL, 0,
				turn_cred_cb, n) == 0)
		n->turn_pending = true;
	else
		n->turn_retry_at = uv_now(n->c.loop) + TURN_RETRY_MS;
}
