/* A node's WireGuard peers computed from the store: the one place where the
 * graph becomes peer configurations, for Join, subscriptions and servers. */
#include "services/services_int.h"

#include "services/peercache.h"

int wm_services_peer_config(struct wm_store *store, const char *node_id, struct wm_arena *a,
			    Webmesh__V1__PeerConfigurations *out)
{
	return wm_peercache_config_once(store, node_id, a, out);
}
