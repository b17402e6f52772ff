/* wmctl delete node and wmctl allow node: an administrator removes a node
 * from the mesh (it stays denied, issue 10) and re-admits it. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "services/paths.h"

int wm_cmd_delete_node(const struct wm_cli *c)
{
	if (c->n_args != 2) {
		fprintf(stderr, "usage: wmctl delete node NODE\n");
		return 2;
	}
	if (wm_cli_check_node_id("node ID", c->args[1]) < 0)
		return 2;
	Webmesh__V1__LeaveRequest req = WEBMESH__V1__LEAVE_REQUEST__INIT;
	req.id = c->args[1];
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_MEMBERSHIP_LEAVE, &req.base,
					  &webmesh__v1__leave_response__descriptor);
	if (!m)
		return 1;
	protobuf_c_message_free_unpacked(m, NULL);
	printf("removed node %s; it is denied until: wmctl allow node %s\n", c->args[1],
	       c->args[1]);
	return 0;
}

int wm_cmd_allow(const struct wm_cli *c)
{
	if (c->n_args != 2 || strcmp(c->args[0], "node") != 0) {
		fprintf(stderr, "usage: wmctl allow node NODE\n");
		return 2;
	}
	if (wm_cli_check_node_id("node ID", c->args[1]) < 0)
		return 2;
	Webmesh__V1__AllowNodeRequest req = WEBMESH__V1__ALLOW_NODE_REQUEST__INIT;
	char done[128];
	req.node_id = c->args[1];
	snprintf(done, sizeof(done), "node %s may join again", c->args[1]);
	return wm_cli_write(c, WM_METHOD_ADMIN_ALLOW_NODE, &req.base, done);
}
