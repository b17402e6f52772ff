/* webmesh-wg: the embedded WireGuard on its own, in the foreground, as
 * `wireguard-go -f IFNAME` is: it creates IFNAME and serves
 * /run/wireguard/IFNAME.sock until SIGINT or SIGTERM. For interop tests and
 * benchmarks against wireguard-go; webmeshd runs the same code in-process. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "wg/embedded/device.h"

#define USAGE                                                                                      \
	"usage: webmesh-wg [--no-offload] [--workers N] IFNAME\n"                                  \
	"  --no-offload  no TSO/checksum offloads on the TUN device\n"                             \
	"  --workers N   crypto threads beside the device's two: -1 none,\n"                       \
	"                0 one per CPU but one (the default), or N\n"

int main(int argc, char **argv)
{
	struct wge_config cfg = {0};
	struct wge_dev *dev;
	sigset_t set;
	char err[256] = "";
	int sig, ret, ai;
	char desc[160];

	for (ai = 1; ai < argc && argv[ai][0] == '-'; ai++) {
		if (!strcmp(argv[ai], "--no-offload")) {
			cfg.no_offload = true;
		} else if (!strcmp(argv[ai], "--workers") && ai + 1 < argc) {
			char *end;
			long v;

			errno = 0;
			v = strtol(argv[++ai], &end, 10);
			if (errno || *end || end == argv[ai] || v < -1 || v > 64) {
				fprintf(stderr,
					"webmesh-wg: --workers \"%s\": -1 (none), 0 (auto) or "
					"1 to 64\n",
					argv[ai]);
				return 2;
			}
			cfg.workers = (int)v;
		} else {
			break;
		}
	}
	if (ai < argc && (!strcmp(argv[ai], "-h") || !strcmp(argv[ai], "--help"))) {
		fputs(USAGE, stdout);
		return 0;
	}
	if (argc != ai + 1 || argv[ai][0] == '-') {
		fputs(USAGE, stderr);
		return 2;
	}
	cfg.ifname = argv[ai];
	/* Signals are taken synchronously, so the device thread never sees one. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = wge_open(&cfg, &dev, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "webmesh-wg: %s\n", err[0] ? err : strerror(-ret));
		return 1;
	}
	wge_describe(dev, desc, sizeof(desc));
	fprintf(stderr, "webmesh-wg: %s up: %s\n", cfg.ifname, desc);
	sigwait(&set, &sig);
	wge_close(dev);
	return 0;
}
