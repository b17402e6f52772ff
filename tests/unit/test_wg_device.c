/* The embedded device itself, in a private network namespace made by this
 * process (it vanishes with it): its UAPI socket's permissions, and that one
 * slow UAPI client cannot hold the thread that also serves the UDP socket.
 * Skipped unless root with /dev/net/tun. */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "wg/embedded/device.h"

static bool ready;
static char dir[] = "/tmp/wm-wgdev-XXXXXX";
static struct wge_dev *dev;

static int setup(void **state)
{
	struct wge_config cfg = {.ifname = "wmdev0", .uapi_dir = dir};
	char err[256] = "";

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		return 0;
	if (unshare(CLONE_NEWNET) != 0 || !mkdtemp(dir))
		return 0;
	if (wge_open(&cfg, &dev, err, sizeof(err)) < 0) {
		fprintf(stderr, "wge_open: %s\n", err);
		return -1;
	}
	ready = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	wge_close(dev);
	if (ready)
		(void)rmdir(dir);
	return 0;
}

static int connect_uapi(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/wmdev0.sock", dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* The socket hands out private keys: only its owner may connect. */
static void test_uapi_socket_owner_only(void **state)
{
	char path[128];
	struct stat st;

	(void)state;
	if (!ready)
		skip();
	snprintf(path, sizeof(path), "%s/wmdev0.sock", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
}

/* A client that trickles a request a byte at a time (or opens and idles) held
 * the device thread, and with it every datagram and timer, for as long as it
 * liked: each byte renewed a two-second wait. Another client's get must be
 * answered while the first one is still trickling. */
static void test_uapi_slow_client_does_not_stall(void **state)
{
	int slow, fast;
	bool answered = false;
	char buf[4096];

	(void)state;
	if (!ready)
		skip();
	slow = connect_uapi();
	assert_int_equal(write(slow, "g", 1), 1);
	/* Let the device thread pick up the slow connection first. */
	usleep(200 * 1000);
	fast = connect_uapi();
	assert_int_equal(write(fast, "get=1\n\n", 7), 7);
	/* Bounded: 40 rounds of 250 ms. */
	for (int i = 0; i < 40 && !answered; i++) {
		struct pollfd p = {.fd = fast, .events = POLLIN};

		(void)!send(slow, "e", 1, MSG_NOSIGNAL);
		if (poll(&p, 1, 250) == 1) {
			ssize_t n = read(fast, buf, sizeof(buf) - 1);

			answered = n > 0;
			if (n > 0) {
				buf[n] = '\0';
				assert_non_null(strstr(buf, "listen_port="));
			}
		}
	}
	assert_true(answered);
	close(slow);
	close(fast);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uapi_socket_owner_only),
		cmocka_unit_test(test_uapi_slow_client_does_not_stall),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
