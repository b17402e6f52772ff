/* wmctl internals: global options, the connection to a node, output helpers. */
#ifndef WM_CLI_CLI_H
#define WM_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

enum wm_cli_output { WM_OUT_TABLE, WM_OUT_JSON, WM_OUT_DOT };

struct wm_cli {
	const char *socket; /* --socket, default /run/webmesh/webmesh.sock */
	const char *server; /* --server HOST:PORT: talk TLS to a remote node */
	const char *ca_file;
	const char *fingerprint;
	const char *server_name;
	bool insecure;
	/* credentials for a remote node (--server) */
	const char *tls_cert, *tls_key;	 /* client certificate (mTLS) */
	const char *basic_user;		 /* --basic-auth-user */
	const char *basic_password;	 /* --basic-auth-password */
	const char *basic_password_file; /* --basic-auth-password-file */
	const char *key_file, *key_id;	 /* --key-file (Ed25519 seed), --key-id */
	enum wm_cli_output output;
	uint64_t timeout_ms;
	char **args; /* the subcommand's words after its name */
	int n_args;
};

/* wmctl's tables (wmctl.c), also read by the man page and completion
 * generators (docgen.c). */
struct wm_cli_command {
	const char *name;
	int (*run)(const struct wm_cli *c);
	const char *usage; /* "NAME ARGS   what it does", lines joined by '\n' */
};
#define WM_CLI_OPT_SPECIAL ((size_t)1 << 20) /* offsets from here on are not fields */
#define WM_CLI_OPT_INSECURE (WM_CLI_OPT_SPECIAL + 1)
#define WM_CLI_OPT_OUTPUT (WM_CLI_OPT_SPECIAL + 2)
#define WM_CLI_OPT_TIMEOUT (WM_CLI_OPT_SPECIAL + 3)
struct wm_cli_option {
	const char *name; /* "--socket", or "-o, --output" */
	const char *arg;  /* NULL: a switch */
	size_t offset;	  /* of the const char * field it sets, or WM_CLI_OPT_* */
	const char *help;
};
/* wmctl(8) in roff and bash completion, from the tables (NULL-terminated). */
void wm_cli_docgen_man(FILE *f, const struct wm_cli_command *cmds,
		       const struct wm_cli_option *opts);
void wm_cli_docgen_completion(FILE *f, const struct wm_cli_command *cmds,
			      const struct wm_cli_option *opts);

/* Calls method on the node with req and unpacks the answer with desc.
 * Prints the error (naming the method and the node) and returns NULL on
 * failure; free the result with protobuf_c_message_free_unpacked. */
ProtobufCMessage *wm_cli_call(const struct wm_cli *c, const char *method,
			      const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc);
/* The same for a server-streaming method: on_message gets each message
 * (borrowed; return non-zero to stop). 0 when the stream ended OK, else -1
 * after printing the error. */
int wm_cli_stream(const struct wm_cli *c, const char *method, const ProtobufCMessage *req,
		  const ProtobufCMessageDescriptor *desc,
		  int (*on_message)(void *data, const ProtobufCMessage *msg), void *data);
/* Prints msg as JSON on stdout. */
void wm_cli_print_json(const ProtobufCMessage *msg);

/* A text table: add rows of cells, print with aligned columns. */
struct wm_table;
struct wm_table *wm_table_new(size_t n_cols, const char *const *headers);
void wm_table_add(struct wm_table *t, const char *const *cells);
void wm_table_print(struct wm_table *t);
void wm_table_free(struct wm_table *t);

/* Subcommands: return the process exit code. */
int wm_cmd_status(const struct wm_cli *c);
int wm_cmd_get(const struct wm_cli *c);
int wm_cmd_leave(const struct wm_cli *c);
int wm_cmd_genkey(const struct wm_cli *c);
int wm_cmd_pubkey(const struct wm_cli *c);
int wm_cmd_put(const struct wm_cli *c);
int wm_cmd_delete(const struct wm_cli *c);
int wm_cmd_ping(const struct wm_cli *c);
int wm_cmd_netcheck(const struct wm_cli *c);
int wm_cmd_console(const struct wm_cli *c);
/* RBAC and network ACL resources (res_rbac.c): get/put/delete roles,
 * rolebindings, groups, networkacls; and auth can-i, pki. */
bool wm_cli_rbac_owns(const char *resource);
int wm_cli_rbac(const struct wm_cli *c, const char *verb);
int wm_cmd_auth(const struct wm_cli *c);
/* MeshDNS user records (res_dns.c): put/get/delete dns-record(s). */
bool wm_cli_dns_owns(const char *what);
int wm_cli_dns(const struct wm_cli *c, const char *verb);
int wm_cmd_pki(const struct wm_cli *c);
/* cmd_allow.c (issue 10): delete node NODE, allow node NODE */
int wm_cmd_delete_node(const struct wm_cli *c);
int wm_cmd_allow(const struct wm_cli *c);
int wm_cmd_get_routes(const struct wm_cli *c, const char *node);

/* Helpers of put/delete: each prints what was wrong and returns -EINVAL. */
int wm_cli_check_node_id(const char *what, const char *id);
/* The arguments of put/delete route NODE CIDR[,CIDR...]...: checks them
 * (printing usage for verb on a missing one) and fills routes (pointing into
 * c->args, which it splits at commas). Returns 0 or 2, the exit code. */
int wm_cli_route_args(const struct wm_cli *c, const char *verb, char **routes, size_t *n_routes);
/* Sends an Admin write; prints done and the Raft index (or the JSON answer). */
int wm_cli_write(const struct wm_cli *c, const char *method, const ProtobufCMessage *req,
		 const char *done);

#endif
