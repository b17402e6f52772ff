/* wmctl: the command-line client of webmeshd. Global options, then a subcommand
 * from the table below. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

struct command {
	const char *name;
	int (*run)(const struct wm_cli *c);
	const char *usage;
};

static const struct command commands[] = {
	{"status", wm_cmd_status, "status                 this node, its mesh and its peers"},
	{"get", wm_cmd_get, "get nodes|node ID|graph|edges|routes [NODE]   the mesh state"},
	{"put", wm_cmd_put,
	 "put edge A B [--weight N] [--attr K=V]...   add or change a link\n"
	 "  put route NODE CIDR[,CIDR]...   advertise networks behind NODE\n"
	 "  put dns-record NAME A|AAAA|CNAME|TXT|SRV VALUE   a MeshDNS record"},
	{"auth", wm_cmd_auth, "auth can-i VERB RESOURCE [NAME] [--as ID]   ask RBAC"},
	{"pki", wm_cmd_pki,
	 "pki init --dir DIR | pki issue ID --dir DIR [--days N] | pki keygen FILE"},
	{"delete", wm_cmd_delete,
	 "delete edge A B | delete route NODE CIDR...   remove a link or routes\n"
	 "  delete dns-record NAME TYPE [VALUE]   remove MeshDNS records"},
	{"leave", wm_cmd_leave, "leave                  leave the mesh for good (local node)"},
	{"genkey", wm_cmd_genkey, "genkey                 print a new WireGuard private key"},
	{"pubkey", wm_cmd_pubkey, "pubkey                 private key on stdin -> public key"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: wmctl [options] COMMAND [ARGS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "\noptions:\n"
		   "  --socket PATH          local node socket (default /run/webmesh/webmesh.sock)\n"
		   "  --server HOST:PORT     talk to a remote node over TLS instead\n"
		   "  --ca-file FILE         verify the remote node against this CA\n"
		   "  --fingerprint sha256:HEX  or accept exactly this certificate\n"
		   "  --insecure-skip-verify or verify nothing (testing only)\n"
		   "  --server-name NAME     check the server's certificate name\n"
		   "  --tls-cert FILE --tls-key FILE   present a client certificate (mTLS)\n"
		   "  --basic-auth-user USER with --basic-auth-password-file FILE (or\n"
		   "                         --basic-auth-password PW): htpasswd or LDAP\n"
		   "  --key-file FILE --key-id ID   sign as ID with an Ed25519 key\n"
		   "  -o, --output table|json|dot   output format (default table)\n"
		   "  --timeout SECONDS      give up after this long (default 10)\n");
}

/* Options that take a value: the struct field they set. */
static const char **value_option(struct wm_cli *c, const char *name)
{
	if (strcmp(name, "--socket") == 0)
		return &c->socket;
	if (strcmp(name, "--server") == 0)
		return &c->server;
	if (strcmp(name, "--ca-file") == 0)
		return &c->ca_file;
	if (strcmp(name, "--fingerprint") == 0)
		return &c->fingerprint;
	if (strcmp(name, "--server-name") == 0)
		return &c->server_name;
	if (strcmp(name, "--tls-cert") == 0)
		return &c->tls_cert;
	if (strcmp(name, "--tls-key") == 0)
		return &c->tls_key;
	if (strcmp(name, "--basic-auth-user") == 0)
		return &c->basic_user;
	if (strcmp(name, "--basic-auth-password") == 0)
		return &c->basic_password;
	if (strcmp(name, "--basic-auth-password-file") == 0)
		return &c->basic_password_file;
	if (strcmp(name, "--key-file") == 0)
		return &c->key_file;
	if (strcmp(name, "--key-id") == 0)
		return &c->key_id;
	return NULL;
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
				fprintf(stderr, "wmctl: --timeout takes 1..3600 seconds, not \"%s\"\n",
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
		fprintf(stderr, "wmctl: --key-file needs --key-id ID (the ID the key is listed for)\n");
		free(words);
		return 2;
	}
	c.args = words + 1;
	c.n_args = n_words - 1;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
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
