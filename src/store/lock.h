/* The data directory lock: one daemon per state directory. */
#ifndef WM_STORE_LOCK_H
#define WM_STORE_LOCK_H

#include <stddef.h>

/* Takes an exclusive flock on dir/LOCK (created 0600) and writes our PID into
 * it for whoever wonders who holds it. *fd receives the descriptor; closing it
 * (wm_store_unlock) releases the lock, and so does the process dying.
 * -WM_ELOCKED when another process, or another open in this process, holds
 * it; err names the directory. */
int wm_store_lock(const char *dir, int *fd, char *err, size_t errlen);
void wm_store_unlock(int fd);

#endif
