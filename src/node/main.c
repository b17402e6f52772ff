/* webmeshd: parse the configuration, then run the node daemon. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ids.h"
#include "node/config_load.h"
#include "node/daemon.h"
#include "node/secrets.h"
#include "node/docgen.h"
#include "util/log.h"

extern char **environ;

int main(int argc, char **argv)
{
	struct wm_config cfg;
	char err[512];
	/* Before any secret is read: no core dumps, and /proc/PID/mem, environ
	 * and ptrace closed to other users (root with CAP_SYS_PTRACE still
	 * enters our namespaces). */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "webmeshd: cannot make the process non-dumpable: %s\n",
			strerror(errno));
	/* One malloc arena for every thread: glibc gives each new thread its own
	 * (the embedded WireGuard's device and TUN threads each took one, 55 KiB
	 * of RSS on an idle member, measured), and the threads beside the loop's
	 * allocate little (per handshake, per DNS query; the WireGuard data path
	 * keeps its contexts). An operator's MALLOC_ARENA_MAX still wins. */
	if (!getenv("MALLOC_ARENA_MAX"))
		mallopt(M_ARENA_MAX, 1);
	/* Freed memory at the heap's end goes back to the kernel: glibc keeps
	 * 128 KiB of top pad through every trim, and trims only past 128 KiB
	 * free; an idle member with libp2p on held 76 KiB of such touched,
	 * freed pages (measured). Large buffers (at least 128 KiB, the default)
	 * stay mmapped, and setting these keeps glibc from raising that
	 * threshold after the first such buffer is freed, which left later ones
	 * in the heap. Buffers cycled per packet are kept by their owners
	 * (libp2p's spares and read buffers, the embedded WireGuard's pools),
	 * so the data path does not brk up and down. An operator's tunables
	 * still win. */
	if (!getenv("GLIBC_TUNABLES")) {
		mallopt(M_TOP_PAD, 0);
		mallopt(M_TRIM_THRESHOLD, 64 * 1024);
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	}
	/* Build time: the man page, completion and example configuration, from
	 * the table --help prints. */
	if (argc == 2 && strcmp(argv[1], "--help-man") == 0) {
		wm_docgen_man(stdout, wm_cfg_keys);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help-completion") == 0) {
		wm_docgen_completion(stdout, wm_cfg_keys);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help-example-config") == 0) {
		wm_docgen_example_config(stdout, wm_cfg_keys);
		return 0;
	}
	if (wm_config_load(&cfg, argc, argv, environ, err, sizeof(err)) < 0) {
		fprintf(stderr, "webmeshd: %s\n", err);
		fprintf(stderr, "Run 'webmeshd --help' for the list of options.\n");
		wm_config_free(&cfg); /* what was set before the error */
		return 2;
	}
	if (cfg.help) {
		wm_config_usage(stdout);
		wm_config_free(&cfg);
		return 0;
	}
	if (cfg.version) {
		printf("webmeshd %s\n", WM_VERSION);
		wm_config_free(&cfg);
		return 0;
	}
	char node_id[WM_NODE_ID_MAX + 1];
	if (cfg.node_id) {
		snprintf(node_id, sizeof(node_id), "%s", cfg.node_id);
	} else {
		char host[256] = "";
		gethostname(host, sizeof(host) - 1);
		if (wm_node_id_from_hostname(host, node_id) < 0) {
			fprintf(stderr,
				"webmeshd: the host name \"%s\" makes no valid node ID; pass "
				"--node-id\n",
				host);
			wm_config_free(&cfg);
			return 2;
		}
	}
	if (cfg.print_config) {
		char *yaml = wm_config_to_yaml(&cfg);
		if (yaml)
			fputs(yaml, stdout);
		free(yaml);
		wm_config_free(&cfg);
		return 0;
	}
	if (wm_config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "webmeshd: %s\n", err);
		wm_config_free(&cfg);
		return 2;
	}
	enum wm_log_level level = WM_LOG_INFO;
	wm_log_parse_level(cfg.log_level, &level);
	wm_log_set_level(level);
	char warn[8][WM_SECRETS_WARN_LEN];
	size_t n_warn = wm_secrets_warnings(&cfg, warn, 8);
	for (size_t i = 0; i < n_warn; i++)
		wm_log(WM_LOG_WARN, "%s", warn[i]);
	int code = wm_daemon_run(&cfg, node_id);
	wm_config_free(&cfg);
	return code;
}
