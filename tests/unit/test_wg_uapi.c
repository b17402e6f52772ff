/* Unit tests for UAPI text: exact set encoding, get/errno parsing, malformed replies,
 * and the socket I/O against an in-process fake daemon. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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

#include "test_util.h"

#include "core/error.h"
#include "wg/uapi.h"

#define K(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c
#define HEX_11 K("11")
#define HEX_A0 K("a0")
#define HEX_B0 K("b0")

static struct wm_wg_peer *peer_new(struct wm_wg_device *dev, uint8_t b)
{
	wm_key k;

	memset(k, b, sizeof(k));
	return wm_wg_device_add_peer(dev, k);
}

static void test_encode_full(void **state)
{
	(void)state;
	struct wm_wg_device *dev = wm_wg_device_new("wg0");
	struct wm_wg_peer *p;
	struct wm_prefix a;
	char *txt;
	size_t len;

	dev->flags = WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT | WM_WGDEV_HAS_FWMARK |
		     WM_WGDEV_REPLACE_PEERS;
	memset(dev->private_key, 0x11, WM_KEY_LEN);
	dev->listen_port = 51820;
	dev->fwmark = 0x51;
	p = peer_new(dev, 0xa0);
	p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS | WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE;
	assert_int_equal(wm_endpoint_parse("192.0.2.1:51820", &p->endpoint), 0);
	p->keepalive_interval = 25;
	a = test_pfx("172.16.0.1/32");
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	a = test_pfx("fd00:1::/112");
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	p = peer_new(dev, 0xb0);
	p->flags = WM_WGPEER_HAS_ENDPOINT;
	assert_int_equal(wm_endpoint_parse("[2001:db8::1]:4500", &p->endpoint), 0);

	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_string_equal(txt, "set=1\n"
				 "private_key=" HEX_11 "\n"
				 "listen_port=51820\n"
				 "fwmark=81\n"
				 "replace_peers=true\n"
				 "public_key=" HEX_A0 "\n"
				 "endpoint=192.0.2.1:51820\n"
				 "persistent_keepalive_interval=25\n"
				 "replace_allowed_ips=true\n"
				 "allowed_ip=172.16.0.1/32\n"
				 "allowed_ip=fd00:1::/112\n"
				 "public_key=" HEX_B0 "\n"
				 "endpoint=[2001:db8::1]:4500\n"
				 "\n");
	assert_int_equal(len, strlen(txt));
	free(txt);
	wm_wg_device_free(dev);
}

static void test_encode_partial(void **state)
{
	(void)state;
	struct wm_wg_device *dev = wm_wg_device_new("wg0");
	struct wm_wg_peer *p;
	char *txt;
	size_t len;

	/* Nothing at all: an empty set is still a valid request. */
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_string_equal(txt, "set=1\n\n");
	free(txt);

	/* Fields without their flag are never sent. */
	memset(dev->private_key, 0x11, WM_KEY_LEN);
	dev->listen_port = 1;
	p = peer_new(dev, 0xa0);
	p->flags = WM_WGPEER_REMOVE_ME | WM_WGPEER_HAS_KEEPALIVE; /* remove wins */
	p->keepalive_interval = 5;
	p = peer_new(dev, 0xb0);
	p->flags = WM_WGPEER_UPDATE_ONLY | WM_WGPEER_HAS_KEEPALIVE;
	p->keepalive_interval = 0;
	p->endpoint.port = 9; /* not flagged: ignored */
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_string_equal(txt, "set=1\n"
				 "public_key=" HEX_A0 "\n"
				 "remove=true\n"
				 "public_key=" HEX_B0 "\n"
				 "update_only=true\n"
				 "persistent_keepalive_interval=0\n"
				 "\n");
	free(txt);

	/* Replace with an empty list clears the peer's allowed IPs. */
	dev->peers[1].flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
	dev->n_peers = 2;
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_non_null(strstr(txt, "public_key=" HEX_B0 "\nreplace_allowed_ips=true\n\n"));
	free(txt);

	/* HAS_ENDPOINT without an address is refused, not sent half-done. */
	dev->peers[1].flags = WM_WGPEER_HAS_ENDPOINT;
	txt = (char *)1;
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), -EINVAL);
	assert_null(txt);
	wm_wg_device_free(dev);
}

static const char realistic_get[] =
	"private_key=" HEX_11 "\n"
	"listen_port=51820\n"
	"fwmark=7\n"
	"public_key=" HEX_B0 "\n"
	"preshared_key=" K("00") "\n"
				 "protocol_version=1\n"
				 "endpoint=[2001:db8::1]:4500\n"
				 "last_handshake_time_sec=1700000000\n"
				 "last_handshake_time_nsec=123456789\n"
				 "tx_bytes=1024\n"
				 "rx_bytes=18446744073709551615\n"
				 "persistent_keepalive_interval=0\n"
				 "allowed_ip=fd00:1::/112\n"
				 "allowed_ip=10.0.0.0/8\n"
				 "public_key=" HEX_A0 "\n"
				 "preshared_key=" K("00") "\n"
							  "protocol_version=1\n"
							  "endpoint=192.0.2.1:51820\n"
							  "last_handshake_time_sec=0\n"
							  "last_handshake_time_nsec=0\n"
							  "tx_bytes=0\n"
							  "rx_bytes=0\n"
							  "persistent_keepalive_interval=25\n"
							  "allowed_ip=172.16.0.1/32\n"
							  "some_future_key=whatever\n"
							  "errno=0\n"
							  "\n";

static void test_parse_get(void **state)
{
	(void)state;
	struct wm_wg_device *dev = NULL;
	char err[128];
	char buf[64];

	assert_int_equal(wm_uapi_parse_get(realistic_get, strlen(realistic_get), "wg0", &dev, err,
					   sizeof(err)),
			 0);
	assert_string_equal(dev->name, "wg0");
	assert_int_equal(dev->flags,
			 WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT | WM_WGDEV_HAS_FWMARK);
	assert_int_equal(dev->private_key[0], 0x11);
	assert_int_equal(dev->listen_port, 51820);
	assert_int_equal(dev->fwmark, 7);
	assert_int_equal(dev->n_peers, 2);
	/* Sorted by key. */
	struct wm_wg_peer *a = &dev->peers[0], *b = &dev->peers[1];
	assert_int_equal(a->public_key[0], 0xa0);
	assert_int_equal(b->public_key[31], 0xb0);
	assert_int_equal(a->protocol_version, 1);
	assert_int_equal(wm_endpoint_format(&a->endpoint, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "192.0.2.1:51820");
	assert_int_equal(a->keepalive_interval, 25);
	assert_int_equal(a->n_allowed_ips, 1);
	assert_int_equal(a->flags & WM_WGPEER_HAS_ENDPOINT, WM_WGPEER_HAS_ENDPOINT);
	assert_int_equal(wm_endpoint_format(&b->endpoint, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "[2001:db8::1]:4500");
	assert_int_equal(b->last_handshake_sec, 1700000000);
	assert_int_equal(b->last_handshake_nsec, 123456789);
	assert_int_equal(b->tx_bytes, 1024);
	assert_true(b->rx_bytes == UINT64_MAX);
	assert_int_equal(b->n_allowed_ips, 2);
	/* Allowed IPs sorted too: IPv4 first. */
	assert_int_equal(wm_prefix_format(&b->allowed_ips[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.0.0.0/8");
	assert_int_equal(wm_prefix_format(&b->allowed_ips[1], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "fd00:1::/112");
	wm_wg_device_free(dev);

	/* An empty device answers with errno alone. */
	assert_int_equal(wm_uapi_parse_get("errno=0\n\n", 9, "wg0", &dev, NULL, 0), 0);
	assert_int_equal(dev->n_peers, 0);
	assert_int_equal(dev->flags, 0);
	wm_wg_device_free(dev);
}

static void test_parse_errno(void **state)
{
	(void)state;
	struct wm_wg_device *dev = (void *)1;

	assert_int_equal(wm_uapi_parse_errno("errno=0\n\n", 9), 0);
	assert_int_equal(wm_uapi_parse_errno("errno=-22\n\n", 11), -EINVAL);
	assert_int_equal(wm_uapi_parse_errno("errno=-98\n\n", 11), -EADDRINUSE);
	assert_int_equal(wm_uapi_parse_errno("errno=5\n\n", 9), -EIO);
	assert_int_equal(wm_uapi_parse_errno("errno=0\n", 8), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("errno=0\n\nx", 10), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("errno=\n\n", 8), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("errno=--1\n\n", 11), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("errno=1 \n\n", 10), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("errno=99999999999\n\n", 19), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("ok\n\n", 4), -WM_EPROTOCOL);
	assert_int_equal(wm_uapi_parse_errno("", 0), -WM_EPROTOCOL);

	/* A get that failed reports the daemon's error and no device. */
	assert_int_equal(wm_uapi_parse_get("errno=-5\n\n", 10, "wg0", &dev, NULL, 0), -EIO);
	assert_null(dev);
}

static void expect_malformed(const char *txt, size_t len)
{
	struct wm_wg_device *dev = (void *)1;
	char err[128] = "";

	assert_int_equal(wm_uapi_parse_get(txt, len, "wg0", &dev, err, sizeof(err)), -WM_EPROTOCOL);
	assert_null(dev);
	assert_true(strncmp(err, "uapi reply line ", 16) == 0);
	/* Errors name the line, never the key material. */
	assert_null(strstr(err, "1111"));
}

#define MAL(s) expect_malformed(s, sizeof(s) - 1)

static void test_parse_malformed(void **state)
{
	(void)state;

	MAL("");
	MAL("\n");
	MAL("errno=0\n");		       /* no blank line */
	MAL("errno=0");			       /* no newline */
	MAL("listen_port=1\n\n");	       /* blank line before errno */
	MAL("errno=0\nlisten_port=1\n\n");     /* after errno */
	MAL("errno=0\n\nlisten_port=1\n");     /* after the end */
	MAL("listen_port\nerrno=0\n\n");       /* no '=' */
	MAL("=1\nerrno=0\n\n");		       /* no key */
	MAL("listen_port=65536\nerrno=0\n\n"); /* out of range */
	MAL("listen_port=-1\nerrno=0\n\n");
	MAL("listen_port=0x10\nerrno=0\n\n");
	MAL("fwmark=4294967296\nerrno=0\n\n");
	MAL("private_key=" K("1") "\nerrno=0\n\n"); /* 32 hex chars */
	MAL("private_key=" K("1z") "\nerrno=0\n\n");
	MAL("private_key=" K("11") "11\nerrno=0\n\n");
	MAL("public_key=zz\nerrno=0\n\n");
	MAL("allowed_ip=10.0.0.0/8\nerrno=0\n\n"); /* before any peer */
	MAL("public_key=" K("a0") "\nallowed_ip=10.0.0.0/33\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nallowed_ip=10.0.0.0\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nendpoint=host.example:51820\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nendpoint=192.0.2.1\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nrx_bytes=18446744073709551616\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\npersistent_keepalive_interval=65536\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\nprivate_key=" K("11") "\nerrno=0\n\n");
	MAL("public_key=" K("a0") "\npreshared_key=00\nerrno=0\n\n");
	expect_malformed("listen_port=1\0\nerrno=0\n\n", 24); /* embedded NUL */
}

/* ---- socket I/O against a fake daemon on a socketpair-like unix socket ---- */

struct fake {
	int lfd;
	const char *reply;
	char got[1 << 16];
	size_t gotlen;
};

static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	/* Read the request up to its blank line, slowly, to exercise partial I/O. */
	while (f->gotlen < sizeof(f->got)) {
		ssize_t n = read(fd, f->got + f->gotlen, 7);

		if (n <= 0)
			break;
		f->gotlen += (size_t)n;
		if (f->gotlen >= 2 && f->got[f->gotlen - 1] == '\n' &&
		    f->got[f->gotlen - 2] == '\n')
			break;
	}
	for (const char *p = f->reply; *p; p += 3) {
		size_t n = strnlen(p, 3);
		if (write(fd, p, n) != (ssize_t)n)
			break;
		if (n < 3)
			break;
	}
	close(fd);
	return NULL;
}

static void with_fake(const char *reply, void (*fn)(const char *dir, struct fake *f))
{
	char dir[] = "/tmp/wm-uapi-test-XXXXXX";
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char *path = sun.sun_path;
	struct fake f = {.reply = reply};
	pthread_t th;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(sun.sun_path), "%s/wg0.sock", dir);
	f.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f.lfd >= 0);
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(f.lfd, 1), 0);
	assert_int_equal(pthread_create(&th, NULL, fake_serve, &f), 0);
	fn(dir, &f);
	pthread_join(th, NULL);
	close(f.lfd);
	unlink(path);
	rmdir(dir);
}

static void do_get(const char *dir, struct fake *f)
{
	struct wm_wg_device *dev = NULL;
	char err[128];
	/* X25519 public key of the all-0x11 private key, from `wg pubkey`. */
	static const uint8_t pub11[32] = {0x7b, 0x4e, 0x90, 0x9b, 0xbe, 0x7f, 0xfe, 0x44,
					  0xc4, 0x65, 0xa2, 0x20, 0x03, 0x7d, 0x60, 0x8e,
					  0xe3, 0x58, 0x97, 0xd3, 0x1e, 0xf9, 0x72, 0xf0,
					  0x7f, 0x74, 0x89, 0x2c, 0xb0, 0xf7, 0x3f, 0x13};

	assert_int_equal(wm_uapi_get(dir, "wg0", &dev, err, sizeof(err)), 0);
	assert_int_equal(f->gotlen, 7);
	assert_memory_equal(f->got, "get=1\n\n", 7);
	assert_int_equal(dev->n_peers, 2);
	assert_memory_equal(dev->public_key, pub11, 32);
	wm_wg_device_free(dev);
}

static void do_set(const char *dir, struct fake *f)
{
	struct wm_wg_device *dev = wm_wg_device_new("wg0");

	dev->flags = WM_WGDEV_HAS_LISTEN_PORT;
	dev->listen_port = 7;
	for (int i = 0; i < 200; i++) {
		wm_key k = {0};
		struct wm_prefix a = test_pfx("10.0.0.0/8");
		k[0] = (uint8_t)i;
		struct wm_wg_peer *p = wm_wg_device_add_peer(dev, k);
		p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
		assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	}
	assert_int_equal(wm_uapi_set(dir, "wg0", dev), -EINVAL); /* the fake says errno=-22 */
	char *txt;
	size_t len;
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_int_equal(f->gotlen, len);
	assert_memory_equal(f->got, txt, len);
	free(txt);
	wm_wg_device_free(dev);
}

static void test_socket_io(void **state)
{
	(void)state;
	with_fake(realistic_get, do_get);
	with_fake("errno=-22\n\n", do_set);
	assert_int_equal(wm_uapi_connect("/nonexistent-dir", "wg0"), -ENOENT);
	assert_int_equal(wm_uapi_connect("/tmp", "a/b"), -EINVAL);
	char path[200];
	memset(path, 'x', 150);
	path[150] = 0;
	assert_int_equal(wm_uapi_connect(path, "wg0"), -ENAMETOOLONG);
}

/* Make before break's additions (core/mbb.h): accept-only IPs and the promote
 * mark are encoded after the allowed IPs, and read back from a get. */
static void test_accept_ips_and_promote(void **state)
{
	(void)state;
	struct wm_wg_device *dev = wm_wg_device_new("wg0");
	struct wm_wg_peer *p = peer_new(dev, 0xa0);
	struct wm_prefix a, b;
	char *txt;
	size_t len;

	assert_int_equal(wm_prefix_parse("10.0.0.2/32", &a), 0);
	assert_int_equal(wm_prefix_parse("10.0.0.3/32", &b), 0);
	p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS | WM_WGPEER_PROMOTE;
	assert_int_equal(wm_wg_peer_add_allowed_ip(p, &a), 0);
	assert_int_equal(wm_wg_peer_add_accept_ip(p, &b), 0);
	assert_int_equal(wm_uapi_encode_set(dev, &txt, &len), 0);
	assert_string_equal(txt, "set=1\n"
				 "public_key=" HEX_A0 "\n"
				 "replace_allowed_ips=true\n"
				 "promote_on_handshake=true\n"
				 "allowed_ip=10.0.0.2/32\n"
				 "accept_ip=10.0.0.3/32\n"
				 "\n");
	assert_int_equal(len, strlen(txt));
	free(txt);
	wm_wg_device_free(dev);

	static const char get[] = "private_key=" HEX_11 "\n"
				  "public_key=" HEX_A0 "\n"
				  "promote_on_handshake=true\n"
				  "allowed_ip=10.0.0.2/32\n"
				  "accept_ip=10.0.0.3/32\n"
				  "errno=0\n\n";
	dev = NULL;
	assert_int_equal(wm_uapi_parse_get(get, strlen(get), "wg0", &dev, NULL, 0), 0);
	assert_int_equal(dev->n_peers, 1);
	assert_true(dev->peers[0].flags & WM_WGPEER_PROMOTE);
	assert_int_equal(dev->peers[0].n_allowed_ips, 1);
	assert_int_equal(dev->peers[0].n_accept_ips, 1);
	assert_true(wm_prefix_equal(&dev->peers[0].accept_ips[0], &b));
	wm_wg_device_free(dev);
	static const char bad[] = "public_key=" HEX_A0 "\naccept_ip=10.0.0.3\nerrno=0\n\n";
	dev = NULL;
	assert_int_equal(wm_uapi_parse_get(bad, strlen(bad), "wg0", &dev, NULL, 0), -WM_EPROTOCOL);
	assert_null(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_full),
		cmocka_unit_test(test_encode_partial),
		cmocka_unit_test(test_parse_get),
		cmocka_unit_test(test_parse_errno),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_socket_io),
		cmocka_unit_test(test_accept_ips_and_promote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
