/* A datagram that makes WireGuard handshake with a peer now (sys.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "sys/sys.h"

int wm_sys_handshake_kick(const struct wm_prefix *addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	int fd, rc = 0;

	if (!addr || addr->family != AF_INET)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(&sin.sin_addr, addr->addr, 4);
	if (sendto(fd, "", 0, 0, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}
