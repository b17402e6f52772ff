/* libFuzzer harness: what the etcd provider reads from etcd and from its
 * flags: node and mesh records (values under /webmesh/<mesh>/, which anyone
 * with write access to etcd could have put there), endpoint URL lists and
 * key names.
 *
 * Not part of the default build: `make fuzz` builds it with every harness.
 *
 * Checks beyond "no crash": an accepted node record encodes again to a
 * record that decodes to the same node (the store rewrites what it read);
 * an accepted URL list has 1 to 16 endpoints with a port.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "etcd/layout.h"
#include "etcd/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_node(const uint8_t *data, size_t size)
{
	static struct wm_mesh_info m;
	static int init;
	struct wm_mesh_node n, back;
	uint8_t *v;
	size_t len;

	if (!init) {
		wm_prefix_parse("10.1.0.0/16", &m.ipv4_network);
		wm_prefix_parse("fd12:3456:789a::/48", &m.ipv6_network);
		init = 1;
	}
	if (wm_etcd_node_decode(&m, data, size, &n) < 0)
		return;
	if (wm_etcd_node_encode(&n, &v, &len) < 0)
		abort();
	if (wm_etcd_node_decode(&m, v, len, &back) < 0 || strcmp(back.id, n.id) != 0 ||
	    !wm_prefix_equal(&back.ipv4, &n.ipv4) || !wm_prefix_equal(&back.ipv6, &n.ipv6) ||
	    back.n_endpoints != n.n_endpoints || back.n_routes != n.n_routes)
		abort();
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct wm_etcd_endpoint e[WM_ETCD_MAX_ENDPOINTS];
	struct wm_mesh_info mi;
	const char *why;
	char bad[64], key[WM_ETCD_KEY_MAX], err[256];
	uint32_t first, last, a;
	size_t n;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (wm_etcd_endpoints_parse(text, e, WM_ETCD_MAX_ENDPOINTS, &n, &why, bad, sizeof(bad)) ==
	    0) {
		if (n < 1 || n > WM_ETCD_MAX_ENDPOINTS)
			abort();
		for (size_t i = 0; i < n; i++)
			if (e[i].port == 0 || !e[i].host[0])
				abort();
	}
	for (int k = WM_ETCD_KEY_NODE; k <= WM_ETCD_KEY_LEASE_V6; k++)
		if (wm_etcd_key("m", (enum wm_etcd_kind)k, text, key, sizeof(key)) == 0 &&
		    strstr(key + strlen("/webmesh/m/"), "/../"))
			abort();
	(void)wm_etcd_v4_parse(text, size, &a);
	(void)wm_etcd_mesh_decode(data, size, &mi, &first, &last, err, sizeof(err));
	check_node(data, size);
	free(text);
	return 0;
}
