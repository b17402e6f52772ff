/* wmctl's one call to a node: local socket by default, TLS with --server. */
#include "cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "auth/auth.h"
#include "core/hostport.h"
#include "core/key.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "util/pbjson.h"

/* The password from --basic-auth-password-file (first line) or the flag. */
static char *read_password(const struct wm_cli *c)
{
	if (!c->basic_password_file) {
		if (c->basic_password)
			fprintf(stderr, "wmctl: warning: --basic-auth-password is readable by every "
					"local user in /proc/PID/cmdline; use "
					"--basic-auth-password-file FILE (mode 0600)\n");
		return c->basic_password ? strdup(c->basic_password) : NULL;
	}
	FILE *f = fopen(c->basic_password_file, "r");
	if (!f) {
		fprintf(stderr, "wmctl: cannot read %s\n", c->basic_password_file);
		return NULL;
	}
	char line[1024];
	char *pw = NULL;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		pw = strdup(line);
	}
	wm_wipe(line, sizeof(line));
	fclose(f);
	if (!pw)
		fprintf(stderr, "wmctl: %s is empty\n", c->basic_password_file);
	return pw;
}

/* Credentials for a call to a remote node; 0, or -1 after printing why. */
static int client_credentials(const struct wm_cli *c, struct wm_auth_client *ac)
{
	char err[256] = "";
	char *pw = NULL;
	memset(ac, 0, sizeof(*ac));
	if (c->basic_user || c->basic_password || c->basic_password_file) {
		pw = read_password(c);
		if (!pw)
			return -1;
	}
	int r = wm_auth_client_init(ac, c->basic_user, pw, c->key_file, err, sizeof(err));
	if (pw) {
		wm_wipe(pw, strlen(pw));
		free(pw);
	}
	if (r < 0) {
		fprintf(stderr, "wmctl: %s\n", err[0] ? err : "cannot load the credentials");
		return -1;
	}
	return 0;
}

struct creds_ctx {
	struct wm_auth_client *ac;
	const char *key_id;
};

/* Made as the call goes out, for the server the handshake reached. */
static size_t creds_md(void *data, const char *path, const char *server_fp,
		       struct wm_rpc_metadata *md, size_t max)
{
	struct creds_ctx *x = data;
	(void)path;
	return wm_auth_client_metadata(x->ac, x->key_id, server_fp, (int64_t)time(NULL), md, max);
}

ProtobufCMessage *wm_cli_call(const struct wm_cli *c, const char *method,
			      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc)
{
	struct wm_auth_client ac;
	struct creds_ctx creds = {&ac, c->key_id ? c->key_id : ""};
	bool have_ac = false;
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
			.cert_file = c->tls_cert,
			.key_file = c->tls_key,
		};
		if (client_credentials(c, &ac) < 0)
			goto out;
		have_ac = true;
		cc.call_metadata = creds_md;
		cc.call_metadata_data = &creds;
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
	int status = wm_rpc_client_unary_sync(client, &loop, method, buf, len, c->timeout_ms, NULL,
					      0, &resp, &resp_len, &message);
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
	if (have_ac)
		wm_auth_client_free(&ac);
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
