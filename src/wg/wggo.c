/* The userspace backend: runs `wireguard-go -f IFNAME`, forwards its output to
 * our log, restarts it (with backoff, bounded) if it dies, and talks UAPI. */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "util/log.h"
#include "wg/uapi.h"
#include "wg/wg_int.h"

#define READY_TIMEOUT_MS 5000 /* from spawn until the UAPI socket answers */
#define READY_POLL_MS 20
#define STOP_GRACE_MS 2000   /* SIGTERM, then SIGKILL */
#define BACKOFF_FIRST_MS 250 /* doubles per consecutive failure */
#define BACKOFF_MAX_MS 8000
#define MAX_FAILURES 6	    /* consecutive failed runs before giving up */
#define STABLE_RUN_MS 30000 /* a run this long resets the failure count */
#define LINE_MAX_LEN 512

enum go_state {
	GO_STARTING, /* spawned, waiting for the socket */
	GO_RUNNING,
	GO_BACKOFF, /* died; a restart is scheduled */
	GO_FAILED,  /* gave up restarting */
	GO_CLOSING,
};

/* One wireguard-go process and its output pipe, freed when both handles close. */
struct child {
	struct wggo *go;
	uv_process_t proc;
	uv_pipe_t out;
	int handles; /* open handles left */
	bool exited;
	int pid;
	char line[LINE_MAX_LEN];
	size_t linelen;
	char slab[4096]; /* the read buffer: read_cb consumes it before returning */
};

struct wggo {
	struct wm_wg *wg;
	enum go_state state;
	struct child *cur; /* the live process, NULL once it exited */
	unsigned children; /* child structs not yet freed */
	uv_timer_t timer;  /* readiness polling, backoff, stop grace */
	bool timer_closed;
	uint64_t started_ms, deadline_ms;
	unsigned failures;
};

static void maybe_finish(struct wggo *go);

/* ---- output: one log line per line wireguard-go prints ---- */

static void log_line(struct child *c)
{
	const char *s = c->line;

	c->line[c->linelen] = '\0';
	c->linelen = 0;
	while (*s == ' ')
		s++;
	if (!*s)
		return;
	/* Its errors are mostly per-peer and repeat (an unreachable endpoint
	 * every few seconds): info, not warn. The rest (the kernel-support
	 * banner, verbose chatter) is detail. */
	if (strncmp(s, "ERROR:", 6) == 0)
		wm_info("wireguard-go[%d]: %s", c->pid, s);
	else
		wm_debug("wireguard-go[%d]: %s", c->pid, s);
}

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	struct child *c = h->data;

	(void)size;
	/* Per child, not static: wg devices on loops of other threads (tests,
	 * a future multi-loop daemon) would share a static one. */
	*buf = uv_buf_init(c->slab, sizeof(c->slab));
}

static void child_handle_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	struct wggo *go = c->go;

	if (--c->handles > 0)
		return;
	free(c);
	go->children--;
	maybe_finish(go);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct child *c = s->data;

	if (n < 0) {
		if (c->linelen)
			log_line(c);
		uv_close((uv_handle_t *)&c->out, child_handle_closed);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf->base[i];

		if (ch == '\n' || c->linelen == LINE_MAX_LEN - 1) {
			log_line(c);
			if (ch == '\n')
				continue;
		}
		c->line[c->linelen++] = ch;
	}
}

/* ---- the socket ---- */

static int sock_probe(struct wm_wg *wg)
{
	int fd = wm_uapi_connect(wg->uapi_dir, wg->ifname);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* A socket nobody listens on is left by a killed wireguard-go: remove it so
 * that neither we nor the next instance mistake it for a live one. */
static void remove_stale_socket(struct wm_wg *wg)
{
	char path[128];

	if (sock_probe(wg) == -ECONNREFUSED &&
	    wm_uapi_sock_path(wg->uapi_dir, wg->ifname, path, sizeof(path)) == 0)
		unlink(path);
}

/* ---- process lifetime ---- */

static void exit_cb(uv_process_t *p, int64_t status, int term_signal);

#define SETPRIV "/usr/bin/setpriv"

/* True if name (a path, or a command looked up in PATH) is executable. */
static bool executable(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	char buf[4096];
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 &&
		    snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, name) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

static int spawn(struct wggo *go, char *err, size_t errlen)
{
	struct wm_wg *wg = go->wg;
	struct child *c;
	uv_process_options_t opt = {0};
	uv_stdio_container_t stdio[3];
	char *args[8];
	uv_file fds[2];
	int ret;

	/* Checked here because behind setpriv a missing binary would only show
	 * as an early exit. */
	if (!executable(wg->wireguard_go)) {
		if (err && errlen)
			snprintf(err, errlen,
				 "starting %s: not found (install the wireguard-go package or "
				 "set --wireguard-go)",
				 wg->wireguard_go);
		return -ENOENT;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->go = go;
	/* One pipe for stdout (its log) and stderr (the banner, panics). */
	ret = uv_pipe(fds, 0, 0);
	if (ret < 0) {
		free(c);
		return ret;
	}
	/* wireguard-go must not outlive us: an orphan keeps the interface and
	 * its socket, and the next daemon cannot start. uv_spawn runs no code
	 * between fork and exec, so setpriv(1) sets the parent-death signal
	 * (which survives exec) and execs wireguard-go in place: the PID is
	 * wireguard-go's. SIGTERM lets it remove its interface and socket. */
	int n = 0;
	if (access(SETPRIV, X_OK) == 0) {
		args[n++] = SETPRIV;
		args[n++] = "--pdeathsig";
		args[n++] = "TERM";
		args[n++] = "--";
	}
	args[n++] = wg->wireguard_go;
	args[n++] = "-f";
	args[n++] = wg->ifname;
	args[n] = NULL;
	stdio[0].flags = UV_IGNORE;
	stdio[1].flags = UV_INHERIT_FD;
	stdio[1].data.fd = fds[1];
	stdio[2].flags = UV_INHERIT_FD;
	stdio[2].data.fd = fds[1];
	opt.file = args[0];
	opt.args = args;
	opt.stdio = stdio;
	opt.stdio_count = 3;
	opt.exit_cb = exit_cb;
	c->proc.data = c;
	ret = uv_spawn(wg->loop, &c->proc, &opt);
	close(fds[1]);
	if (ret < 0) {
		close(fds[0]);
		if (err && errlen)
			snprintf(err, errlen, "starting %s: %s", wg->wireguard_go,
				 uv_strerror(ret));
		/* uv_spawn initialised the handle even on failure: close it. */
		c->handles = 1;
		go->children++;
		uv_close((uv_handle_t *)&c->proc, child_handle_closed);
		return ret;
	}
	c->pid = c->proc.pid;
	c->handles = 1;
	go->children++;
	if (uv_pipe_init(wg->loop, &c->out, 0) == 0) {
		c->out.data = c;
		c->handles++;
		if (uv_pipe_open(&c->out, fds[0]) < 0 ||
		    uv_read_start((uv_stream_t *)&c->out, alloc_cb, read_cb) < 0)
			uv_close((uv_handle_t *)&c->out, child_handle_closed);
	} else {
		close(fds[0]);
	}
	go->cur = c;
	go->started_ms = uv_now(wg->loop);
	go->deadline_ms = go->started_ms + READY_TIMEOUT_MS;
	wm_info("wireguard: started %s -f %s (pid %d)", wg->wireguard_go, wg->ifname, c->pid);
	return 0;
}

static void schedule_restart(struct wggo *go);
static void timer_cb(uv_timer_t *t);

static void exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
	struct child *c = p->data;
	struct wggo *go = c->go;
	struct wm_wg *wg = go->wg;

	c->exited = true;
	uv_close((uv_handle_t *)&c->proc, child_handle_closed);
	if (go->cur != c)
		return;
	go->cur = NULL;
	if (go->state == GO_CLOSING) {
		uv_timer_stop(&go->timer);
		remove_stale_socket(wg);
		wm_debug("wireguard: wireguard-go (pid %d) stopped", c->pid);
		return; /* maybe_finish runs when the handles are closed */
	}
	if (term_signal)
		wm_warn("wireguard: wireguard-go for %s (pid %d) was killed by signal %d",
			wg->ifname, c->pid, term_signal);
	else
		wm_warn("wireguard: wireguard-go for %s (pid %d) exited with status %lld",
			wg->ifname, c->pid, (long long)status);
	if (uv_now(wg->loop) - go->started_ms >= STABLE_RUN_MS)
		go->failures = 0;
	go->failures++;
	remove_stale_socket(wg);
	schedule_restart(go);
}

static void schedule_restart(struct wggo *go)
{
	uint64_t delay = BACKOFF_FIRST_MS;

	if (go->failures > MAX_FAILURES) {
		go->state = GO_FAILED;
		uv_timer_stop(&go->timer);
		wm_error("wireguard: wireguard-go for %s failed %u times in a row; not restarting "
			 "it (see the log lines above)",
			 go->wg->ifname, go->failures);
		return;
	}
	for (unsigned i = 1; i < go->failures && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	go->state = GO_BACKOFF;
	wm_info("wireguard: restarting wireguard-go for %s in %llu ms", go->wg->ifname,
		(unsigned long long)delay);
	uv_timer_start(&go->timer, timer_cb, delay, 0);
}

static void timer_cb(uv_timer_t *t)
{
	struct wggo *go = t->data;
	struct wm_wg *wg = go->wg;
	char err[256] = "";

	switch (go->state) {
	case GO_BACKOFF:
		remove_stale_socket(wg);
		if (spawn(go, err, sizeof(err)) < 0) {
			wm_warn("wireguard: %s", err[0] ? err : "cannot start wireguard-go");
			go->failures++;
			schedule_restart(go);
			return;
		}
		go->state = GO_STARTING;
		uv_timer_start(&go->timer, timer_cb, READY_POLL_MS, 0);
		break;
	case GO_STARTING:
		if (!go->cur)
			return; /* it died: exit_cb has scheduled what comes next */
		if (sock_probe(wg) == 0) {
			go->state = GO_RUNNING;
			wm_info("wireguard: wireguard-go for %s is back (pid %d)", wg->ifname,
				go->cur->pid);
			/* Empty device again: the owner re-applies its config. */
			if (wg->restarted_cb)
				wg->restarted_cb(wg->data);
			return;
		}
		if (uv_now(wg->loop) >= go->deadline_ms) {
			wm_warn("wireguard: wireguard-go for %s did not open its UAPI socket in "
				"%d ms; killing it",
				wg->ifname, READY_TIMEOUT_MS);
			uv_process_kill(&go->cur->proc, SIGKILL); /* exit_cb restarts */
			return;
		}
		uv_timer_start(&go->timer, timer_cb, READY_POLL_MS, 0);
		break;
	case GO_CLOSING:
		/* The grace period is over. */
		if (go->cur && !go->cur->exited) {
			wm_warn("wireguard: wireguard-go (pid %d) ignored SIGTERM; killing it",
				go->cur->pid);
			uv_process_kill(&go->cur->proc, SIGKILL);
		}
		break;
	default:
		break;
	}
}

/* True once pid has exited, without reaping it: libuv must still see the
 * exit (it reaps its children itself and then calls exit_cb). */
static bool has_exited(int pid, int *code)
{
	siginfo_t info = {0};

	if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	if (info.si_pid != pid)
		return false;
	*code = info.si_status;
	return true;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int wm_wg_go_open(struct wm_wg *wg, char *err, size_t errlen)
{
	struct wggo *go;
	int ret, code = 0;

	ret = sock_probe(wg);
	if (ret == 0) {
		snprintf(err, errlen,
			 "a WireGuard userspace daemon already serves %s (%s/%s.sock answers); "
			 "stop it or choose another interface name",
			 wg->ifname, wg->uapi_dir, wg->ifname);
		return -EEXIST;
	}
	if (ret == -ECONNREFUSED)
		remove_stale_socket(wg);
	go = calloc(1, sizeof(*go));
	if (!go)
		return -ENOMEM;
	go->wg = wg;
	wg->go = go;
	uv_timer_init(wg->loop, &go->timer);
	go->timer.data = go;
	go->state = GO_STARTING;
	ret = spawn(go, err, errlen);
	if (ret < 0)
		return ret;

	/* Open is synchronous by contract: poll for the socket, bounded. The
	 * loop is not running here, so a timer cannot do it; wireguard-go
	 * usually answers within tens of milliseconds, often within a few,
	 * so the first probes come every millisecond, doubling up to
	 * READY_POLL_MS: a join's first ping waits for this. */
	long step = 1;
	for (long waited = 0;; waited += step) {
		if (sock_probe(wg) == 0)
			break;
		if (has_exited(go->cur->pid, &code)) {
			snprintf(err, errlen,
				 "%s -f %s exited (status %d) before its UAPI socket %s/%s.sock "
				 "answered; see its output in the log (it needs CAP_NET_ADMIN and "
				 "/dev/net/tun)",
				 wg->wireguard_go, wg->ifname, code, wg->uapi_dir, wg->ifname);
			return -ECHILD;
		}
		if (waited >= READY_TIMEOUT_MS) {
			snprintf(err, errlen,
				 "%s -f %s did not open its UAPI socket %s/%s.sock within %d ms",
				 wg->wireguard_go, wg->ifname, wg->uapi_dir, wg->ifname,
				 READY_TIMEOUT_MS);
			return -ETIMEDOUT;
		}
		sleep_ms(step);
		if (step < READY_POLL_MS)
			step = step * 2 < READY_POLL_MS ? step * 2 : READY_POLL_MS;
	}
	go->state = GO_RUNNING;
	return 0;
}

int wm_wg_go_set(struct wm_wg *wg, const struct wm_wg_device *dev)
{
	if (!wg->go || wg->go->state != GO_RUNNING)
		return wg->go && wg->go->state == GO_FAILED ? -ESRCH : -EAGAIN;
	return wm_uapi_set(wg->uapi_dir, wg->ifname, dev);
}

int wm_wg_go_get(struct wm_wg *wg, struct wm_wg_device **out)
{
	char err[128];
	int ret;

	if (!wg->go || wg->go->state != GO_RUNNING)
		return wg->go && wg->go->state == GO_FAILED ? -ESRCH : -EAGAIN;
	ret = wm_uapi_get(wg->uapi_dir, wg->ifname, out, err, sizeof(err));
	if (ret == -WM_EPROTOCOL)
		wm_warn("wireguard: %s", err);
	return ret;
}

int wm_wg_go_pid(const struct wm_wg *wg)
{
	return wg->go && wg->go->cur && !wg->go->cur->exited ? wg->go->cur->pid : 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct wggo *go = h->data;

	go->timer_closed = true;
	maybe_finish(go);
}

/* The last step of close: every child freed, then the timer, then wg. */
static void maybe_finish(struct wggo *go)
{
	if (go->state != GO_CLOSING || go->children)
		return;
	if (!go->timer_closed) {
		if (!uv_is_closing((uv_handle_t *)&go->timer))
			uv_close((uv_handle_t *)&go->timer, timer_closed_cb);
		return;
	}
	go->wg->go = NULL;
	struct wm_wg *wg = go->wg;

	free(go);
	wm_wg_free_done(wg);
}

void wm_wg_go_close(struct wm_wg *wg)
{
	struct wggo *go = wg->go;

	if (!go) {
		wm_wg_free_done(wg);
		return;
	}
	go->state = GO_CLOSING;
	uv_timer_stop(&go->timer);
	if (go->cur && !go->cur->exited) {
		/* wireguard-go removes its socket and the tun device on SIGTERM. */
		uv_process_kill(&go->cur->proc, SIGTERM);
		uv_timer_start(&go->timer, timer_cb, STOP_GRACE_MS, 0);
		return;
	}
	remove_stale_socket(wg);
	maybe_finish(go);
}
