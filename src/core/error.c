/* Text for the errors every module returns: -errno or one of our -WM_E* codes. */
#include <limits.h>
#include <string.h>

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const wm_messages[] = {
	[WM_ENOTLEADER - WM_EBASE] = "this node is not the Raft leader",
	[WM_EEXHAUSTED - WM_EBASE] = "no free address left in the network",
	[WM_EKEYMISMATCH - WM_EBASE] = "the node ID is registered with another public key",
	[WM_ENOMESH - WM_EBASE] = "the mesh has not been bootstrapped yet",
	[WM_EPROTOCOL - WM_EBASE] = "protocol violation by the peer",
	[WM_ERPC - WM_EBASE] = "remote call failed",
	[WM_ECONFIG - WM_EBASE] = "invalid configuration",
	[WM_ELOCKED - WM_EBASE] = "the state directory is used by another daemon",
	[WM_EVERSION - WM_EBASE] = "the mesh runs an older command version than this write needs",
};

const char *wm_strerror(int err)
{
	int e;

	if (err == 0)
		return "success";
	if (err == INT_MIN)
		return "unknown error";
	e = err < 0 ? -err : err;
	if (e > WM_EBASE && e < WM_ELAST)
		return wm_messages[e - WM_EBASE];
	if (e >= WM_EBASE)
		return "unknown webmesh error";
	/* strerror() is not thread-safe in general, but glibc returns static
	 * strings for known codes; strerrordesc_np would avoid the locale but is
	 * glibc-only. */
	return strerror(e);
}

void wm_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
