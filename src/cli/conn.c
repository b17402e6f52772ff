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
			fprintf(stderr,
				"wmctl: warning: --basic-auth-password is readable by every "
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

/* One connection for one call: the loop, TLS and credentials it needs. */
struct session {
	uv_loop_t loop;
	struct wm_auth_client ac;
	bool have_ac;
	const char *key_id;
	SSL_CTX *tls;
	struct wm_rpc_client *client;
	const char *target;
	char host[256];
};

/* Made as the call goes out, for the server the handshake reached: key-auth
 * signatures name its certificate. */
static size_t creds_md(void *data, const char *path, const char *server_fp,
		       struct wm_rpc_metadata *md, size_t max)
{
	struct session *s = data;
	(void)path;
	return wm_auth_client_metadata(&s->ac, s->key_id, server_fp, (int64_t)time(NULL), md, max);
}

/* 0, or -1 after printing why (close the session either way). */
static int session_open(const struct wm_cli *c, struct session *s)
{
	char err[256] = "";
	struct wm_rpc_client_config cc = {0};

	memset(s, 0, sizeof(*s));
	uv_loop_init(&s->loop);
	s->target = c->server ? c->server : c->socket;
	if (c->server) {
		if (wm_hostport_split(c->server, s->host, sizeof(s->host), &cc.port) < 0) {
			fprintf(stderr, "wmctl: --server \"%s\" is not HOST:PORT\n", c->server);
			return -1;
		}
		struct wm_tls_client_opts o = {
			.ca_file = c->ca_file,
			.pin_fingerprint = c->fingerprint,
			.insecure_skip_verify = c->insecure,
			.verify_name = c->server_name,
			.cert_file = c->tls_cert,
			.key_file = c->tls_key,
		};
		if (client_credentials(c, &s->ac) < 0)
			return -1;
		s->have_ac = true;
		s->key_id = c->key_id ? c->key_id : "";
		cc.call_metadata = creds_md;
		cc.call_metadata_data = s;
		s->tls = wm_tls_client_ctx_new(&o, err, sizeof(err));
		if (!s->tls) {
			fprintf(stderr, "wmctl: %s\n", err);
			return -1;
		}
		cc.host = s->host;
		cc.tls = s->tls;
		cc.server_name = c->server_name;
	} else {
		cc.unix_path = c->socket;
	}
	if (wm_rpc_client_new(&s->loop, &cc, &s->client) < 0) {
		fprintf(stderr, "wmctl: cannot create a client for %s\n", s->target);
		return -1;
	}
	return 0;
}

static void session_close(struct session *s)
{
	if (s->client)
		wm_rpc_client_free(s->client);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	uv_loop_close(&s->loop);
	SSL_CTX_free(s->tls);
	if (s->have_ac)
		wm_auth_client_free(&s->ac);
}

static void print_failure(const struct wm_cli *c, const struct session *s, const char *method,
			  int status, const char *message)
{
	fprintf(stderr, "wmctl: %s on %s failed: %s: %s\n", method, s->target,
		wm_grpc_status_name(status), message ? message : "");
	if (status == WM_GRPC_UNAVAILABLE && !c->server)
		fprintf(stderr, "wmctl: is webmeshd running? (socket %s)\n", c->socket);
}

static uint8_t *pack(const ProtobufCMessage *req, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(req);
	uint8_t *buf = malloc(*len + 1);
	if (buf)
		protobuf_c_message_pack(req, buf);
	return buf;
}

ProtobufCMessage *wm_cli_call(const struct wm_cli *c, const char *method,
			      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc)
{
	struct session s;
	ProtobufCMessage *result = NULL;
	size_t len;
	uint8_t *buf = NULL;

	if (session_open(c, &s) < 0 || !(buf = pack(req, &len))) {
		session_close(&s);
		return NULL;
	}
	uint8_t *resp = NULL;
	size_t resp_len = 0;
	char *message = NULL;
	int status = wm_rpc_client_unary_sync(s.client, &s.loop, method, buf, len, c->timeout_ms,
					      NULL, 0, &resp, &resp_len, &message);
	free(buf);
	if (status != WM_GRPC_OK) {
		print_failure(c, &s, method, status, message);
	} else {
		result = protobuf_c_message_unpack(desc, NULL, resp_len, resp);
		if (!result)
			fprintf(stderr, "wmctl: %s on %s returned a malformed answer\n", method,
				s.target);
	}
	free(resp);
	free(message);
	session_close(&s);
	return result;
}

struct stream_wait {
	const ProtobufCMessageDescriptor *desc;
	int (*on_message)(void *data, const ProtobufCMessage *msg);
	void *data;
	bool done, malformed;
	int status;
	char *message;
};

static int stream_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct stream_wait *w = data;
	ProtobufCMessage *m = protobuf_c_message_unpack(w->desc, NULL, len, msg);

	if (!m) {
		w->malformed = true;
		return 1;
	}
	int stop = w->on_message(w->data, m);
	protobuf_c_message_free_unpacked(m, NULL);
	return stop;
}

static void stream_close_cb(void *data, int status, const char *message)
{
	struct stream_wait *w = data;

	w->done = true;
	w->status = status;
	w->message = message ? strdup(message) : NULL;
}

int wm_cli_stream(const struct wm_cli *c, const char *method, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *desc,
		  int (*on_message)(void *data, const ProtobufCMessage *msg), void *data)
{
	struct session s;
	struct stream_wait w = {.desc = desc, .on_message = on_message, .data = data};
	struct wm_rpc_stream *st = NULL;
	size_t len;
	uint8_t *buf = NULL;
	int rc = -1;

	if (session_open(c, &s) < 0 || !(buf = pack(req, &len))) {
		session_close(&s);
		return -1;
	}
	if (wm_rpc_client_stream(s.client, method, buf, len, c->timeout_ms, NULL, 0, stream_msg_cb,
				 stream_close_cb, &w, &st) < 0) {
		fprintf(stderr, "wmctl: cannot call %s on %s\n", method, s.target);
	} else {
		while (!w.done && uv_run(&s.loop, UV_RUN_ONCE))
			;
		if (w.malformed)
			fprintf(stderr, "wmctl: %s on %s returned a malformed answer\n", method,
				s.target);
		else if (!w.done || w.status != WM_GRPC_OK)
			print_failure(c, &s, method, w.done ? w.status : WM_GRPC_UNAVAILABLE,
				      w.message);
		else
			rc = 0;
	}
	free(buf);
	session_close(&s); /* a stream still open ends now (close_cb) */
	free(w.message);
	return rc;
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
