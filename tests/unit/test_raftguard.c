/* The Raft port's nft rules (src/core/raftguard.c): exact batches. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/raftguard.h"

#define HEAD                                                                                       \
	"add table inet webmesh\n"                                                                 \
	"add chain inet webmesh raft-input { type filter hook input priority -10; policy accept; " \
	"}\n"                                                                                      \
	"add set inet webmesh raft-servers { type ipv4_addr; }\n"                                  \
	"flush chain inet webmesh raft-input\n"                                                    \
	"flush set inet webmesh raft-servers\n"

static struct wm_prefix p(const char *s)
{
	struct wm_prefix x;
	assert_int_equal(wm_prefix_parse(s, &x), 0);
	return x;
}

static void test_render(void **state)
{
	(void)state;
	char *out;
	struct wm_prefix local = p("172.16.0.1/12");
	struct wm_prefix servers[3] = {p("172.16.0.1/32"), p("fd00::1/128"), p("172.16.0.3/32")};
	assert_int_equal(wm_raftguard_nft_render("wm0", 9000, &local, servers, 3, &out), 0);
	assert_string_equal(out,
			    HEAD "add element inet webmesh raft-servers { 172.16.0.1, "
				 "172.16.0.3 }\n"
				 "add rule inet webmesh raft-input ip daddr 172.16.0.1 tcp dport "
				 "9000 iifname \"wm0\" ip saddr @raft-servers accept\n"
				 "add rule inet webmesh raft-input ip daddr 172.16.0.1 tcp dport "
				 "9000 reject with tcp reset\n");
	free(out);
	/* No server known: nobody gets through. */
	assert_int_equal(wm_raftguard_nft_render("wm0", 9000, &local, NULL, 0, &out), 0);
	assert_null(strstr(out, "add element"));
	assert_non_null(strstr(out, "reject with tcp reset"));
	free(out);
	assert_int_equal(wm_raftguard_nft_render("wm0; flush ruleset", 9000, &local, NULL, 0, &out),
			 -EINVAL);
	assert_null(out);
	assert_int_equal(wm_raftguard_nft_render("wm0", 0, &local, NULL, 0, &out), -EINVAL);
	struct wm_prefix v6 = p("fd00::1/128");
	assert_int_equal(wm_raftguard_nft_render("wm0", 9000, &v6, NULL, 0, &out), -EINVAL);
	assert_int_equal(wm_raftguard_nft_remove(&out), 0);
	assert_string_equal(out, HEAD "delete chain inet webmesh raft-input\n"
				      "delete set inet webmesh raft-servers\n");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests_name("raftguard", tests, NULL, NULL);
}
