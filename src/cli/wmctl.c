/* wmctl: the command-line client of webmeshd. Global options, then a subcommand
 * from the table below. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const struct wm_cli_command commands[] = {
	{"status", wm_cmd_status, "status                 this node, its mesh and its peers"},
	{"get", wm_cmd_get, "get nodes|node ID|graph|edges|routes [NODE]   the mesh state"},
	{"put", wm_cmd_put,
	 "put edge A B [--weight N] [--attr K=V]...   add or change a link\n"
	 "  put route NODE CIDR[,CIDR]...   advertise networks behind NODE\n"
	 "  put dns-record NAME A|AAAA|CNAME|TXT|SRV VALUE   a MeshDNS record"},
	{"auth", wm_cmd_auth, "auth can-i VERB RESOURCE [NAME] [--as ID]   ask RBAC"},
	{"pki", wm_cmd_pki,
	 "pki init --dir DIR | pki issue ID --dir DIR [--days N] [--server-cert [--san NAME]] | "
	 "pki keygen FILE"},
	{"delete", wm_cmd_delete,
	 "delete edge A B | delete route NODE CIDR... | delete node NODE   remove a link, "
	 "routes, or a node (denied until allowed)\n"
	 "  delete dns-record NAME TYPE [VALUE]   remove MeshDNS records"},
	{"allow", wm_cmd_allow, "allow node NODE        re-admit a node an administrator removed"},
	{"ping", wm_cmd_ping,
	 "ping NODE [-c N] [--interval-ms MS] [--wait-ms MS]   echo over the mesh, path per reply"},
	{"netcheck", wm_cmd_netcheck,
	 "netcheck [--wait-ms MS]   addresses, NAT kind, STUN/TURN/servers reached, paths"},
	{"console", wm_cmd_console,
	 "console                   a one-time URL of this node's web console (local socket)"},
	{"leave", wm_cmd_leave, "leave                  leave the mesh for good (local node)"},
	{"genkey", wm_cmd_genkey, "genkey                 print a new WireGuard private key"},
	{"pubkey", wm_cmd_pubkey, "pubkey                 private key on stdin -> public key"},
	{NULL, NULL, NULL},
};

#define OPT(field) offsetof(struct wm_cli, field)
/* Global options: --help, the man page and the completion print this table,
 * and the parser below reads it. */
static const struct wm_cli_option options[] = {
	{"--socket", "PATH", OPT(socket), "local node socket (default /run/webmesh/webmesh.sock)"},
	{"--server", "HOST:PORT", OPT(server), "talk to a remote node over TLS instead"},
	{"--ca-file", "FILE", OPT(ca_file), "verify the remote node against this CA"},
	{"--fingerprint", "sha256:HEX", OPT(fingerprint), "or accept exactly this certificate"},
	{"--insecure-skip-verify", NULL, WM_CLI_OPT_INSECURE, "or verify nothing (testing only)"},
	{"--server-name", "NAME", OPT(server_name), "check the server's certificate name"},
	{"--tls-cert", "FILE", OPT(tls_cert),
	 "present a client certificate (mTLS), with --tls-key"},
	{"--tls-key", "FILE", OPT(tls_key), "the client certificate's key"},
	{"--basic-auth-user", "USER", OPT(basic_user),
	 "a user of the htpasswd file or LDAP, with a password:"},
	{"--basic-auth-password-file", "FILE", OPT(basic_password_file),
	 "the password, the file's first line"},
	{"--basic-auth-password", "PASSWORD", OPT(basic_password),
	 "or the password itself (visible to other users of this host)"},
	{"--key-file", "FILE", OPT(key_file), "sign as --key-id with this Ed25519 key"},
	{"--key-id", "ID", OPT(key_id), "the ID the key is listed for"},
	{"-o, --output", "table|json|dot", WM_CLI_OPT_OUTPUT, "output format (default table)"},
	{"--timeout", "SECONDS", WM_CLI_OPT_TIMEOUT, "give up after this long (default 10)"},
	{NULL, NULL, 0, NULL},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: wmctl [options] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct wm_cli_command *c = commands; c->name; c++)
		fprintf(f, "  %s\n", c->usage);
	fprintf(f, "\noptions:\n");
	for (const struct wm_cli_option *o = options; o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-32s %s\n", left, o->help);
	}
}

/* Options that take a value: the struct field they set (NULL: not one of
 * those). The short -o is --output's. */
static const struct wm_cli_option *find_option(const char *name)
{
	for (const struct wm_cli_option *o = options; o->name; o++) {
		const char *comma = strstr(o->name, ", ");
		if (strcmp(o->name, name) == 0 || (comma && strcmp(comma + 2, name) == 0) ||
		    (comma && strncmp(o->name, name, (size_t)(comma - o->name)) == 0 &&
		     name[comma - o->name] == '\0'))
			return o;
	}
	return NULL;
}

static const char **value_option(struct wm_cli *c, const char *name)
{
	const struct wm_cli_option *o = find_option(name);

	if (!o || o->offset >= WM_CLI_OPT_SPECIAL)
		return NULL;
	return (const char **)((char *)c + o->offset);
}

int main(int argc, char **argv)
{
	struct wm_cli c = {.socket = "/run/webmesh/webmesh.sock", .timeout_ms = 10000};
	char **words = calloc((size_t)argc + 1, sizeof(char *));
	int n_words = 0;
	if (!words)
		return 1;
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (a[0] != '-' || strcmp(a, "-") == 0) {
			words[n_words++] = a;
			continue;
		}
		char name[64];
		const char *value = NULL;
		const char *eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
		if (eq)
			value = eq + 1;
		if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
			usage(stdout);
			free(words);
			return 0;
		}
		/* Build time: the man page and completion from the same tables. */
		if (strcmp(name, "--help-man") == 0 || strcmp(name, "--help-completion") == 0) {
			if (name[7] == 'm')
				wm_cli_docgen_man(stdout, commands, options);
			else
				wm_cli_docgen_completion(stdout, commands, options);
			free(words);
			return 0;
		}
		if (strcmp(name, "--insecure-skip-verify") == 0) {
			c.insecure = 1;
			continue;
		}
		const char **slot = value_option(&c, name);
		bool is_output = strcmp(name, "-o") == 0 || strcmp(name, "--output") == 0;
		bool is_timeout = strcmp(name, "--timeout") == 0;
		/* After the command word, options it does not know belong to the
		 * subcommand (put edge --weight N): passed on as words. */
		if (!slot && !is_output && !is_timeout && n_words > 0) {
			words[n_words++] = a;
			continue;
		}
		if (!slot && !is_output && !is_timeout) {
			fprintf(stderr, "wmctl: unknown option %s\n", name);
			free(words);
			return 2;
		}
		if (!value) {
			if (i + 1 >= argc) {
				fprintf(stderr, "wmctl: %s needs a value\n", name);
				free(words);
				return 2;
			}
			value = argv[++i];
		}
		if (slot) {
			*slot = value;
		} else if (is_output) {
			if (strcmp(value, "table") == 0)
				c.output = WM_OUT_TABLE;
			else if (strcmp(value, "json") == 0)
				c.output = WM_OUT_JSON;
			else if (strcmp(value, "dot") == 0)
				c.output = WM_OUT_DOT;
			else {
				fprintf(stderr, "wmctl: -o takes table, json or dot, not \"%s\"\n",
					value);
				free(words);
				return 2;
			}
		} else {
			char *end;
			unsigned long s = strtoul(value, &end, 10);
			if (*end || s == 0 || s > 3600) {
				fprintf(stderr,
					"wmctl: --timeout takes 1..3600 seconds, not \"%s\"\n",
					value);
				free(words);
				return 2;
			}
			c.timeout_ms = s * 1000;
		}
	}
	if (n_words == 0) {
		usage(stderr);
		free(words);
		return 2;
	}
	if (c.server && !c.ca_file && !c.fingerprint && !c.insecure) {
		fprintf(stderr, "wmctl: --server needs --ca-file, --fingerprint or "
				"--insecure-skip-verify\n");
		free(words);
		return 2;
	}
	if (!c.tls_cert != !c.tls_key) {
		fprintf(stderr, "wmctl: --tls-cert and --tls-key go together\n");
		free(words);
		return 2;
	}
	if (c.key_file && !c.key_id) {
		fprintf(stderr,
			"wmctl: --key-file needs --key-id ID (the ID the key is listed for)\n");
		free(words);
		return 2;
	}
	c.args = words + 1;
	c.n_args = n_words - 1;
	for (size_t i = 0; commands[i].name; i++) {
		if (strcmp(words[0], commands[i].name) == 0) {
			int code = commands[i].run(&c);
			free(words);
			return code;
		}
	}
	fprintf(stderr, "wmctl: unknown command \"%s\"\n", words[0]);
	usage(stderr);
	free(words);
	return 2;
}
