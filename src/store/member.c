/* Raft membership: adding, promoting and removing servers, and handing leadership over. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/store_int.h"

struct change_req {
	struct raft_change raft; /* .data points back here */
	struct wm_store *s;
	raft_id id;
	int role; /* RAFT_VOTER or RAFT_STANDBY, assigned once added */
	wm_store_done_cb cb;
	void *data;
};

struct transfer_req {
	struct raft_transfer raft;
	struct wm_store *s;
	wm_store_done_cb cb;
	void *data;
};

static int finish_err(struct wm_store *s, int status)
{
	if (status == 0)
		return 0;
	return s->closing ? -ECANCELED : wm_store_raft_err(status);
}

static void change_done_cb(struct raft_change *req, int status)
{
	struct change_req *c = req->data;

	c->cb(c->data, finish_err(c->s, status));
	free(c);
}

/* raft_add leaves the server a spare; the role is a second change. */
static void added_cb(struct raft_change *req, int status)
{
	struct change_req *c = req->data;
	int rv;

	if (status == 0 && !c->s->closing) {
		rv = raft_assign(&c->s->raft, &c->raft, c->id, c->role, change_done_cb);
		if (rv == 0)
			return;
		status = rv;
	}
	change_done_cb(req, status);
}

static const struct raft_server *find_server(struct wm_store *s, raft_id id)
{
	for (unsigned i = 0; i < s->raft.configuration.n; i++) {
		if (s->raft.configuration.servers[i].id == id)
			return &s->raft.configuration.servers[i];
	}
	return NULL;
}

static int check_leader(struct wm_store *s, wm_store_done_cb cb)
{
	if (s->closing)
		return -ECANCELED;
	if (!cb)
		return -EINVAL;
	return raft_state(&s->raft) == RAFT_LEADER ? 0 : -WM_ENOTLEADER;
}

int wm_store_add_member(struct wm_store *s, const char *node_id, const char *address, int role,
			wm_store_done_cb cb, void *data)
{
	const struct raft_server *sv;
	struct wm_endpoint ep;
	struct change_req *c;
	raft_id id;
	int r, rv;

	r = check_leader(s, cb);
	if (r < 0)
		return r;
	if (wm_node_id_check(node_id, NULL) < 0 || !address ||
	    wm_endpoint_parse(address, &ep) < 0 || ep.ip.family != AF_INET ||
	    (role != WM_ROLE_VOTER && role != WM_ROLE_OBSERVER))
		return -EINVAL;
	id = wm_store_raft_id(node_id);
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->raft.data = c;
	c->s = s;
	c->id = id;
	c->role = role == WM_ROLE_VOTER ? RAFT_VOTER : RAFT_STANDBY;
	c->cb = cb;
	c->data = data;
	sv = find_server(s, id);
	if (sv) {
		/* Raft cannot move a server: a new address needs remove + add. */
		if (strcmp(sv->address, address) != 0)
			rv = RAFT_DUPLICATEID;
		else if (sv->role == c->role)
			rv = -1;
		else
			rv = raft_assign(&s->raft, &c->raft, id, c->role, change_done_cb);
	} else {
		rv = raft_add(&s->raft, &c->raft, id, address, added_cb);
	}
	if (rv != 0) {
		free(c);
		return rv == -1 ? -EALREADY : wm_store_raft_err(rv);
	}
	return 0;
}

int wm_store_remove_member(struct wm_store *s, const char *node_id, wm_store_done_cb cb, void *data)
{
	int r = check_leader(s, cb);
	if (r < 0)
		return r;
	if (wm_node_id_check(node_id, NULL) < 0)
		return -EINVAL;
	return wm_store_remove_raft_id(s, wm_store_raft_id(node_id), cb, data);
}

int wm_store_remove_raft_id(struct wm_store *s, uint64_t id, wm_store_done_cb cb, void *data)
{
	struct change_req *c;
	int r, rv;

	r = check_leader(s, cb);
	if (r < 0)
		return r;
	if (!find_server(s, id))
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->raft.data = c;
	c->s = s;
	c->id = id;
	c->cb = cb;
	c->data = data;
	rv = raft_remove(&s->raft, &c->raft, id, change_done_cb);
	if (rv != 0) {
		free(c);
		return wm_store_raft_err(rv);
	}
	return 0;
}

static void transfer_done_cb(struct raft_transfer *req)
{
	struct transfer_req *t = req->data;
	int err = 0;

	/* libraft reports no status: whether we still lead says it all. */
	if (t->s->closing)
		err = -ECANCELED;
	else if (raft_state(&t->s->raft) == RAFT_LEADER)
		err = -ETIMEDOUT;
	t->cb(t->data, err);
	free(t);
}

int wm_store_transfer_leadership(struct wm_store *s, wm_store_done_cb cb, void *data)
{
	struct transfer_req *t;
	int r, rv;

	r = check_leader(s, cb);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->raft.data = t;
	t->s = s;
	t->cb = cb;
	t->data = data;
	rv = raft_transfer(&s->raft, &t->raft, 0, transfer_done_cb);
	if (rv != 0) {
		free(t);
		return wm_store_raft_err(rv);
	}
	return 0;
}
