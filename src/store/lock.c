/* The data directory lock: flock on dir/LOCK, released when the descriptor closes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "store/lock.h"

int wm_store_lock(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[4096];
	int r;

	*fd = -1;
	if ((size_t)snprintf(path, sizeof(path), "%s/LOCK", dir) >= sizeof(path)) {
		snprintf(err, errlen, "state directory path is too long");
		return -ENAMETOOLONG;
	}
	*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (*fd < 0) {
		r = -errno;
		snprintf(err, errlen, "open %s: %s", path, strerror(-r));
		return r;
	}
	/* flock, not fcntl locks: an flock belongs to the open file description,
	 * so a second open in the same process is refused too, and the lock
	 * goes away with the process however it dies. */
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -WM_ELOCKED : -errno;
		if (r == -WM_ELOCKED)
			snprintf(err, errlen,
				 "state directory %s is in use by another webmeshd (%s is locked); "
				 "stop it or use another directory",
				 dir, path);
		else
			snprintf(err, errlen, "lock %s: %s", path, strerror(-r));
		close(*fd);
		*fd = -1;
		return r;
	}
	if (ftruncate(*fd, 0) == 0)
		dprintf(*fd, "%ld\n", (long)getpid());
	return 0;
}

void wm_store_unlock(int fd)
{
	if (fd >= 0)
		close(fd);
}
