/* libFuzzer harness for the embedded WireGuard's UAPI set parser (requests
 * from the local UAPI socket). Whatever it accepts must be a valid update:
 * one preshared-key slot per peer, every allowed IP a valid prefix with its
 * host bits cleared, an endpoint whenever HAS_ENDPOINT is set. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "core/net.h"
#include "wg/embedded/uapi_srv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_wg_device *u = NULL;
	struct wgu_psk *psks = NULL;
	char err[128];

	if (wgu_parse_set((const char *)data, size, &u, &psks, err, sizeof(err)) != 0) {
		if (u || psks)
			abort();
		return 0;
	}
	for (size_t i = 0; i < u->n_peers; i++) {
		const struct wm_wg_peer *p = &u->peers[i];

		if ((p->flags & WM_WGPEER_HAS_ENDPOINT) && !p->endpoint.ip.family)
			abort();
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			struct wm_prefix n = wm_prefix_network(&p->allowed_ips[j]);

			if (!wm_prefix_equal(&n, &p->allowed_ips[j]))
				abort();
		}
		(void)psks[i].set;
	}
	wgu_psks_free(psks, u->n_peers);
	wm_wg_device_free(u);
	return 0;
}
