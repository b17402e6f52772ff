/* The WireGuard device: one front end, backends chosen at run time.
 *
 * kernel:    generic netlink (libmnl) to the wireguard module;
 * userspace: wireguard-go started and supervised by us, configured over UAPI;
 * embedded:  our own WireGuard in this process, on a thread (src/wg/embedded).
 * null:      records what it would configure (dry runs, control-plane benchmarks).
 * auto:      kernel if the module answers, else embedded.
 */
#ifndef WM_WG_WG_H
#define WM_WG_WG_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/wgconf.h"

enum wm_wg_backend {
	WM_WG_AUTO = 0,
	WM_WG_KERNEL,
	WM_WG_USERSPACE,
	WM_WG_NULL,
	WM_WG_EMBEDDED,
};
/* "auto", "kernel", "userspace", "null", "embedded" -> enum; -EINVAL otherwise. */
int wm_wg_backend_parse(const char *s, enum wm_wg_backend *out);

struct wm_wg;

struct wm_wg_config {
	const char *ifname; /* "webmesh0" */
	enum wm_wg_backend backend;
	const char *wireguard_go;     /* path or name of wireguard-go, default "wireguard-go" */
	const char *uapi_dir;	      /* default "/run/wireguard" */
	unsigned workers;	      /* embedded: crypto threads, 0 = one per CPU but one */
	const char *null_record_path; /* null backend: write each applied config here (text),
					 optional */
	/* userspace: called after wireguard-go was restarted by the supervisor; the
	 * device is empty again and the caller must re-apply its full config. */
	void (*restarted_cb)(void *data);
	void *data;
};

/* Creates the interface (does not set addresses or bring it up: see src/sys).
 * For userspace, spawns `wireguard-go -f IFNAME` on loop and waits (bounded:
 * 5 s, blocking, before the loop runs) until its UAPI socket answers; a stale
 * socket left by a killed predecessor is removed first, and a live one is
 * -EEXIST. On failure err says why; a child that was started is reaped and
 * its handles closed once loop runs again. wireguard-go's output goes to the
 * log (src/util/log.h): its "ERROR:" lines at info, the rest at debug. */
int wm_wg_open(uv_loop_t *loop, const struct wm_wg_config *cfg, struct wm_wg **out, char *err,
	       size_t errlen);
/* Applies a full config or a partial update (see core/wgconf.h flags). Big
 * peer sets are sent in chunks. Synchronous. Userspace: -EAGAIN while the
 * supervisor restarts wireguard-go (restarted_cb follows), -ESRCH once it gave
 * up (after 6 consecutive failed runs), else the daemon's -errno. */
int wm_wg_set(struct wm_wg *wg, const struct wm_wg_device *dev);
/* Reads the device back (peers sorted; public_key filled, derived from the
 * private key where the backend does not report it). *out is the caller's
 * (wm_wg_device_free). */
int wm_wg_get(struct wm_wg *wg, struct wm_wg_device **out);
const char *
wm_wg_backend_name(const struct wm_wg *wg); /* "kernel", "userspace", "null", "embedded" */
const char *wm_wg_ifname(const struct wm_wg *wg);
/* PID of wireguard-go, or 0. */
int wm_wg_helper_pid(const struct wm_wg *wg);
/* Deletes the interface (stops wireguard-go: SIGTERM, then SIGKILL after 2 s)
 * and frees wg once its loop handles are closed. done_cb may be NULL. The
 * kernel and null backends finish (and call done_cb) before returning; the
 * userspace one once the loop has seen wireguard-go exit. */
void wm_wg_close(struct wm_wg *wg, void (*done_cb)(void *data), void *data);

#endif
