/* Offering a signal to the other servers of the mesh (signal_fanout.c). */
#ifndef WM_SERVICES_SIGNAL_FANOUT_H
#define WM_SERVICES_SIGNAL_FANOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_services;
struct wm_identity;

/* delivered: some server handed the signal to a stream of its node. */
typedef void (*wm_signal_fanout_done_cb)(void *data, bool delivered);

/* Sends the packed Signal req (for node to) to every other server, on
 * behalf of caller (the gate's identity of the call; NULL: anonymous) with
 * this server's node proof for each; done runs once all have answered (or
 * timed out). -ENOENT: no other server to ask (done will not run), -EPERM:
 * caller cannot be forwarded, -ENOMEM. */
int wm_signal_fanout(struct wm_services *s, const struct wm_identity *caller, const char *to,
		     const uint8_t *req, size_t len, wm_signal_fanout_done_cb done, void *data);
/* Closes the clients to the other servers (their calls end first). */
void wm_signal_fanout_free(struct wm_services *s);

#endif
