/* Error codes shared by every module: 0 or a negative errno, plus our own range. */
#ifndef WM_CORE_ERROR_H
#define WM_CORE_ERROR_H

/*
 * Functions return 0 on success or a negative error: either -errno (EINVAL,
 * ENOENT, EEXIST, ENOMEM, ...) or -WM_E* from the range below, which errno never
 * uses. wm_strerror() takes the negative value and never returns NULL.
 */
enum {
	WM_EBASE = 4096,
	WM_ENOTLEADER,	 /* this node cannot apply a write: it is not the Raft leader */
	WM_EEXHAUSTED,	 /* no free address left in the network */
	WM_EKEYMISMATCH, /* the node ID is registered with another public key */
	WM_ENOMESH,	 /* the mesh has not been bootstrapped yet */
	WM_EPROTOCOL,	 /* a peer sent something the protocol does not allow */
	WM_ERPC,	 /* a remote call failed; the message says why */
	WM_ECONFIG,	 /* a configuration key or value is invalid */
	WM_ELOCKED,	 /* the state directory is used by another daemon */
	WM_EVERSION,	 /* the mesh runs an older command version than a write needs */
	WM_ELAST
};

const char *wm_strerror(int err);

#include <stddef.h>

/* Writes a message into a caller's (err, errlen) buffer, the way functions
 * here report what went wrong; nothing when err is NULL or errlen 0. */
__attribute__((format(printf, 3, 4))) void wm_seterr(char *err, size_t errlen, const char *fmt,
						     ...);

#endif
