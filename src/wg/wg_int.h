/* The device handle shared by the front end (wg.c) and its backends. */
#ifndef WM_WG_WG_INT_H
#define WM_WG_WG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "wg/wg.h"

struct wggo;
struct wge_dev;

struct wm_wg {
	uv_loop_t *loop;
	enum wm_wg_backend backend; /* resolved: never WM_WG_AUTO */
	char ifname[WM_IFNAMSIZ];
	char uapi_dir[96];
	char wireguard_go[256];
	char *null_record_path; /* owned */
	void (*restarted_cb)(void *data);
	void *data;

	uint16_t family_id;	       /* kernel */
	struct wm_wg_device *null_dev; /* null: the device as applied so far */
	unsigned long null_sets;
	struct wggo *go;     /* userspace */
	struct wge_dev *emb; /* embedded */
	unsigned emb_workers;

	void (*done_cb)(void *data);
	void *done_data;
};

/* null.c */
int wm_wg_null_open(struct wm_wg *wg);
int wm_wg_null_set(struct wm_wg *wg, const struct wm_wg_device *dev);
int wm_wg_null_get(struct wm_wg *wg, struct wm_wg_device **out);
void wm_wg_null_close(struct wm_wg *wg);

/* wggo.c: spawn and supervise wireguard-go. open waits (bounded, blocking)
 * for its UAPI socket; close is asynchronous and ends in wm_wg_free_done. */
int wm_wg_go_open(struct wm_wg *wg, char *err, size_t errlen);
int wm_wg_go_set(struct wm_wg *wg, const struct wm_wg_device *dev);
int wm_wg_go_get(struct wm_wg *wg, struct wm_wg_device **out);
int wm_wg_go_pid(const struct wm_wg *wg);
void wm_wg_go_close(struct wm_wg *wg);

/* embedded.c: our own WireGuard on a thread, configured over its UAPI socket. */
int wm_wg_emb_open(struct wm_wg *wg, char *err, size_t errlen);
int wm_wg_emb_set(struct wm_wg *wg, const struct wm_wg_device *dev);
int wm_wg_emb_get(struct wm_wg *wg, struct wm_wg_device **out);
void wm_wg_emb_close(struct wm_wg *wg);

/* wg.c: frees wg and calls its done_cb (the last step of every close). */
void wm_wg_free_done(struct wm_wg *wg);

#endif
