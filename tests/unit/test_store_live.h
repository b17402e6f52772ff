/* Helpers for tests that run a real store on loopback (include after cmocka.h). */
#ifndef WM_TEST_STORE_LIVE_H
#define WM_TEST_STORE_LIVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "store/store.h"

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

#endif
