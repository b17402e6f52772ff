/* Documents generated from the option tables: every key of webmeshd's table
 * is in the man page, the completion and (unless command-line only) the
 * example configuration; MeshDNS keys get their own man section without any
 * change to the generator; text is escaped for roff; wmctl's commands and
 * options reach its man page and completion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "core/config.h"
#include "node/docgen.h"

/* Runs fn into a string (free it). */
static char *capture(void (*fn)(FILE *, const struct wm_cfg_key *), const struct wm_cfg_key *k)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, k);
	fclose(f);
	return buf;
}

static void roff_name(const char *name, char *out, size_t len)
{
	size_t o = 0;

	for (; *name && o + 3 < len; name++) {
		if (*name == '-')
			out[o++] = '\\';
		out[o++] = *name;
	}
	out[o] = '\0';
}

static void test_every_key_documented(void **state)
{
	(void)state;
	char *man = capture(wm_docgen_man, wm_cfg_keys);
	char *comp = capture(wm_docgen_completion, wm_cfg_keys);
	char *yaml = capture(wm_docgen_example_config, wm_cfg_keys);
	char want[160], esc[128];

	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		roff_name(k->name, esc, sizeof(esc));
		snprintf(want, sizeof(want), ".TP\n\\fB\\-\\-%s\\fR", esc);
		if (!strstr(man, want))
			fail_msg("man page lacks %s", k->name);
		/* in the word list: after a space or its opening quote */
		snprintf(want, sizeof(want), " --%s", k->name);
		snprintf(esc, sizeof(esc), "\"--%s", k->name);
		if (!strstr(comp, want) && !strstr(comp, esc))
			fail_msg("completion lacks %s", k->name);
		snprintf(want, sizeof(want), "\n#%s:", k->name);
		if ((strstr(yaml, want) != NULL) == ((k->flags & WM_CFG_FLAG_ONLY) != 0))
			fail_msg("example config and %s disagree", k->name);
	}
	/* the shipped example sets nothing: every key line is a comment */
	for (const char *l = yaml; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		assert_true(*l == '#' || *l == '\n' || *l == ' ');
	assert_non_null(strstr(comp, "--wireguard-backend)\n\t\tCOMPREPLY=($(compgen -W \"auto "));
	assert_non_null(strstr(comp, "complete -F _webmeshd webmeshd\n"));
	free(man);
	free(comp);
	free(yaml);
}

static void test_meshdns_section(void **state)
{
	(void)state;
	static const struct wm_cfg_key keys[] = {
		{.name = "node-id", .type = WM_CFG_STRING, .arg = "ID", .help = "the ID"},
		{.name = "meshdns-listen",
		 .type = WM_CFG_STRING,
		 .arg = "ADDR:PORT",
		 .help = "serve DNS .here\\"},
		{.name = "use-meshdns", .type = WM_CFG_BOOL, .help = "resolve the mesh domain"},
		{.name = NULL},
	};
	char *man = capture(wm_docgen_man, keys);
	const char *opts = strstr(man, ".SH OPTIONS\n");
	const char *dns = strstr(man, ".SS MeshDNS\n");

	assert_non_null(opts);
	assert_non_null(dns);
	assert_true(strstr(man, "\\fB\\-\\-node\\-id\\fR") < dns);
	assert_true(strstr(man, "\\fB\\-\\-meshdns\\-listen\\fR \\fIADDR:PORT\\fR") > dns);
	assert_true(strstr(man, "\\fB\\-\\-use\\-meshdns\\fR") > dns);
	/* escaped: the backslash, and the dot is not at a line start */
	assert_non_null(strstr(man, "serve DNS .here\\e."));
	assert_non_null(strstr(man, "environment \\fBWEBMESH_MESHDNS_LISTEN\\fR"));
	assert_non_null(strstr(man, "\\fB\\-\\-no\\-use\\-meshdns\\fR turns it off"));
	free(man);
	/* without such keys there is no empty section */
	static const struct wm_cfg_key plain[] = {{.name = "mtu",
						   .type = WM_CFG_UINT,
						   .arg = "BYTES",
						   .min = 1280,
						   .max = 9000,
						   .def = "1420",
						   .help = "MTU"},
						  {.name = NULL}};
	man = capture(wm_docgen_man, plain);
	assert_null(strstr(man, ".SS MeshDNS"));
	assert_non_null(strstr(man, "MTU. Default: 1420. Range 1280..9000."));
	free(man);
}

static void test_roff_escape(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	wm_docgen_roff(f, ".TH evil\\- 'x");
	fputc('|', f);
	wm_docgen_roff(f, "'quote");
	fclose(f);
	assert_string_equal(buf, "\\&.TH evil\\e\\- 'x|\\&'quote");
	free(buf);
}

static int run_stub(const struct wm_cli *c)
{
	(void)c;
	return 0;
}

static void test_wmctl_docs(void **state)
{
	(void)state;
	static const struct wm_cli_command cmds[] = {
		{"ping", run_stub, "ping NODE [-c N] [--wait-ms MS]   echo over the mesh"},
		{"get", run_stub,
		 "get nodes|graph [NODE]   the state\n  get route NODE   one route"},
		{NULL, NULL, NULL},
	};
	static const struct wm_cli_option opts[] = {
		{"--socket", "PATH", 0, "the socket"},
		{"--ca-file", "FILE", 0, "a CA"},
		{"-o, --output", "table|json", WM_CLI_OPT_OUTPUT, "format"},
		{NULL, NULL, 0, NULL},
	};
	char *man = NULL, *comp = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&man, &len);

	wm_cli_docgen_man(f, cmds, opts);
	fclose(f);
	assert_non_null(strstr(man, ".TP\n\\fBwmctl ping NODE [\\-c N] [\\-\\-wait\\-ms MS]\\fR\n"
				    "echo over the mesh.\n"));
	assert_non_null(strstr(man, ".TP\n\\fBwmctl get route NODE\\fR\none route.\n"));
	assert_non_null(
		strstr(man, ".TP\n\\fB\\-o, \\-\\-output\\fR \\fItable|json\\fR\nformat.\n"));
	f = open_memstream(&comp, &len);
	wm_cli_docgen_completion(f, cmds, opts);
	fclose(f);
	assert_non_null(strstr(comp, "compgen -W \"ping get --socket --ca-file -o --output\""));
	assert_non_null(strstr(comp, "\tping)\n\t\tCOMPREPLY=($(compgen -W \"-c --wait-ms\""));
	assert_non_null(strstr(comp, "\tget)\n\t\tCOMPREPLY=($(compgen -W \"nodes graph route\""));
	assert_non_null(strstr(comp, "\t--ca-file)\n\t\tCOMPREPLY=($(compgen -f"));
	free(man);
	free(comp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_documented),
		cmocka_unit_test(test_meshdns_section),
		cmocka_unit_test(test_roff_escape),
		cmocka_unit_test(test_wmctl_docs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
