/* webmesh-wg: the embedded WireGuard on its own, in the foreground, as
 * `wireguard-go -f IFNAME` is: it creates IFNAME and serves
 * /run/wireguard/IFNAME.sock until SIGINT or SIGTERM. For interop tests and
 * benchmarks against wireguard-go; webmeshd runs the same code in-process. */
#include <signal.h>
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

	if (argc != 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: webmesh-wg IFNAME\n");
		return 2;
	}
	cfg.ifname = argv[1];
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
	fprintf(stderr, "webmesh-wg: %s up\n", argv[1]);
	sigwait(&set, &sig);
	wge_close(dev);
	return 0;
}
