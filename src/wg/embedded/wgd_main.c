/* webmesh-wg: the embedded WireGuard on its own, in the foreground, as
 * `wireguard-go -f IFNAME` is: it creates IFNAME and serves
 * /run/wireguard/IFNAME.sock until SIGINT or SIGTERM. For interop tests and
 * benchmarks against wireguard-go; webmeshd runs the same code in-process. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "wg/embedded/device.h"

int main(int argc, char **argv)
{
	struct wge_config cfg = {0};
	struct wge_dev *dev;
	sigset_t set;
	char err[256] = "";
	int sig, ret;

	int ai = 1;
	char desc[160];

	if (argc == 3 && !strcmp(argv[1], "--no-offload")) {
		cfg.no_offload = true;
		ai = 2;
	}
	if (argc != ai + 1 || argv[ai][0] == '-') {
		fprintf(stderr, "usage: webmesh-wg [--no-offload] IFNAME\n"
				"  --no-offload  no TSO/checksum offloads on the TUN device\n");
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
