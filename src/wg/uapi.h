/* The WireGuard cross-platform configuration protocol (UAPI): pure text
 * encoding and parsing, and the unix-socket I/O that carries it.
 *
 * Text facts (wireguard-go): keys are lowercase hex; "set=1" lines apply as
 * they are parsed (not atomically); replace_peers / replace_allowed_ips /
 * remove / update_only only accept "true"; endpoints are numeric; every reply
 * ends with "errno=N" and a blank line, N being 0 or a negative errno. */
#ifndef WM_WG_UAPI_H
#define WM_WG_UAPI_H

#include <stddef.h>

#include "core/wgconf.h"

/* Largest reply we accept from a UAPI socket (a get of ~100k peers fits). */
#define WM_UAPI_MAX_REPLY (64u << 20)

/* Encodes dev (a full config or a partial update, every flag honoured) as a
 * "set=1\n...\n\n" request. *out is malloc'd and NUL-terminated, *outlen
 * excludes the NUL. The text holds the private key when HAS_PRIVATE_KEY is
 * set: wm_wipe it before free. -EINVAL when a flag asks for a value that is
 * missing or invalid (HAS_ENDPOINT without an address, a bad prefix). */
int wm_uapi_encode_set(const struct wm_wg_device *dev, char **out, size_t *outlen);

/* Parses the reply to a set or to anything that only answers "errno=N\n\n".
 * Returns 0, the (negative) errno the daemon reported, or -WM_EPROTOCOL when
 * the text is not exactly one errno line and the terminating blank line. */
int wm_uapi_parse_errno(const char *buf, size_t len);

/* Parses a "get=1" reply into a new device named name (peers sorted). Keys the
 * protocol may add later are ignored; known keys are validated strictly.
 * Returns 0, the negative errno the daemon reported (*out NULL), -ENOMEM, or
 * -WM_EPROTOCOL for malformed text (err, if not NULL, says which line; it
 * never contains key material). */
int wm_uapi_parse_get(const char *buf, size_t len, const char *name, struct wm_wg_device **out,
		      char *err, size_t errlen);

/* Socket I/O: blocking with a timeout per read/write (it is a local socket).
 * The socket is dir/ifname.sock. */

/* Connects; returns the fd or a negative errno (-ENOENT: no socket file;
 * -ECONNREFUSED: a stale socket nobody listens on). */
int wm_uapi_connect(const char *dir, const char *ifname);
/* Sends dev as one set request and reads the errno reply. */
int wm_uapi_set(const char *dir, const char *ifname, const struct wm_wg_device *dev);
/* Reads the device back; derives the public key from the private key. */
int wm_uapi_get(const char *dir, const char *ifname, struct wm_wg_device **out, char *err,
		size_t errlen);
/* Writes all of buf, looping over partial writes; -EPIPE if the peer closed. */
int wm_uapi_write_all(int fd, const char *buf, size_t len);
/* The socket path into buf: -ENAMETOOLONG when it does not fit sun_path. */
int wm_uapi_sock_path(const char *dir, const char *ifname, char *buf, size_t len);

#endif
