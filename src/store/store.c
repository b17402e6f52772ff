/* The replicated store: libraft on libuv driving the SQLite FSM; writes, barriers, reads, status.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "store/authz.h"
#include "store/lock.h"
#include "store/raft_transport.h"
#include "store/store_int.h"

struct apply_req {
	struct raft_apply raft; /* .data points back here */
	struct wm_store *s;
	wm_store_apply_cb cb;
	void *data;
	struct wm_store_result res;
	struct apply_req *prev, *next;
};

struct barrier_req {
	struct raft_barrier raft;
	struct wm_store *s;
	wm_store_apply_cb cb;
	void *data;
	/* A write refused before it reached the log: reported through the
	 * barrier so that cb still runs after wm_store_apply has returned. */
	int refuse;
	char message[sizeof(((struct wm_store_result *)0)->message)];
};

/* Results go straight into the waiting request, so nothing is shared between
 * the FSM hook and the apply callback however libraft orders them. */
static struct wm_store_result *result_for(void *owner, uint64_t index)
{
	struct wm_store *s = owner;

	for (struct apply_req *a = s->pending; a; a = a->next) {
		if (a->raft.index == index)
			return &a->res;
	}
	return NULL;
}

static void pending_unlink(struct wm_store *s, struct apply_req *a)
{
	if (a->prev)
		a->prev->next = a->next;
	else if (s->pending == a)
		s->pending = a->next;
	if (a->next)
		a->next->prev = a->prev;
	a->prev = a->next = NULL;
}

void wm_store_node_of(struct wm_store *s, uint64_t raft_id, char *out, size_t len)
{
	out[0] = '\0';
	if (raft_id == 0)
		return;
	if (raft_id == s->raft_id)
		snprintf(out, len, "%s", s->node_id);
	else
		wm_fsm_node_by_raft_id(s->fsm, raft_id, out, len);
}

/* libraft 0.15's uv backend calls its close callback every time a pending
 * operation ends after close began, not once: a segment being finalized
 * when the store closes (fast on tmpfs) made raft's close run twice, the
 * second time on freed memory. Only the first report reaches raft. */
static void io_closed_once_cb(struct raft_io *io)
{
	struct wm_store *s = (struct wm_store *)((char *)io - offsetof(struct wm_store, io));

	if (s->io_closed)
		return;
	s->io_closed = true;
	s->io_closed_cb(io);
}

/* libraft 0.15's leader truncates its in-memory log for every append that
 * ends with an error, and the close of its uv backend ends each queued append
 * with RAFT_CANCELED: with two or more queued (a busy leader stopped), the
 * second releases entries the first one's truncation already dropped, and
 * raft_close reads a NULL entry reference (found by
 * tests/unit/store_conform.c with five applies in flight). While the store
 * closes, a cancelled append is reported to raft as done: raft is past
 * leading by then (its callers got RAFT_LEADERSHIPLOST, ours -ECANCELED), a
 * leader and a follower alike only drop their references to the entries,
 * and what is on disk is what the backend wrote, nothing more. */
struct append_wrap {
	struct wm_store *s;
	void *data; /* raft's own req->data, given back before its callback */
	raft_io_append_cb cb;
};

static void io_append_done(struct raft_io_append *req, int status)
{
	struct append_wrap *w = req->data;
	struct wm_store *s = w->s;
	raft_io_append_cb cb = w->cb;

	req->data = w->data;
	free(w);
	if (status == RAFT_CANCELED && s->closing)
		status = 0;
	cb(req, status);
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
		     const struct raft_entry entries[], unsigned n, raft_io_append_cb cb)
{
	struct wm_store *s = (struct wm_store *)((char *)io - offsetof(struct wm_store, io));
	struct append_wrap *w = malloc(sizeof(*w));
	int rv;

	if (!w)
		return RAFT_NOMEM;
	*w = (struct append_wrap){.s = s, .data = req->data, .cb = cb};
	req->data = w;
	rv = s->io_append(io, req, entries, n, io_append_done);
	if (rv != 0) {
		req->data = w->data;
		free(w);
	}
	return rv;
}

static void io_close(struct raft_io *io, void (*cb)(struct raft_io *io))
{
	struct wm_store *s = (struct wm_store *)((char *)io - offsetof(struct wm_store, io));

	s->io_closed_cb = cb;
	s->io_close(io, io_closed_once_cb);
}

/* A store kept until the process exits (close_cb), reachable from here so
 * that a leak checker (make integration-asan) does not report what is kept
 * on purpose; volatile, so the compiler keeps the store to it. */
static struct wm_store *volatile kept_until_exit;

static void close_cb(struct raft *r)
{
	struct wm_store *s = r->data;
	void (*done_cb)(void *) = s->done_cb;
	void *done_data = s->done_data;

	wm_fsm_close(s->fsm);
	s->fsm = NULL;
	wm_store_unlock(s->lock_fd);
	/* A process about to exit keeps what libraft may still touch (see
	 * store.h); the state is already on disk and the lock released. The
	 * kept store stays reachable (kept_until_exit). */
	if (s->exiting) {
		kept_until_exit = s;
	} else {
		raft_uv_close(&s->io);
		wm_raft_transport_free(&s->transport);
		free(s);
	}
	if (done_cb)
		done_cb(done_data);
}

static int check_config(const struct wm_store_config *cfg, char *err, size_t errlen)
{
	struct wm_endpoint ep;
	const char *why = NULL;
	unsigned hb = cfg->heartbeat_ms ? cfg->heartbeat_ms : 100;
	unsigned el = cfg->election_ms ? cfg->election_ms : 1000;

	if (!cfg->dir || !*cfg->dir) {
		wm_seterr(err, errlen, "no state directory given");
		return -WM_ECONFIG;
	}
	if (wm_node_id_check(cfg->node_id, &why) < 0) {
		wm_seterr(err, errlen, "invalid node ID for raft: %s", why);
		return -WM_ECONFIG;
	}
	/* libraft's TCP transport takes IPv4 literals only. */
	if (!cfg->raft_address || wm_endpoint_parse(cfg->raft_address, &ep) < 0 ||
	    ep.ip.family != AF_INET || strlen(cfg->raft_address) >= 64) {
		wm_seterr(err, errlen, "invalid raft address \"%.64s\" (want IPv4:port)",
			  cfg->raft_address ? cfg->raft_address : "");
		return -WM_ECONFIG;
	}
	if (!cfg->wg_private_key || !cfg->peer_lookup) {
		wm_seterr(err, errlen,
			  "raft needs the node's WireGuard private key and a peer lookup "
			  "to authenticate its connections");
		return -WM_ECONFIG;
	}
	if (hb >= el) {
		wm_seterr(
			err, errlen,
			"raft heartbeat timeout (%u ms) must be shorter than the election timeout "
			"(%u ms)",
			hb, el);
		return -WM_ECONFIG;
	}
	return 0;
}

static int make_dir(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		int r = -errno;
		wm_seterr(err, errlen, "create %s: %s", path, strerror(errno));
		return r;
	}
	return 0;
}

/* Binds the raft address once and lets go. raft_bootstrap writes the address
 * into the first configuration for good, before raft_start would find out it
 * cannot listen there; a typo must not leave a cluster bootstrapped at it. */
static int probe_listen(const char *address, char *err, size_t errlen)
{
	struct wm_endpoint ep;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int fd, one = 1, r = 0;

	if (wm_endpoint_parse(address, &ep) < 0)
		return -EINVAL;
	memcpy(&sa.sin_addr, ep.ip.addr, 4);
	sa.sin_port = htons(ep.port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* As libuv binds: TIME_WAIT leftovers of a previous run do not count. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		r = -errno;
		wm_seterr(err, errlen, "raft cannot listen on %s: %s", address, strerror(errno));
	}
	close(fd);
	return r;
}

/* Everything after raft_init: settings, bootstrap on a pristine dir, start. */
static int start_raft(struct wm_store *s, const struct wm_store_config *cfg, char *err,
		      size_t errlen)
{
	struct raft_configuration conf;
	int rv;

	raft_set_heartbeat_timeout(&s->raft, cfg->heartbeat_ms ? cfg->heartbeat_ms : 100);
	raft_set_election_timeout(&s->raft, cfg->election_ms ? cfg->election_ms : 1000);
	/* Followers refuse votes while they still count the old leader as live,
	 * so without pre-vote the first follower to time out burns its own vote
	 * on a doomed election and the next one meets a split vote: a lost
	 * leader then costs two or three election rounds instead of one. A
	 * pre-vote spends no vote and no term. */
	raft_set_pre_vote(&s->raft, true);
	raft_set_snapshot_threshold(&s->raft,
				    cfg->snapshot_threshold ? cfg->snapshot_threshold : 1024);
	raft_set_snapshot_trailing(&s->raft, cfg->snapshot_trailing ? cfg->snapshot_trailing : 128);
	rv = probe_listen(s->address, err, errlen);
	if (rv < 0)
		return rv;
	if (cfg->bootstrap) {
		raft_configuration_init(&conf);
		rv = raft_configuration_add(&conf, s->raft_id, s->address, RAFT_VOTER);
		for (size_t i = 0; rv == 0 && i < cfg->n_initial; i++)
			rv = raft_configuration_add(&conf, wm_store_raft_id(cfg->initial_ids[i]),
						    cfg->initial_addresses[i], RAFT_VOTER);
		if (rv == 0)
			rv = raft_bootstrap(&s->raft, &conf);
		raft_configuration_close(&conf);
		/* CANTBOOTSTRAP: the directory already holds raft state, which is
		 * the normal restart of a bootstrapped node: resume it. */
		if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
			wm_seterr(err, errlen, "raft bootstrap in %s: %s", cfg->dir,
				  raft_errmsg(&s->raft));
			return wm_store_raft_err(rv);
		}
	}
	rv = raft_start(&s->raft);
	if (rv != 0) {
		wm_seterr(err, errlen, "start raft on %s (dir %s): %s", s->address, cfg->dir,
			  raft_errmsg(&s->raft));
		return wm_store_raft_err(rv);
	}
	return 0;
}

int wm_store_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen)
{
	char path[4096];
	struct wm_store *s;
	int r, rv;

	*out = NULL;
	r = check_config(cfg, err, errlen);
	if (r < 0)
		return r;
	if (strlen(cfg->dir) > sizeof(path) - 16) {
		wm_seterr(err, errlen, "state directory path is too long");
		return -ENAMETOOLONG;
	}
	/* libraft writes to peers' sockets; a peer going away must not kill us.
	 * A signal's disposition is the process's, and setting it twice is
	 * harmless: no flag needed. */
	signal(SIGPIPE, SIG_IGN);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->lock_fd = -1;
	snprintf(s->node_id, sizeof(s->node_id), "%s", cfg->node_id);
	snprintf(s->address, sizeof(s->address), "%s", cfg->raft_address);
	s->raft_id = wm_store_raft_id(cfg->node_id);

	r = make_dir(cfg->dir, err, errlen);
	if (r == 0)
		r = wm_store_lock(cfg->dir, &s->lock_fd, err, errlen);
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/raft", cfg->dir);
		r = make_dir(path, err, errlen);
	}
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/state.db", cfg->dir);
		r = wm_fsm_open(path, &s->fsm, err, errlen);
	}
	if (r < 0)
		goto fail;
	wm_store_fsm_init(&s->glue, s->fsm);
	s->glue.result_for = result_for;
	s->glue.owner = s;
	s->glue.log = wm_store_log;
	s->glue.log_data = s;

	/* A dead peer's connection must fail within a few election timeouts,
	 * not TCP's minutes (TCP_USER_TIMEOUT): libraft never reads from the
	 * connections it opens, so it would not notice otherwise. */
	unsigned election = cfg->election_ms ? cfg->election_ms : 1000;
	struct wm_raft_transport_config tc = {
		.loop = loop,
		.node_id = cfg->node_id,
		.wg_private_key = cfg->wg_private_key,
		.identify = wm_store_identify,
		.log = cfg->log ? wm_store_log : NULL,
		.data = s,
		.user_timeout_ms = 3 * election,
		.handshake_timeout_ms = 3 * election,
	};
	s->peer_lookup = cfg->peer_lookup;
	s->log = cfg->log;
	s->peer_data = cfg->peer_data;
	r = wm_raft_transport_init(&s->transport, &tc, err, errlen);
	if (r < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/raft", cfg->dir);
	rv = raft_uv_init(&s->io, loop, path, &s->transport);
	if (rv != 0) {
		wm_seterr(err, errlen, "raft storage in %s: %s", path, s->io.errmsg);
		r = wm_store_raft_err(rv);
		wm_raft_transport_free(&s->transport);
		goto fail;
	}
	/* A peer that was away is retried this often (libraft's default is 1 s):
	 * with the transport's short SYN timeout, a voter is back in Raft
	 * within about a second of being reachable, however long it was gone. */
	raft_uv_set_connect_retry_delay(&s->io, 200);
	s->io_close = s->io.close;
	s->io.close = io_close;
	s->io_append = s->io.append;
	s->io.append = io_append;
	s->exiting = cfg->exiting;
	rv = raft_init(&s->raft, &s->io, &s->glue.raft_fsm, s->raft_id, s->address);
	if (rv != 0) {
		/* raft_init fails before the I/O backend owns any handle. */
		wm_seterr(err, errlen, "raft init in %s: %s", path, raft_errmsg(&s->raft));
		r = wm_store_raft_err(rv);
		raft_uv_close(&s->io);
		wm_raft_transport_free(&s->transport);
		goto fail;
	}
	s->raft.data = s;
	s->glue.raft = &s->raft;
	r = start_raft(s, cfg, err, errlen);
	if (r < 0) {
		/* The backend holds libuv handles now: the rest is freed in
		 * close_cb, once the loop has run. */
		s->closing = true;
		raft_close(&s->raft, close_cb);
		return r;
	}
	*out = s;
	return 0;
fail:
	wm_fsm_close(s->fsm);
	wm_store_unlock(s->lock_fd);
	free(s);
	return r;
}

void wm_store_close(struct wm_store *s, void (*done_cb)(void *data), void *data)
{
	if (!s || s->closing)
		return;
	s->closing = true;
	s->done_cb = done_cb;
	s->done_data = data;
	/* Pending applies and barriers fail (-ECANCELED) from inside raft_close. */
	raft_close(&s->raft, close_cb);
}

static void apply_done_cb(struct raft_apply *req, int status, void *result)
{
	struct apply_req *a = req->data;
	struct wm_store *s = a->s;

	pending_unlink(s, a);
	if (status != 0) {
		memset(&a->res, 0, sizeof(a->res));
		a->res.index = req->index;
		a->res.err = s->closing ? -ECANCELED : wm_store_raft_err(status);
		snprintf(a->res.message, sizeof(a->res.message), "%s",
			 s->closing ? "the store is closing"
				    : "leadership was lost before the entry was applied");
	} else if (!result) {
		memset(&a->res, 0, sizeof(a->res));
		a->res.index = req->index;
		a->res.err = -EIO;
		snprintf(a->res.message, sizeof(a->res.message), "no result for entry %llu",
			 (unsigned long long)req->index);
	} else if (result != &a->res) {
		memcpy(&a->res, result, sizeof(a->res));
	}
	a->cb(a->data, &a->res);
	free(a);
}

static void barrier_done_cb(struct raft_barrier *req, int status);

/* Submits a barrier whose completion calls cb: with err 0 a plain barrier
 * (wm_store_barrier), otherwise a write refused before it reached the log,
 * reported as err and why once the barrier completes. */
static int submit_barrier(struct wm_store *s, int err, const char *why, wm_store_apply_cb cb,
			  void *data)
{
	struct barrier_req *b = calloc(1, sizeof(*b));
	int rv;

	if (!b)
		return -ENOMEM;
	b->raft.data = b;
	b->s = s;
	b->cb = cb;
	b->data = data;
	b->refuse = err;
	snprintf(b->message, sizeof(b->message), "%s", why);
	rv = raft_barrier(&s->raft, &b->raft, barrier_done_cb);
	if (rv != 0) {
		free(b);
		return wm_store_raft_err(rv);
	}
	return 0;
}

int wm_store_apply(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		   void *data)
{
	struct raft_buffer buf;
	struct apply_req *a;
	int rv;

	if (s->closing)
		return -ECANCELED;
	if (!cmd || cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND__NOT_SET || !cb)
		return -EINVAL;
	/* Said here rather than through cb so that the caller can forward the
	 * write to the leader at once. */
	if (raft_state(&s->raft) != RAFT_LEADER)
		return -WM_ENOTLEADER;
	/* A kind some voter does not know yet would stop that voter (or, on a
	 * build from before command versions, be skipped there): refused. */
	uint32_t needs = 0;
	char why[sizeof(a->res.message)];
	rv = wm_cmd_admit((int)cmd->command_case, cmd->min_version, wm_store_mesh_version(s),
			  &needs, why, sizeof(why));
	if (rv == -WM_EVERSION)
		return submit_barrier(s, rv, why, cb, data);
	if (rv < 0)
		return rv;
	Webmesh__V1__RaftCommand stated = *cmd;
	/* Version-1 entries stay as builds before versions wrote them. */
	stated.min_version = needs > WM_CMD_VERSION_BASE ? needs : 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	rv = wm_store_entry_encode(&stated, &buf);
	if (rv < 0) {
		free(a);
		return rv;
	}
	a->raft.data = a;
	a->s = s;
	a->cb = cb;
	a->data = data;
	rv = raft_apply(&s->raft, &a->raft, &buf, 1, apply_done_cb);
	if (rv != 0) {
		raft_free(buf.base);
		free(a);
		return wm_store_raft_err(rv);
	}
	/* libraft owns buf.base now; the entry cannot be applied before the
	 * loop runs again, so linking after raft_apply is early enough. */
	a->next = s->pending;
	if (s->pending)
		s->pending->prev = a;
	s->pending = a;
	return 0;
}

static void barrier_done_cb(struct raft_barrier *req, int status)
{
	struct barrier_req *b = req->data;
	struct wm_store_result res;

	memset(&res, 0, sizeof(res));
	res.index = req->index;
	if (status != 0) {
		res.err = b->s->closing ? -ECANCELED : wm_store_raft_err(status);
		snprintf(res.message, sizeof(res.message), "barrier failed: %s",
			 b->s->closing ? "the store is closing" : raft_strerror(status));
	} else if (b->refuse) {
		res.err = b->refuse;
		snprintf(res.message, sizeof(res.message), "%s", b->message);
	}
	b->cb(b->data, &res);
	free(b);
}

int wm_store_barrier(struct wm_store *s, wm_store_apply_cb cb, void *data)
{
	if (s->closing)
		return -ECANCELED;
	if (!cb)
		return -EINVAL;
	if (raft_state(&s->raft) != RAFT_LEADER)
		return -WM_ENOTLEADER;
	return submit_barrier(s, 0, "", cb, data);
}

int wm_store_mesh_info(struct wm_store *s, struct wm_mesh_info *out)
{
	return wm_fsm_mesh_info(s->fsm, out);
}

int wm_store_get_node(struct wm_store *s, const char *id, struct wm_mesh_node *out)
{
	return wm_fsm_get_node(s->fsm, id, out);
}

int wm_store_list_nodes(struct wm_store *s, struct wm_mesh_node **out, size_t *n)
{
	return wm_fsm_list_nodes(s->fsm, out, n);
}

int wm_store_list_edges(struct wm_store *s, struct wm_mesh_edge **out, size_t *n)
{
	return wm_fsm_list_edges(s->fsm, out, n);
}

int wm_store_list_edge_attrs(struct wm_store *s, struct wm_edge_attr **out, size_t *n)
{
	return wm_fsm_list_edge_attrs(s->fsm, out, n);
}

int wm_store_list_dns_records(struct wm_store *s, struct wm_dns_record **out, size_t *n)
{
	return wm_fsm_list_dns_records(s->fsm, out, n);
}

int wm_store_authz_load(struct wm_store *s, struct wm_authz_snapshot *out)
{
	return wm_fsm_authz_load(s->fsm, out);
}

int wm_store_dump(struct wm_store *s, char **out)
{
	return wm_fsm_dump(s->fsm, out);
}

int wm_store_on_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	return wm_store_fsm_listen(&s->glue, cb, data);
}

void wm_store_off_change(struct wm_store *s, wm_store_change_cb cb, void *data)
{
	wm_store_fsm_unlisten(&s->glue, cb, data);
}

static int member_role(int raft_role)
{
	switch (raft_role) {
	case RAFT_VOTER:
		return WM_ROLE_VOTER;
	case RAFT_STANDBY:
		return WM_ROLE_OBSERVER;
	default:
		return WM_ROLE_MEMBER;
	}
}

void wm_store_status(struct wm_store *s, struct wm_store_status *out)
{
	static const char *const states[] = {"unavailable", "follower", "candidate", "leader"};
	struct raft *r = &s->raft;
	const char *leader_addr = NULL;
	raft_id leader = 0;
	int state = raft_state(r);

	memset(out, 0, sizeof(*out));
	out->storage = "raft";
	out->state = state >= 0 && state <= RAFT_LEADER ? states[state] : "unavailable";
	out->is_leader = state == RAFT_LEADER;
	raft_leader(r, &leader, &leader_addr);
	wm_store_node_of(s, leader, out->leader_id, sizeof(out->leader_id));
	if (leader_addr)
		snprintf(out->leader_address, sizeof(out->leader_address), "%s", leader_addr);
	out->term = r->current_term;
	out->commit_index = r->commit_index;
	out->applied_index = r->last_applied;
	out->last_index = raft_last_index(r);
	for (unsigned i = 0; i < r->configuration.n && out->n_members < 16; i++) {
		const struct raft_server *sv = &r->configuration.servers[i];
		struct wm_store_member *m = &out->members[out->n_members++];
		wm_store_node_of(s, sv->id, m->node_id, sizeof(m->node_id));
		m->raft_id = sv->id;
		snprintf(m->address, sizeof(m->address), "%s", sv->address ? sv->address : "");
		m->role = member_role(sv->role);
	}
	out->command_version = WM_CMD_VERSION;
	if (out->is_leader)
		out->mesh_command_version = wm_store_mesh_version(s);
	wm_fsm_stalled(s->fsm, &out->stalled_index, &out->stalled_needs);
	wm_store_catchup_status(s, out);
}
