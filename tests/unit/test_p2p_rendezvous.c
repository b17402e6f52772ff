/* Unit tests for src/p2p/rendezvous.c: the DHT key and the proofs against
 * values Python's hashlib/hmac computed from rendezvous.h's definitions; on
 * real hosts over loopback, a peer that announces the key without knowing
 * the secret is never joined through, and the real server is, its pipe
 * carrying bytes both ways to its "API" (an echo server here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "looprun.h"
#include "p2p/dht.h"
#include "p2p/host.h"
#include "p2p/rendezvous.h"

#define SECRET "correct horse battery staple 42"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_derivations(void **state)
{
	uint8_t key[WM_RDV_KEY_LEN], k[32], proof[32], nonce[32];
	struct wm_peer_id s = {{0, 36, 8, 1, 18, 32}}, j = {{0, 36, 8, 1, 18, 32}};
	char text[80];
	(void)state;

	wm_rdv_dht_key(SECRET, key);
	assert_int_equal(key[0], 0x12);
	assert_int_equal(key[1], 0x20);
	hex(key + 2, 32, text);
	assert_string_equal(text,
			    "a6a34f326f573b6c303b391ee0f4af1bf063e2f8144cd950d2d24a5a35d30a8b");
	for (int i = 0; i < 32; i++) {
		s.b[6 + i] = (uint8_t)(i + 1);
		j.b[6 + i] = 0xaa;
	}
	memset(nonce, 7, sizeof(nonce));
	wm_rdv_hmac_key(SECRET, k);
	/* The HMAC key is not the DHT key: one cannot be had from the other. */
	assert_memory_not_equal(k, key + 2, 32);
	assert_int_equal(wm_rdv_proof(k, "server", nonce, &s, &j, proof), 0);
	hex(proof, 32, text);
	assert_string_equal(text,
			    "4595e8f4ea973ecc055873658c5e3f14e26414bdd6fa6204f2f9602cb3f2fb21");
	assert_int_equal(wm_rdv_proof(k, "joiner", nonce, &s, &j, proof), 0);
	hex(proof, 32, text);
	assert_string_equal(text,
			    "96809107eb40c111586cbce9a9e1b42d4047754f07f2db31e84c41d48ddad31a");
}

/* ---- on hosts ---- */

static char dir[] = "/tmp/wm-p2p-rdv-XXXXXX";

struct node {
	struct wm_p2p *h;
	struct wm_dht *d;
	struct wm_rdv *r;
	char addr[300];
};

static void start(uv_loop_t *loop, struct node *n, const char *name, char *peer,
		  const char *announce, const char *api)
{
	char key[256], err[512] = "";
	char *listen[] = {"/ip4/127.0.0.1/tcp/0"};
	char *peers[] = {peer};
	struct wm_p2p_config c = {
		.loop = loop,
		.key_path = key,
		.listen = listen,
		.nlisten = 1,
		.peers = peers,
		.npeers = peer ? 1 : 0,
		.max_conns = 16,
		.max_streams = 16,
		.log_level = getenv("WM_TEST_DEBUG") ? 0 : 3,
	};
	struct wm_dht_config dc = {.query_timeout_ms = 2000, .lookup_timeout_ms = 5000};
	struct wm_p2p_status st;

	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	if (wm_p2p_new(&c, &n->h, err, sizeof(err)))
		fail_msg("wm_p2p_new %s: %s", name, err);
	assert_int_equal(wm_dht_new(n->h, &dc, &n->d), 0);
	struct wm_rdv_config rc = {
		.host = n->h, .dht = n->d, .announce_secret = announce, .api_addr = api};
	n->r = NULL;
	/* "silent" speaks the protocol its own way (below). */
	if (strcmp(name, "silent") && wm_rdv_new(&rc, &n->r, err, sizeof(err)))
		fail_msg("wm_rdv_new %s: %s", name, err);
	wm_p2p_status(n->h, &st);
	snprintf(n->addr, sizeof(n->addr), "%s/p2p/%s", st.listen[0], st.peer_id);
}

static int closed;

static void dht_done(void *data)
{
	(void)data;
	closed++;
}

static void rdv_done(void *data)
{
	struct node *n = data;
	wm_dht_free(n->d, dht_done, NULL);
}

static void host_done(void *data)
{
	struct node *n = data;
	wm_rdv_free(n->r, rdv_done, n);
}

static void stop(struct node *n)
{
	wm_rdv_stop(n->r);
	wm_dht_stop(n->d);
	wm_p2p_free(n->h, host_done, n);
}

static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms)
{
	return wm_test_loop_until(loop, pred, arg, ms);
}

/* The server's "API": echoes what it reads. */
static uv_tcp_t echo_srv, echo_conn;

static void echo_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(s);
	b->len = s;
}

static void echo_written(uv_write_t *w, int status)
{
	(void)status;
	free(w->data);
	free(w);
}

static void echo_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	if (n > 0) {
		uv_write_t *w = malloc(sizeof(*w));
		uv_buf_t o = uv_buf_init(b->base, (unsigned)n);
		w->data = b->base;
		uv_write(w, st, &o, 1, echo_written);
		return;
	}
	free(b->base);
	if (n < 0)
		uv_close((uv_handle_t *)st, NULL);
}

static void echo_accept(uv_stream_t *s, int status)
{
	(void)status;
	uv_tcp_init(s->loop, &echo_conn);
	uv_accept(s, (uv_stream_t *)&echo_conn);
	uv_read_start((uv_stream_t *)&echo_conn, echo_alloc, echo_read);
}

struct joined {
	char hostport[64];
	int calls;
};

static void on_joined(void *ud, const char *hostport)
{
	struct joined *j = ud;
	snprintf(j->hostport, sizeof(j->hostport), "%s", hostport);
	j->calls++;
}

static bool is_joined(void *arg)
{
	return ((struct joined *)arg)->calls > 0;
}

/* The joiner's side of the pipe: a TCP client that sends and reads back. */
static uv_tcp_t client;
static uv_connect_t client_req;
static char got[64];
static size_t ngot;

static void client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	if (n > 0 && ngot + (size_t)n < sizeof(got)) {
		memcpy(got + ngot, b->base, (size_t)n);
		ngot += (size_t)n;
	}
	free(b->base);
	if (n < 0)
		uv_read_stop(st);
}

static void client_connected(uv_connect_t *req, int status)
{
	static uv_write_t w;
	static char msg[] = "hello through the pipe";
	uv_buf_t b = uv_buf_init(msg, sizeof(msg) - 1);

	assert_int_equal(status, 0);
	uv_write(&w, req->handle, &b, 1, NULL);
	uv_read_start(req->handle, echo_alloc, client_read);
}

static bool echoed(void *arg)
{
	(void)arg;
	return ngot == strlen("hello through the pipe");
}

/* An impostor that takes the stream and never answers. */
static void silent_data(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)s;
	(void)buf;
	(void)len;
}

static void silent_stream(void *ud, struct wm_p2p_stream *s)
{
	(void)ud;
	(void)s;
}

static const struct wm_p2p_stream_cb silent_cb = {
	.data = silent_data,
	.fin = silent_stream,
	.gone = silent_stream,
};

static int silent_accept(void *arg, struct wm_p2p_stream *s, const struct wm_p2p_stream_cb **cb,
			 void **ud)
{
	(void)arg;
	(void)s;
	*cb = &silent_cb;
	*ud = NULL;
	return 0;
}

static void test_impostor_then_server(void **state)
{
	uv_loop_t loop;
	struct node boot, fake, real, joiner;
	struct joined j = {0};
	struct sockaddr_in sin;
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	char api[64];
	uint8_t key[WM_RDV_KEY_LEN];
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	uv_ip4_addr("127.0.0.1", 0, &sin);
	uv_tcp_init(&loop, &echo_srv);
	assert_int_equal(uv_tcp_bind(&echo_srv, (struct sockaddr *)&sin, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&echo_srv, 4, echo_accept), 0);
	uv_tcp_getsockname(&echo_srv, (struct sockaddr *)&ss, &sl);
	snprintf(api, sizeof(api), "127.0.0.1:%u",
		 (unsigned)ntohs(((struct sockaddr_in *)&ss)->sin_port));

	start(&loop, &boot, "boot", NULL, NULL, NULL);
	/* The impostor saw the DHT key only: it announces it, with a secret
	 * of its own for the proof. */
	wm_rdv_dht_key(SECRET, key);
	start(&loop, &fake, "fake", boot.addr, "not the mesh's secret at all", api);
	assert_int_equal(wm_dht_provide(fake.d, key, sizeof(key)), 0);
	/* Another takes the stream and never answers: the joiner's probe
	 * ends after 10 s and it goes on looking. */
	struct node silent;
	start(&loop, &silent, "silent", boot.addr, NULL, NULL);
	assert_int_equal(wm_p2p_handle(silent.h, WM_RDV_PROTOCOL, silent_accept, NULL), 0);
	assert_int_equal(wm_dht_provide(silent.d, key, sizeof(key)), 0);
	start(&loop, &joiner, "joiner", boot.addr, NULL, NULL);
	assert_int_equal(wm_rdv_join(joiner.r, "short", on_joined, &j), -EINVAL);
	assert_int_equal(wm_rdv_join(joiner.r, SECRET, on_joined, &j), 0);
	assert_int_equal(wm_rdv_join(joiner.r, SECRET, on_joined, &j), -EBUSY);
	assert_false(run_until(&loop, is_joined, &j, 4000));

	/* The real server: joined through it, and its pipe works. */
	start(&loop, &real, "real", boot.addr, SECRET, api);
	assert_true(run_until(&loop, is_joined, &j, 25000));
	assert_int_equal(j.calls, 1);
	assert_non_null(strstr(j.hostport, "127.0.0.1:"));
	uv_ip4_addr("127.0.0.1", atoi(strchr(j.hostport, ':') + 1), &sin);
	uv_tcp_init(&loop, &client);
	assert_int_equal(
		uv_tcp_connect(&client_req, &client, (struct sockaddr *)&sin, client_connected), 0);
	assert_true(run_until(&loop, echoed, NULL, 10000));
	assert_memory_equal(got, "hello through the pipe", ngot);

	uv_close((uv_handle_t *)&client, NULL);
	uv_close((uv_handle_t *)&echo_srv, NULL);
	if (!uv_is_closing((uv_handle_t *)&echo_conn))
		uv_close((uv_handle_t *)&echo_conn, NULL);
	stop(&joiner);
	stop(&real);
	stop(&fake);
	stop(&silent);
	stop(&boot);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed, 5);
	assert_int_equal(uv_loop_close(&loop), 0);
	const char *names[] = {"boot", "fake", "joiner", "real", "silent"};
	for (int i = 0; i < 5; i++) {
		char f[256];
		snprintf(f, sizeof(f), "%s/%s.key", dir, names[i]);
		unlink(f);
	}
	rmdir(dir);
}

int main(void)
{
	/* As webmeshd: a peer that closes first is an error code, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_derivations),
		cmocka_unit_test(test_impostor_then_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
