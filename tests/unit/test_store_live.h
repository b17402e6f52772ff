/* Helpers for tests that run a real store on loopback (include after cmocka.h). */
#ifndef WM_TEST_STORE_LIVE_H
#define WM_TEST_STORE_LIVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/key.h"
#include "store/store.h"
#include "util/crypto.h"

/* A TCP port free on 127.0.0.1 right now (for a store's raft address). */
static inline int test_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* For a wait loop: the store (arg) leads. */
static inline bool test_is_leader(void *arg)
{
	struct wm_store_status st;

	wm_store_status(arg, &st);
	return st.is_leader;
}

/* A node's WireGuard key pair for a live store: the private key is a
 * function of seed, the public key its X25519 (base64 for test_join). */
struct test_wg {
	const char *id;
	uint8_t priv[32];
	uint8_t pub[32];
	char pub_b64[WM_KEY_B64_LEN + 1];
	bool server; /* what test_peer_lookup says about it */
};

static inline void test_wg_init(struct test_wg *w, const char *id, int seed, bool server)
{
	w->id = id;
	for (int i = 0; i < 32; i++)
		w->priv[i] = (uint8_t)(seed * 131 + i * 17 + 5);
	assert_int_equal(wm_x25519_public(w->priv, w->pub), 0);
	wm_key_to_base64(w->pub, w->pub_b64);
	w->server = server;
}

/* wm_store_peer_lookup_fn over an array of struct test_wg ending with a
 * NULL id (data); NULL data knows nobody. */
static inline int test_peer_lookup(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
				   uint8_t pub[32], bool *is_server)
{
	for (const struct test_wg *w = data; w && w->id; w++) {
		if (wm_store_raft_id(w->id) != raft_id)
			continue;
		snprintf(node_id, WM_NODE_ID_MAX + 1, "%s", w->id);
		memcpy(pub, w->pub, 32);
		*is_server = w->server;
		return 0;
	}
	return -ENOENT;
}

/* A key for stores that never talk to another (any 32 bytes do). */
static const uint8_t test_lone_key[32] = {1, 2, 3, 4, 5, 6, 7, 8};

#endif
