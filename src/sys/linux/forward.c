/* IP forwarding switches in /proc/sys (a node routing for others needs them). */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sys/sys.h"

int wm_sys_set_forwarding(int family, int enable)
{
	const char *path;
	int fd, ret = 0;

	if (family == AF_INET)
		path = "/proc/sys/net/ipv4/ip_forward";
	else if (family == AF_INET6)
		path = "/proc/sys/net/ipv6/conf/all/forwarding";
	else
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, enable ? "1\n" : "0\n", 2) != 2)
		ret = errno ? -errno : -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	return ret;
}
