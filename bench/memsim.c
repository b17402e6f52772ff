/* wm-memsim: N simulated members in one process, for bench/scale at 10,000.
 *
 * Each session does what a plain member's control plane does, on the wire:
 * its own TCP + TLS connection (from its own source address when given
 * --source), GetBootstrapInfo, a Join with its own WireGuard key and a node
 * proof, a SubscribePeers stream, liveness heartbeats and HTTP/2 keepalive
 * PINGs. It configures no WireGuard: it only records when its first peer set
 * arrived (joined) and when a marked change was first seen on its stream.
 *
 * One libuv loop, one thread. Commands on stdin, one per line; every command
 * is answered with one line on stdout:
 *   status              -> "status sessions=N joined=J streaming=S joining=I
 *                          retries=R seen=K msgs=M lag_ms=L" (K sessions
 *                          saw the mark, M messages in all, L the most a
 *                          10 ms timer ran late since the mark)
 *   mark any            -> the next message on each stream counts as seen
 *   mark has PREFIX     -> a message where some peer allows PREFIX counts
 *   mark lacks PREFIX   -> a message where no peer allows PREFIX counts
 *   report PATH         -> writes one line per session to PATH:
 *                          "ID JOINED_NS SEEN_NS READY_NS MSGS BYTES" (unix
 *                          time in ns, 0 = not yet; READY_NS is when the
 *                          loop's poll returned with the marked message's
 *                          bytes, SEEN_NS when it got to them), answers
 *                          "report N"
 *   quit                -> leaves every session and exits
 * Errors go to stderr; a bad command is answered "error ...". */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <sys/resource.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/hostport.h"
#include "core/ids.h"
#include "core/key.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "services/paths.h"
#include "util/crypto.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/node.pb-c.h"

#define MAX_SERVERS 16
#define CALL_TIMEOUT_MS 30000
#define MAX_PREFIX 64

enum step { IDLE, ASKING, JOINING, STREAMING };
enum mark { MARK_NONE, MARK_ANY, MARK_HAS, MARK_LACKS };

struct server {
	char host[64];
	uint16_t port;
};

struct sim;

/* Kept small: 10,000 of these, beside each one's connection. */
struct session {
	struct sim *sim;
	struct wm_rpc_client *client;
	struct wm_rpc_stream *stream;
	uv_timer_t timer; /* retry, then heartbeats */
	uint8_t priv[32];
	uint8_t server_pub[32];
	char server_id[WM_NODE_ID_MAX + 1];
	uint32_t idx;
	uint8_t step;
	bool server_known;
	bool seen;
	uint32_t msgs;
	uint64_t bytes;
	int64_t joined_ns, seen_ns;
	/* when the loop learnt the bytes were there (its poll returned), as
	 * opposed to seen_ns, when it got to them: between the two lies this
	 * process's own backlog, which a member on a machine of its own has not */
	int64_t ready_ns;
};

struct sim {
	uv_loop_t *loop;
	SSL_CTX *tls;
	struct server servers[MAX_SERVERS];
	size_t n_servers;
	const char *prefix;
	uint32_t source_base; /* host order; 0 = none */
	uint32_t keepalive_ms, heartbeat_ms;
	uint32_t window, inflight, next;
	uint32_t count;
	uint32_t first; /* the index of this process's first session */
	struct session *sessions;
	struct wm_node_proof proof; /* valid until the next call goes out */
	uint32_t joined, streaming, retries, seen;
	uint64_t msgs;
	enum mark mark;
	char mark_prefix[MAX_PREFIX];
	uv_pipe_t in;
	uv_timer_t reasons_timer;
	/* how late the loop ran a 10 ms timer, at most, since the last mark:
	 * a busy simulator timestamps messages late (its own backlog) */
	uv_timer_t lag_timer;
	uint64_t lag_due_ms, lag_max_ms;
	int64_t mono_to_real_ns; /* added to the loop's clock gives unix time */
	char line[512];
	size_t line_len;
	bool quitting;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void session_id(const struct session *se, char *out, size_t len)
{
	snprintf(out, len, "%s%05" PRIu32, se->sim->prefix, se->idx + 1);
}

static void start_session(struct session *se);
static void pump(struct sim *sim);

/* A node proof for the server this session asked, as a member sends. */
static size_t session_md(void *data, const char *path, const char *server_fp,
			 struct wm_rpc_metadata *md, size_t max)
{
	(void)server_fp;
	struct session *se = data;
	char id[WM_NODE_ID_MAX + 1];
	if (!se->server_known)
		return 0;
	session_id(se, id, sizeof(id));
	if (wm_node_proof_make(se->priv, id, se->server_id, se->server_pub, path,
			       (int64_t)time(NULL), &se->sim->proof) < 0)
		return 0;
	return wm_node_proof_metadata(&se->sim->proof, md, max);
}

static void retry_cb(uv_timer_t *t)
{
	start_session(t->data);
}

/* Why sessions failed, counted by reason and printed to stderr every few
 * seconds: thousands of sessions would drown any log line by line. */
#define N_REASONS 32
#define REASON_LEN 120
#define REASON_REPORT_MS 5000
static struct {
	char text[REASON_LEN];
	uint32_t count;
} reasons[N_REASONS];
static uint32_t reasons_other;

static void count_reason(const char *what, int status, const char *msg)
{
	char text[REASON_LEN];
	snprintf(text, sizeof(text), "%s: %s: %s", what, wm_grpc_status_name(status),
		 msg ? msg : "");
	/* The same reason from another session differs only in its digits. */
	for (char *p = text; *p; p++)
		if (*p >= '0' && *p <= '9')
			*p = '#';
	for (size_t i = 0; i < N_REASONS; i++) {
		if (!reasons[i].count)
			snprintf(reasons[i].text, REASON_LEN, "%s", text);
		if (strcmp(reasons[i].text, text) == 0) {
			reasons[i].count++;
			return;
		}
	}
	reasons_other++;
}

static void reasons_cb(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < N_REASONS && reasons[i].count; i++) {
		fprintf(stderr, "memsim: %u x %s\n", reasons[i].count, reasons[i].text);
		reasons[i].count = 0;
	}
	if (reasons_other)
		fprintf(stderr, "memsim: %u x other reasons\n", reasons_other);
	reasons_other = 0;
}

/* Drops the connection and tries again after 1-3 s: the server may be
 * overloaded or electing. */
static void session_fail(struct session *se, const char *what, int status, const char *msg)
{
	struct sim *sim = se->sim;
	count_reason(what, status, msg);
	if (se->step == STREAMING)
		sim->streaming--;
	else if (se->step != IDLE)
		sim->inflight--;
	se->step = IDLE;
	if (se->stream) {
		struct wm_rpc_stream *st = se->stream;
		se->stream = NULL;
		wm_rpc_stream_cancel(st);
	}
	if (se->client) {
		wm_rpc_client_free(se->client);
		se->client = NULL;
	}
	sim->retries++;
	uv_timer_stop(&se->timer);
	if (!sim->quitting)
		uv_timer_start(&se->timer, retry_cb, 1000 + (uint64_t)rand() % 2000, 0);
	pump(sim);
}

static bool allows(const Webmesh__V1__PeerConfigurations *pc, const char *prefix)
{
	for (size_t i = 0; i < pc->n_peers; i++)
		for (size_t j = 0; j < pc->peers[i]->n_allowed_ips; j++)
			if (strcmp(pc->peers[i]->allowed_ips[j], prefix) == 0)
				return true;
	return false;
}

static int peers_cb(void *data, const uint8_t *msg, size_t len)
{
	struct session *se = data;
	struct sim *sim = se->sim;
	int64_t t = now_ns();
	Webmesh__V1__PeerConfigurations *pc =
		webmesh__v1__peer_configurations__unpack(NULL, len, msg);
	if (!pc) {
		fprintf(stderr, "memsim: session %" PRIu32 ": malformed PeerConfigurations\n",
			se->idx + 1);
		return 0;
	}
	se->msgs++;
	sim->msgs++;
	se->bytes += len;
	if (!se->joined_ns && pc->n_peers > 0) {
		se->joined_ns = t;
		sim->joined++;
	}
	if (!se->seen && sim->mark != MARK_NONE &&
	    (sim->mark == MARK_ANY || (sim->mark == MARK_HAS) == allows(pc, sim->mark_prefix))) {
		se->seen = true;
		se->seen_ns = t;
		/* uv_now: the loop's time, taken when its poll returned */
		se->ready_ns = (int64_t)uv_now(sim->loop) * 1000000 + sim->mono_to_real_ns;
		if (se->ready_ns > t)
			se->ready_ns = t;
		sim->seen++;
	}
	webmesh__v1__peer_configurations__free_unpacked(pc, NULL);
	return 0;
}

static void peers_close_cb(void *data, int status, const char *message)
{
	struct session *se = data;
	/* session_fail and quit clear stream before they cancel it. */
	bool ours = se->stream == NULL;
	se->stream = NULL;
	if (ours || se->sim->quitting)
		return;
	session_fail(se, "peer stream ended", status, message);
}

static void heartbeat_done_cb(void *data, int status, const char *message, const uint8_t *resp,
			      size_t len)
{
	(void)data;
	(void)resp;
	(void)len;
	/* A lost heartbeat is the stream's to notice (keepalive); count it. */
	if (status != WM_GRPC_OK && status != WM_GRPC_CANCELLED)
		count_reason("heartbeat", status, message);
}

static void heartbeat_cb(uv_timer_t *t)
{
	struct session *se = t->data;
	char id[WM_NODE_ID_MAX + 1];
	uint8_t buf[128];
	if (se->step != STREAMING || !se->client)
		return;
	session_id(se, id, sizeof(id));
	Webmesh__V1__HeartbeatRequest req = WEBMESH__V1__HEARTBEAT_REQUEST__INIT;
	req.id = id;
	size_t len = webmesh__v1__heartbeat_request__pack(&req, buf);
	(void)wm_rpc_client_unary(se->client, WM_METHOD_MEMBERSHIP_HEARTBEAT, buf, len,
				  se->sim->heartbeat_ms, NULL, 0, heartbeat_done_cb, se);
}

static void join_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	(void)resp;
	(void)len;
	struct session *se = data;
	struct sim *sim = se->sim;
	char id[WM_NODE_ID_MAX + 1];
	uint8_t buf[128];
	if (sim->quitting || se->step != JOINING)
		return;
	if (status != WM_GRPC_OK) {
		session_fail(se, "join", status, message);
		return;
	}
	session_id(se, id, sizeof(id));
	Webmesh__V1__SubscribePeersRequest req = WEBMESH__V1__SUBSCRIBE_PEERS_REQUEST__INIT;
	req.id = id;
	size_t n = webmesh__v1__subscribe_peers_request__pack(&req, buf);
	int err = wm_rpc_client_stream(se->client, WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS, buf, n, 0,
				       NULL, 0, peers_cb, peers_close_cb, se, &se->stream);
	if (err) {
		session_fail(se, "subscribe", WM_GRPC_INTERNAL, strerror(-err));
		return;
	}
	se->step = STREAMING;
	sim->inflight--;
	sim->streaming++;
	/* Members beat at a fixed interval from their own start: spread them. */
	uv_timer_start(&se->timer, heartbeat_cb, 1 + (uint64_t)rand() % sim->heartbeat_ms,
		       sim->heartbeat_ms);
	pump(sim);
}

static void send_join(struct session *se)
{
	char id[WM_NODE_ID_MAX + 1];
	char key[WM_KEY_B64_LEN + 1];
	uint8_t pub[32], buf[512];
	session_id(se, id, sizeof(id));
	if (wm_x25519_public(se->priv, pub) < 0) {
		session_fail(se, "key", WM_GRPC_INTERNAL, "no public key");
		return;
	}
	wm_key_to_base64(pub, key);
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	req.id = id;
	req.public_key = key;
	req.listen_port = 51820;
	req.zone = (char *)"";
	req.use_exit_node = (char *)"";
	size_t len = webmesh__v1__join_request__pack(&req, buf);
	se->step = JOINING;
	if (wm_rpc_client_unary(se->client, WM_METHOD_MEMBERSHIP_JOIN, buf, len, CALL_TIMEOUT_MS,
				NULL, 0, join_cb, se) < 0)
		session_fail(se, "join", WM_GRPC_INTERNAL, "cannot send");
}

static void info_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct session *se = data;
	if (se->sim->quitting || se->step != ASKING)
		return;
	Webmesh__V1__BootstrapInfo *info = NULL;
	if (status == WM_GRPC_OK)
		info = webmesh__v1__bootstrap_info__unpack(NULL, len, resp);
	if (!info || wm_node_id_check(info->id, NULL) < 0 ||
	    wm_key_from_base64(info->public_key, se->server_pub) < 0) {
		if (info)
			webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
		session_fail(se, "bootstrap info", status ? status : WM_GRPC_INTERNAL,
			     message ? message : "malformed answer");
		return;
	}
	snprintf(se->server_id, sizeof(se->server_id), "%s", info->id);
	se->server_known = true;
	webmesh__v1__bootstrap_info__free_unpacked(info, NULL);
	send_join(se);
}

static void start_session(struct session *se)
{
	struct sim *sim = se->sim;
	const struct server *srv = &sim->servers[se->idx % sim->n_servers];
	char source[INET_ADDRSTRLEN];
	uint8_t buf[16];
	if (sim->quitting)
		return;
	if (sim->source_base) {
		struct in_addr a = {.s_addr = htonl(sim->source_base + se->idx)};
		inet_ntop(AF_INET, &a, source, sizeof(source));
	}
	struct wm_rpc_client_config cc = {
		.host = srv->host,
		.port = srv->port,
		.tls = sim->tls,
		.source = sim->source_base ? source : NULL,
		.keepalive_ms = sim->keepalive_ms,
		.keepalive_timeout_ms = sim->keepalive_ms ? 1000 : 0,
		.call_metadata = session_md,
		.call_metadata_data = se,
	};
	se->server_known = false;
	sim->inflight++;
	se->step = ASKING;
	int err = wm_rpc_client_new(sim->loop, &cc, &se->client);
	if (err) {
		se->client = NULL;
		session_fail(se, "client", WM_GRPC_INTERNAL, strerror(-err));
		return;
	}
	Webmesh__V1__GetBootstrapInfoRequest req = WEBMESH__V1__GET_BOOTSTRAP_INFO_REQUEST__INIT;
	size_t len = webmesh__v1__get_bootstrap_info_request__pack(&req, buf);
	if (wm_rpc_client_unary(se->client, WM_METHOD_NODE_GET_BOOTSTRAP_INFO, buf, len,
				CALL_TIMEOUT_MS, NULL, 0, info_cb, se) < 0)
		session_fail(se, "bootstrap info", WM_GRPC_INTERNAL, "cannot send");
}

/* Starts sessions never started, at most `window` of them between start
 * and stream: the servers answer joins one Raft entry at a time. */
static void pump(struct sim *sim)
{
	while (!sim->quitting && sim->next < sim->count && sim->inflight < sim->window)
		start_session(&sim->sessions[sim->next++]);
}

/* ---- commands ---- */

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

#define LAG_TICK_MS 10

static void lag_cb(uv_timer_t *t)
{
	struct sim *sim = t->data;
	uint64_t now = uv_now(sim->loop);
	if (sim->lag_due_ms && now > sim->lag_due_ms && now - sim->lag_due_ms > sim->lag_max_ms)
		sim->lag_max_ms = now - sim->lag_due_ms;
	sim->lag_due_ms = now + LAG_TICK_MS;
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void quit(struct sim *sim)
{
	if (sim->quitting)
		return;
	sim->quitting = true;
	for (uint32_t i = 0; i < sim->count; i++) {
		struct session *se = &sim->sessions[i];
		if (se->stream) {
			struct wm_rpc_stream *st = se->stream;
			se->stream = NULL;
			wm_rpc_stream_cancel(st);
		}
		if (se->client)
			wm_rpc_client_free(se->client);
		se->client = NULL;
		uv_close((uv_handle_t *)&se->timer, close_cb);
	}
	uv_close((uv_handle_t *)&sim->in, close_cb);
	reasons_cb(&sim->reasons_timer);
	uv_close((uv_handle_t *)&sim->reasons_timer, close_cb);
	uv_close((uv_handle_t *)&sim->lag_timer, close_cb);
}

static void report(struct sim *sim, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		reply("error cannot write %s: %s", path, strerror(errno));
		return;
	}
	for (uint32_t i = 0; i < sim->count; i++) {
		const struct session *se = &sim->sessions[i];
		char id[WM_NODE_ID_MAX + 1];
		session_id(se, id, sizeof(id));
		fprintf(f, "%s %" PRId64 " %" PRId64 " %" PRId64 " %" PRIu32 " %" PRIu64 "\n", id,
			se->joined_ns, se->seen ? se->seen_ns : 0, se->seen ? se->ready_ns : 0,
			se->msgs, se->bytes);
	}
	if (fclose(f) != 0) {
		reply("error cannot write %s: %s", path, strerror(errno));
		return;
	}
	reply("report %" PRIu32, sim->count);
}

static void command(struct sim *sim, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(line, "status") == 0) {
		reply("status sessions=%" PRIu32 " joined=%" PRIu32 " streaming=%" PRIu32
		      " joining=%" PRIu32 " retries=%" PRIu32 " seen=%" PRIu32 " msgs=%" PRIu64
		      " lag_ms=%" PRIu64,
		      sim->count, sim->joined, sim->streaming, sim->inflight, sim->retries,
		      sim->seen, sim->msgs, sim->lag_max_ms);
	} else if (strcmp(line, "mark") == 0 && arg) {
		char *pfx = strchr(arg, ' ');
		if (pfx)
			*pfx++ = '\0';
		enum mark m = strcmp(arg, "any") == 0	  ? MARK_ANY
			      : strcmp(arg, "has") == 0	  ? MARK_HAS
			      : strcmp(arg, "lacks") == 0 ? MARK_LACKS
							  : MARK_NONE;
		if (m == MARK_NONE ||
		    (m != MARK_ANY && (!pfx || !*pfx || strlen(pfx) >= MAX_PREFIX))) {
			reply("error mark wants any, has PREFIX or lacks PREFIX");
			return;
		}
		snprintf(sim->mark_prefix, sizeof(sim->mark_prefix), "%s", pfx ? pfx : "");
		sim->mark = m;
		for (uint32_t i = 0; i < sim->count; i++)
			sim->sessions[i].seen = false;
		sim->seen = 0;
		sim->lag_max_ms = 0;
		reply("marked");
	} else if (strcmp(line, "report") == 0 && arg && *arg) {
		report(sim, arg);
	} else if (strcmp(line, "quit") == 0) {
		reply("bye");
		quit(sim);
	} else {
		reply("error unknown command \"%.40s\"", line);
	}
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	(void)h;
	static char b[1024];
	(void)size;
	*buf = uv_buf_init(b, sizeof(b));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct sim *sim = s->data;
	if (n < 0) {
		quit(sim); /* stdin closed: the bench is gone */
		return;
	}
	for (ssize_t i = 0; i < n && !sim->quitting; i++) {
		char c = buf->base[i];
		if (c == '\n') {
			sim->line[sim->line_len] = '\0';
			sim->line_len = 0;
			command(sim, sim->line);
		} else if (sim->line_len + 1 < sizeof(sim->line)) {
			sim->line[sim->line_len++] = c;
		}
	}
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: wm-memsim --join HOST:PORT[,HOST:PORT...] --count N\n"
		   "       [--insecure-skip-verify | --ca-file FILE] [--prefix sim]\n"
		   "       [--source IPV4] [--window 100] [--keepalive-ms 1000]\n"
		   "       [--heartbeat-ms 5000] [--first 0]\n"
		   "Session i (0-based, counted from --first: several processes can\n"
		   "share a mesh's sessions) joins through server i mod the number\n"
		   "given, as node PREFIX%%05d of i + 1, from address IPV4 + i if\n"
		   "--source is given.\n");
}

static int parse_uint(const char *s, const char *what, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr,
			"memsim: %s \"%s\" is not a number from %" PRIu32 " to %" PRIu32 "\n", what,
			s, min, max);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_servers(struct sim *sim, const char *arg)
{
	char *copy = strdup(arg), *save = NULL;
	int err = 0;
	if (!copy)
		return -ENOMEM;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct server *s = &sim->servers[sim->n_servers];
		struct in6_addr a;
		if (sim->n_servers == MAX_SERVERS ||
		    wm_hostport_split(t, s->host, sizeof(s->host), &s->port) < 0 || !s->port ||
		    (inet_pton(AF_INET, s->host, &a) != 1 &&
		     inet_pton(AF_INET6, s->host, &a) != 1)) {
			fprintf(stderr, "memsim: --join \"%s\" is not ADDRESS:PORT (at most %d)\n",
				t, MAX_SERVERS);
			err = -EINVAL;
			break;
		}
		sim->n_servers++;
	}
	free(copy);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"join", required_argument, NULL, 'j'},
		{"count", required_argument, NULL, 'n'},
		{"insecure-skip-verify", no_argument, NULL, 'k'},
		{"ca-file", required_argument, NULL, 'c'},
		{"prefix", required_argument, NULL, 'p'},
		{"source", required_argument, NULL, 's'},
		{"window", required_argument, NULL, 'w'},
		{"keepalive-ms", required_argument, NULL, 'a'},
		{"heartbeat-ms", required_argument, NULL, 'b'},
		{"first", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct sim sim = {
		.prefix = "sim", .window = 100, .keepalive_ms = 1000, .heartbeat_ms = 5000};
	bool insecure = false;
	const char *ca = NULL;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'j':
			if (parse_servers(&sim, optarg) < 0)
				return 2;
			break;
		case 'n':
			if (parse_uint(optarg, "--count", 1, 1000000, &sim.count) < 0)
				return 2;
			break;
		case 'k':
			insecure = true;
			break;
		case 'c':
			ca = optarg;
			break;
		case 'p':
			sim.prefix = optarg;
			break;
		case 's': {
			struct in_addr a;
			if (inet_pton(AF_INET, optarg, &a) != 1) {
				fprintf(stderr, "memsim: --source \"%s\" is no IPv4 address\n",
					optarg);
				return 2;
			}
			sim.source_base = ntohl(a.s_addr);
			break;
		}
		case 'w':
			if (parse_uint(optarg, "--window", 1, 100000, &sim.window) < 0)
				return 2;
			break;
		case 'a':
			if (parse_uint(optarg, "--keepalive-ms", 0, 3600000, &sim.keepalive_ms) < 0)
				return 2;
			break;
		case 'b':
			if (parse_uint(optarg, "--heartbeat-ms", 100, 3600000, &sim.heartbeat_ms) <
			    0)
				return 2;
			break;
		case 'f':
			if (parse_uint(optarg, "--first", 0, 1000000, &sim.first) < 0)
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || !sim.n_servers || !sim.count || insecure == (ca != NULL)) {
		usage(stderr);
		return 2;
	}
	char probe[WM_NODE_ID_MAX + 16];
	snprintf(probe, sizeof(probe), "%s%05" PRIu32, sim.prefix, sim.first + sim.count);
	if (wm_node_id_check(probe, NULL) < 0) {
		fprintf(stderr, "memsim: --prefix \"%s\" makes invalid node IDs (%s)\n", sim.prefix,
			probe);
		return 2;
	}
	if (sim.source_base && (uint64_t)sim.source_base + sim.first + sim.count > UINT32_MAX) {
		fprintf(stderr, "memsim: --source + --count leaves IPv4\n");
		return 2;
	}
	/* One descriptor per session, and some to spare. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < sim.count + 64ull) {
		rl.rlim_cur = rl.rlim_max < sim.count + 64ull ? rl.rlim_max : sim.count + 64ull;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < sim.count + 64ull) {
			fprintf(stderr,
				"memsim: %" PRIu32 " sessions need %" PRIu32
				" file descriptors; the hard limit is %llu (ulimit -n)\n",
				sim.count, sim.count + 64, (unsigned long long)rl.rlim_max);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	char err[256];
	struct wm_tls_client_opts to = {.ca_file = ca, .insecure_skip_verify = insecure};
	sim.tls = wm_tls_client_ctx_new(&to, err, sizeof(err));
	if (!sim.tls) {
		fprintf(stderr, "memsim: TLS: %s\n", err);
		return 2;
	}
	sim.sessions = calloc(sim.count, sizeof(*sim.sessions));
	if (!sim.sessions) {
		fprintf(stderr, "memsim: out of memory\n");
		return 2;
	}
	uint32_t seed;
	if (wm_random(&seed, sizeof(seed)) < 0) {
		fprintf(stderr, "memsim: no randomness\n");
		return 2;
	}
	srand(seed);
	sim.loop = uv_default_loop();
	/* uv_now counts in ms of the monotonic clock that uv_hrtime reads */
	sim.mono_to_real_ns = now_ns() - (int64_t)uv_hrtime();
	for (uint32_t i = 0; i < sim.count; i++) {
		struct session *se = &sim.sessions[i];
		se->sim = &sim;
		se->idx = sim.first + i;
		/* Its own WireGuard key, as every member generates. */
		if (wm_random(se->priv, sizeof(se->priv)) < 0) {
			fprintf(stderr, "memsim: no randomness\n");
			return 2;
		}
		uv_timer_init(sim.loop, &se->timer);
		se->timer.data = se;
	}
	uv_pipe_init(sim.loop, &sim.in, 0);
	sim.in.data = &sim;
	if (uv_pipe_open(&sim.in, 0) < 0 ||
	    uv_read_start((uv_stream_t *)&sim.in, alloc_cb, read_cb) < 0) {
		fprintf(stderr, "memsim: stdin must be a pipe\n");
		return 2;
	}
	uv_timer_init(sim.loop, &sim.reasons_timer);
	uv_timer_start(&sim.reasons_timer, reasons_cb, REASON_REPORT_MS, REASON_REPORT_MS);
	uv_timer_init(sim.loop, &sim.lag_timer);
	sim.lag_timer.data = &sim;
	uv_timer_start(&sim.lag_timer, lag_cb, LAG_TICK_MS, LAG_TICK_MS);
	pump(&sim);
	uv_run(sim.loop, UV_RUN_DEFAULT);
	for (uint32_t i = 0; i < sim.count; i++)
		wm_wipe(sim.sessions[i].priv, sizeof(sim.sessions[i].priv));
	free(sim.sessions);
	SSL_CTX_free(sim.tls);
	uv_loop_close(sim.loop);
	return 0;
}
