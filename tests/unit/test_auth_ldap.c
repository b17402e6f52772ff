/* The LDAP authenticator without a directory: its own empty-password guard
 * (in ldap.c, before the module is asked) and the module's guard (before it
 * connects), each tested alone so that removing either one fails a test;
 * and which URLs may carry passwords in clear text.
 *
 * The "directory" is a loopback port bound but not listening: anything that
 * tries to talk LDAP there fails at once with a backend error (-EIO), which
 * is not the refusal a guard gives. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "auth/ldap_module.h"

static int dead_fd = -1;
static char dead_url[64];

/* The real module's client, counting how often the authenticator calls it. */
static unsigned module_calls;
static char module_password[64];

static int counting_authenticate(const struct wm_ldap_server *s, const struct wm_ldap_query *q,
				 char *id, size_t idlen, char *why, size_t whylen)
{
	module_calls++;
	snprintf(module_password, sizeof(module_password), "%s", q->password ? q->password : "");
	return wm_ldap_module_v1.authenticate(s, q, id, idlen, why, whylen);
}

static struct wm_ldap_module counting;

static int setup(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	(void)state;
	/* Bound, never listening: connections are refused and the port stays ours. */
	dead_fd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (dead_fd < 0 || bind(dead_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(dead_fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	snprintf(dead_url, sizeof(dead_url), "ldap://127.0.0.1:%d", ntohs(sa.sin_port));
	counting = wm_ldap_module_v1;
	counting.authenticate = counting_authenticate;
	wm_auth_ldap_link(&counting);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(dead_fd);
	return 0;
}

static struct wm_auth_ldap_config config(const char *url)
{
	return (struct wm_auth_ldap_config){.url = url,
					    .base_dn = "dc=example,dc=com",
					    .user_attr = "uid",
					    .id_attr = "uid",
					    .timeout_seconds = 2};
}

static int authenticate(const char *authorization, struct wm_identity *id, char *why, size_t len)
{
	struct wm_auth_ldap_config c = config(dead_url);
	struct wm_authenticator au;
	struct wm_auth *a;
	char err[256];

	assert_int_equal(wm_auth_new(NULL, &a), 0);
	assert_int_equal(wm_auth_ldap_new(&c, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	struct wm_auth_request req = {.authorization = authorization, .now = 1700000000};
	int r = wm_auth_authenticate_sync(a, &req, id, why, len);
	wm_auth_free(a);
	return r;
}

/* ldap.c refuses an empty password itself: the module is never asked. */
static void test_empty_password_guard(void **state)
{
	struct wm_identity id;
	char why[256];

	(void)state;
	module_calls = 0;
	/* "alice:" */
	assert_int_equal(authenticate("Basic YWxpY2U6", &id, why, sizeof(why)), -EACCES);
	assert_string_equal(why, "ldap: empty password");
	assert_int_equal(module_calls, 0);
	/* The control: a password goes to the module, which finds no server. */
	/* "alice:pw" */
	assert_int_equal(authenticate("Basic YWxpY2U6cHc=", &id, why, sizeof(why)), -EIO);
	assert_int_equal(module_calls, 1);
	assert_string_equal(module_password, "pw");
	assert_non_null(strstr(why, "ldap: LDAP "));
	assert_non_null(strstr(why, " failed: "));
}

/* The module refuses an empty password before it opens a connection: an
 * empty simple bind is an unauthenticated bind (RFC 4513 5.1.2). */
static void test_module_empty_password_guard(void **state)
{
	struct wm_ldap_server s = {
		.url = dead_url, .base_dn = "dc=example,dc=com", .timeout_seconds = 2};
	struct wm_ldap_query q = {.filter = "(uid=alice)", .id_attr = "uid"};
	char id[64], why[256];

	(void)state;
	q.password = "";
	assert_int_equal(wm_ldap_module_v1.authenticate(&s, &q, id, sizeof(id), why, sizeof(why)),
			 -EACCES);
	assert_string_equal(why, "empty password");
	assert_string_equal(id, "");
	q.password = NULL;
	assert_int_equal(wm_ldap_module_v1.authenticate(&s, &q, id, sizeof(id), why, sizeof(why)),
			 -EACCES);
	assert_string_equal(why, "empty password");
	/* The control: with a password the module does try the server. */
	q.password = "pw";
	assert_int_equal(wm_ldap_module_v1.authenticate(&s, &q, id, sizeof(id), why, sizeof(why)),
			 -EIO);
	assert_non_null(strstr(why, "LDAP "));
	assert_string_equal(id, "");
}

/* Passwords travel in clear text only to this host. */
static void test_cleartext_urls(void **state)
{
	static const char *const refused[] = {
		"ldap://localhost.evil.example",
		"ldap://localhost.evil.example:389",
		"ldap://127.example.com",
		"ldap://127.0.0.1.evil.example:389",
		"LDAP://ldap.example.com",
		"ldap://[::2]:389",
		"ldap://10.0.0.1",
	};
	static const char *const allowed[] = {
		"ldap://localhost",	   "ldap://localhost:3890", "ldap://127.0.0.1:389",
		"ldap://127.1.2.3",	   "ldap://[::1]:389",	    "ldaps://ldap.example.com",
		"ldaps://127.example.com",
	};
	struct wm_authenticator au;
	char err[256], want[256];

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		struct wm_auth_ldap_config c = config(refused[i]);
		err[0] = '\0';
		assert_int_equal(wm_auth_ldap_new(&c, &au, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want),
			 "%s would send passwords in clear text: use ldaps:// or ldap-starttls",
			 refused[i]);
		assert_string_equal(err, want);
		/* StartTLS makes the same URL safe. */
		c.starttls = true;
		assert_int_equal(wm_auth_ldap_new(&c, &au, err, sizeof(err)), 0);
		au.ops->free(au.self);
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		struct wm_auth_ldap_config c = config(allowed[i]);
		if (wm_auth_ldap_new(&c, &au, err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", allowed[i], err);
		au.ops->free(au.self);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_password_guard),
		cmocka_unit_test(test_module_empty_password_guard),
		cmocka_unit_test(test_cleartext_urls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
