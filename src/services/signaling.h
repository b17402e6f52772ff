/* The Signaling service (proto/webmesh/v1/signaling.proto): servers relay ICE
 * offers and answers between nodes that cannot reach each other directly,
 * keeping the signals of a node that is not listening in a bounded mailbox,
 * and hand members short-lived TURN credentials (coturn's shared-secret
 * scheme) so that no long-term TURN secret sits on them.
 *
 * Who may call: the auth gate (gate.c) decides; these methods pass only for
 * the node named in field 1 itself (Signal.from, ReceiveSignalsRequest.id,
 * TurnCredentialsRequest.id), with no RBAC override. The handlers check that
 * both nodes of a signal are in the mesh. Plain members (no store) relay
 * nothing: FAILED_PRECONDITION.
 */
#ifndef WM_SERVICES_SIGNALING_H
#define WM_SERVICES_SIGNALING_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"

struct wm_services;

struct wm_signaling_config {
	const char *turn_secret;      /* coturn static-auth-secret; NULL: hand out nothing */
	const char *const *turn_urls; /* turn:HOST[:PORT] as members should use them */
	size_t n_turn_urls;
	uint32_t turn_ttl_s; /* credential lifetime, 60 s .. 30 days */
};

/* Sets what GetTurnCredentials hands out (copied; the secret is wiped when s
 * is freed). Call after wm_services_new. -EINVAL (ttl, too many URLs),
 * -ENOMEM. */
int wm_signaling_configure(struct wm_services *s, const struct wm_signaling_config *c);

/* Bounds the signals kept for absent nodes in all (0 = the defaults of
 * core/mailbox.h), besides the per-node bounds. -ENOMEM. */
int wm_signaling_set_limits(struct wm_services *s, size_t max_messages, size_t max_bytes);

/* Handlers, registered in services.c. */
void wm_signaling_send(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_signaling_receive(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_signaling_turn_credentials(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				   void *data);

/* Ends every ReceiveSignals stream (wm_services_stop). */
void wm_signaling_stop(struct wm_services *s);
/* Frees the mailboxes and the configuration (wm_services_free). */
void wm_signaling_free(struct wm_services *s);

#endif
