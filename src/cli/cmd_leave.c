/* wmctl leave: this node leaves the mesh for good and its daemon stops. */
#include "cli/cli.h"

#include <stdio.h>

#include "webmesh/v1/node.pb-c.h"
#include "services/paths.h"

int wm_cmd_leave(const struct wm_cli *c)
{
	if (c->server) {
		fprintf(stderr, "wmctl: leave works on the local node only (no --server)\n");
		return 2;
	}
	Webmesh__V1__LeaveMeshRequest req = WEBMESH__V1__LEAVE_MESH_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_NODE_LEAVE_MESH, &req.base,
					  &webmesh__v1__leave_mesh_response__descriptor);
	if (!m)
		return 1;
	protobuf_c_message_free_unpacked(m, NULL);
	printf("left the mesh; webmeshd is stopping\n");
	return 0;
}
