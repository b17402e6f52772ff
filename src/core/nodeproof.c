/* Node proofs: the MACed message. */
#include "core/nodeproof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/ids.h"
#include "core/keyauth.h"

/* A gRPC method path as HTTP/2 carries it; anything else in the message
 * could make two different requests MAC the same bytes. */
static int path_check(const char *path)
{
	size_t n = path ? strlen(path) : 0;

	if (n < 2 || n > WM_NODEPROOF_PATH_MAX || path[0] != '/')
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f)
			return -EINVAL;
	return 0;
}

int wm_nodeproof_message(const char *node_id, const char *audience, int64_t window,
			 const char *path, char *out, size_t len)
{
	int n;

	if (!node_id || wm_node_id_check(node_id, NULL) < 0 || !audience ||
	    wm_node_id_check(audience, NULL) < 0 || wm_keyauth_window(window) != window ||
	    path_check(path) < 0)
		return -EINVAL;
	n = snprintf(out, len, WM_NODEPROOF_LABEL "\n%s\n%s\n%" PRId64 "\n%s", node_id, audience,
		     window, path);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
