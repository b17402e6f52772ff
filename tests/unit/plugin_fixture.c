/* Tiny plugin tables for test_plugin_abi.c, one .so per FIXTURE value. */
#include <errno.h>
#include <stddef.h>

#include "webmesh/plugin.h"

static int init(const struct webmesh_plugin_init_args *args, void **state, char *msg, size_t msglen)
{
	(void)args, (void)msg, (void)msglen;
	*state = NULL;
	return 0;
}

static int alloc_fn(void *state, const struct webmesh_ipam_request *req, char *addr, size_t addrlen,
		    char *msg, size_t msglen)
{
	(void)state, (void)req, (void)addr, (void)addrlen, (void)msg, (void)msglen;
	return -ENOSPC;
}

static int release_fn(void *state, const char *node_id, const char *address, char *msg,
		      size_t msglen)
{
	(void)state, (void)node_id, (void)address, (void)msg, (void)msglen;
	return 0;
}

static const struct webmesh_ipam_ops ipam_ops = {
	.size = sizeof(struct webmesh_ipam_ops),
	.allocate = alloc_fn,
#if FIXTURE != 4
	.release = release_fn,
#endif
};

#if FIXTURE != 5
__attribute__((visibility("default"))) const struct webmesh_plugin webmesh_plugin = {
#if FIXTURE == 2
	.abi = WEBMESH_PLUGIN_ABI + 1,
#else
	.abi = WEBMESH_PLUGIN_ABI,
#endif
#if FIXTURE == 3
	.size = offsetof(struct webmesh_plugin, ipam),
#else
	.size = sizeof(struct webmesh_plugin),
#endif
	.name = "fixture",
	.version = "0",
	.capabilities = WEBMESH_PLUGIN_CAP_IPAM,
	.init = init,
	.ipam = &ipam_ops,
};
#else
/* no webmesh_plugin table, only its parts */
__attribute__((visibility("default")))
const void *webmesh_not_a_plugin[] = {(void *)init, &ipam_ops};
#endif
/* release_fn is unused in fixture 4 */
__attribute__((visibility("default"))) void *webmesh_fixture_keep = (void *)release_fn;
