/* The host resolver settings of --use-meshdns (src/dns/resolver.c): the mesh
 * domain reaches busctl's argument list and resolv.conf, and on a member it
 * comes from the server's JoinResponse, so a name that is no DNS domain
 * (one busctl would read as an option, or one with a line break) is refused
 * before anything runs or is written. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns/resolver.h"

static void test_domain_must_be_a_dns_name(void **state)
{
	static const char *const bad[] = {
		"--host=attacker.example", "-H",  "mesh.internal\nnameserver 192.0.2.1", "",
		"mesh..internal",	   "a b",
	};
	char dir[] = "/tmp/wm-test-resolver-XXXXXX", path[64];
	struct wm_resolver *r = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/resolv.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("nameserver 192.0.2.53\n", f);
	fclose(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wm_resolver_config c = {.ifname = "wm0",
					       .domain = bad[i],
					       .resolv_conf = path,
					       .busctl = "/bin/false"};
		r = NULL;
		assert_int_equal(wm_resolver_new(&c, &r), -EINVAL);
		assert_null(r);
	}
	struct wm_resolver_config ok = {.ifname = "wm0",
					.domain = "mesh.internal",
					.resolv_conf = path,
					.busctl = "/bin/false"};
	assert_int_equal(wm_resolver_new(&ok, &r), 0);
	wm_resolver_free(r);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domain_must_be_a_dns_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
