/* wmctl's one call to a node: local socket by default, TLS with --server. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "core/hostport.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "util/pbjson.h"

ProtobufCMessage *wm_cli_call(const struct wm_cli *c, const char *method,
			      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc)
{
	uv_loop_t loop;
	SSL_CTX *tls = NULL;
	struct wm_rpc_client *client = NULL;
	ProtobufCMessage *result = NULL;
	char host[256], err[256] = "";
	const char *target = c->server ? c->server : c->socket;
	struct wm_rpc_client_config cc = {0};
	uv_loop_init(&loop);
	if (c->server) {
		if (wm_hostport_split(c->server, host, sizeof(host), &cc.port) < 0) {
			fprintf(stderr, "wmctl: --server \"%s\" is not HOST:PORT\n", c->server);
			goto out;
		}
		struct wm_tls_client_opts o = {
			.ca_file = c->ca_file,
			.pin_fingerprint = c->fingerprint,
			.insecure_skip_verify = c->insecure,
			.verify_name = c->server_name,
		};
		tls = wm_tls_client_ctx_new(&o, err, sizeof(err));
		if (!tls) {
			fprintf(stderr, "wmctl: %s\n", err);
			goto out;
		}
		cc.host = host;
		cc.tls = tls;
		cc.server_name = c->server_name;
	} else {
		cc.unix_path = c->socket;
	}
	if (wm_rpc_client_new(&loop, &cc, &client) < 0) {
		fprintf(stderr, "wmctl: cannot create a client for %s\n", target);
		goto out;
	}
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(len + 1);
	if (!buf)
		goto out;
	protobuf_c_message_pack(req, buf);
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *message = NULL;
	int status = wm_rpc_client_unary_sync(client, &loop, method, buf, len, c->timeout_ms, &resp,
					      &resp_len, &message);
	free(buf);
	if (status != WM_GRPC_OK) {
		fprintf(stderr, "wmctl: %s on %s failed: %s: %s\n", method, target,
			wm_grpc_status_name(status), message ? message : "");
		if (status == WM_GRPC_UNAVAILABLE && !c->server)
			fprintf(stderr, "wmctl: is webmeshd running? (socket %s)\n", c->socket);
	} else {
		result = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
		if (!result)
			fprintf(stderr, "wmctl: %s on %s returned a malformed answer\n", method,
				target);
	}
	free(resp);
	free(message);
out:
	if (client)
		wm_rpc_client_free(client);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	SSL_CTX_free(tls);
	return result;
}

void wm_cli_print_json(const ProtobufCMessage *msg)
{
	struct wm_strbuf b;
	wm_strbuf_init(&b);
	wm_pbjson_write(&b, msg, 0);
	char *s = wm_strbuf_take(&b);
	if (s)
		puts(s);
	free(s);
}
