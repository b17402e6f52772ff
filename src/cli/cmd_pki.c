/* wmctl pki: a small mesh CA (init, issue) and Ed25519 keys for key auth. */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/pki.h"

static int usage(void)
{
	fprintf(stderr,
		"usage: wmctl pki init --dir DIR [--days N]     CA: DIR/ca.crt, DIR/ca.key\n"
		"       wmctl pki issue ID --dir DIR [--days N] [--server-cert [--san NAME]...]\n"
		"                 DIR/ID.crt, DIR/ID.key: a client certificate; with\n"
		"                 --server-cert one for a server (EKU serverAuth); --san\n"
		"                 adds an IP or DNS name\n"
		"       wmctl pki keygen FILE   Ed25519 key for key auth; prints the "
		"public key\n");
	return 2;
}

static int days_of(const char *s, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (!*s || *end || v < 1 || v > 36500) {
		fprintf(stderr, "wmctl: --days takes 1..36500, not \"%s\"\n", s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

int wm_cmd_pki(const struct wm_cli *c)
{
	const char *dir = NULL, *id = NULL, *sub = c->n_args ? c->args[0] : "";
	unsigned days = 0;
	char err[512];
	const char *sans[16];
	size_t n_sans = 0;
	bool server = false;

	for (int i = 1; i < c->n_args; i++) {
		const char *a = c->args[i];
		if ((strcmp(a, "--dir") == 0 || strcmp(a, "--days") == 0) && i + 1 < c->n_args) {
			if (strcmp(a, "--dir") == 0)
				dir = c->args[++i];
			else if (days_of(c->args[++i], &days) < 0)
				return 2;
		} else if (strcmp(a, "--server-cert") == 0) {
			server = true;
		} else if (strcmp(a, "--san") == 0 || strncmp(a, "--san=", 6) == 0) {
			const char *v =
				a[5] == '=' ? a + 6 : (i + 1 < c->n_args ? c->args[++i] : NULL);
			if (!v || n_sans == sizeof(sans) / sizeof(sans[0])) {
				fprintf(stderr, "wmctl: --san takes a name, at most %zu times\n",
					sizeof(sans) / sizeof(sans[0]));
				return 2;
			}
			sans[n_sans++] = v;
		} else if (strncmp(a, "--dir=", 6) == 0) {
			dir = a + 6;
		} else if (strncmp(a, "--days=", 7) == 0) {
			if (days_of(a + 7, &days) < 0)
				return 2;
		} else if (a[0] != '-' && !id) {
			id = a;
		} else {
			fprintf(stderr, "wmctl: pki: unexpected \"%s\"\n", a);
			return usage();
		}
	}
	if (strcmp(sub, "keygen") == 0) {
		char pub[45];
		if (!id)
			return usage();
		if (wm_auth_key_generate(id, pub, err, sizeof(err)) < 0) {
			fprintf(stderr, "wmctl: %s\n", err);
			return 1;
		}
		printf("%s\n", pub);
		return 0;
	}
	if (!dir)
		return usage();
	if (strcmp(sub, "init") == 0 && !id) {
		if (wm_pki_init(dir, days, err, sizeof(err)) < 0) {
			fprintf(stderr, "wmctl: %s\n", err);
			return 1;
		}
		printf("CA written to %s/ca.crt (key %s/ca.key, mode 0600)\n", dir, dir);
		return 0;
	}
	if (strcmp(sub, "issue") == 0 && id) {
		if (n_sans && !server) {
			fprintf(stderr,
				"wmctl: --san is for server certificates: add --server-cert\n");
			return 2;
		}
		struct wm_pki_issue_opts o = {
			.days = days, .server = server, .sans = sans, .n_sans = n_sans};
		if (wm_pki_issue(dir, id, &o, err, sizeof(err)) < 0) {
			fprintf(stderr, "wmctl: %s\n", err);
			return 1;
		}
		printf("%s certificate written to %s/%s.crt (key %s/%s.key, mode 0600)\n",
		       server ? "server" : "client", dir, id, dir, id);
		return 0;
	}
	return usage();
}
