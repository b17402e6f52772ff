/* The server side of the UAPI text protocol (wireguard-go's "set=1" and
 * "get=1"): parsing a set request into an update, before anything is
 * applied, so that a bad request changes nothing. Pure text. */
#ifndef WM_WG_EMBEDDED_UAPI_SRV_H
#define WM_WG_EMBEDDED_UAPI_SRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/wgconf.h"

/* A preshared key per peer of the update, in the same order (wm_wg_peer has
 * none: the mesh uses none, but `wg set` may). */
struct wgu_psk {
	bool set;
	uint8_t key[32];
};

/* Limits of one request, so that a request's memory is bounded. */
#define WGU_MAX_PEERS 65536
#define WGU_MAX_ALLOWED_IPS (1u << 20)

/* Parses the body of a set request (the lines after "set=1", up to but not
 * including the blank line; buf need not be NUL-terminated). On success *upd
 * (a partial update in wgconf.h's terms, peers in request order) and *psks
 * (one per peer) are the caller's: wm_wg_device_free and wgu_psks_free.
 * Returns 0, -ENOMEM, or -EINVAL with err naming the line's key (never a
 * value: it may be a key). */
int wgu_parse_set(const char *buf, size_t len, struct wm_wg_device **upd, struct wgu_psk **psks,
		  char *err, size_t errlen);
void wgu_psks_free(struct wgu_psk *psks, size_t n);

#endif
