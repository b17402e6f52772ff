/* --use-meshdns on the host: systemd-resolved per link, or resolv.conf
 * (see resolver.h). */
#include "dns/resolver.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct wm_resolver {
	char ifname[64];
	char domain[256];
	char path[256];
	char resolvectl[64];
	bool resolved; /* systemd-resolved runs: per-link DNS */
	bool applied;
	char *original;	  /* resolv.conf as we found it */
	char *written;	  /* what we wrote */
	char current[64]; /* the server in place */
};

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *s = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *p = realloc(s, cap = cap ? cap * 2 : 8192);
			if (!p) {
				free(s);
				fclose(f);
				return NULL;
			}
			s = p;
		}
		n = fread(s + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0 && len < (1u << 20));
	fclose(f);
	s[len] = '\0';
	return s;
}

/* In place (O_TRUNC, not rename): /etc/resolv.conf is often a symlink or a
 * bind mount, which a rename would replace or fail on. */
static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	size_t n = strlen(text), done = 0;

	if (fd < 0)
		return -errno;
	while (done < n) {
		ssize_t w = write(fd, text + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int e = -errno;
			close(fd);
			return e;
		}
		done += (size_t)w;
	}
	return close(fd) < 0 ? -errno : 0;
}

static int run(const char *const argv[])
{
	pid_t pid;
	int status;
	posix_spawn_file_actions_t fa;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -rc;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

int wm_resolver_new(const struct wm_resolver_config *cfg, struct wm_resolver **out)
{
	struct wm_resolver *r = calloc(1, sizeof(*r));
	struct stat st;

	if (!r)
		return -ENOMEM;
	snprintf(r->ifname, sizeof(r->ifname), "%s", cfg->ifname);
	snprintf(r->domain, sizeof(r->domain), "%s", cfg->domain);
	snprintf(r->path, sizeof(r->path), "%s",
		 cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf");
	if (cfg->resolvectl)
		snprintf(r->resolvectl, sizeof(r->resolvectl), "%s", cfg->resolvectl);
	else if (access("/usr/bin/resolvectl", X_OK) == 0)
		snprintf(r->resolvectl, sizeof(r->resolvectl), "/usr/bin/resolvectl");
	else if (access("/bin/resolvectl", X_OK) == 0)
		snprintf(r->resolvectl, sizeof(r->resolvectl), "/bin/resolvectl");
	/* resolved is in charge when the stub is this host's nameserver. */
	char *text = read_file(r->path);
	r->resolved = r->resolvectl[0] && text && strstr(text, "nameserver 127.0.0.53") &&
		      stat("/run/systemd/resolve", &st) == 0;
	if (text && !r->resolved) {
		/* A block left by a daemon that crashed goes first. */
		char *clean = NULL;
		if (wm_resolvconf_without_block(text, &clean) == 0 && strcmp(clean, text) != 0)
			write_file(r->path, clean);
		free(text);
		text = clean;
	}
	r->original = text;
	*out = r;
	return 0;
}

int wm_resolver_set(struct wm_resolver *r, const struct wm_endpoint *server, char *err,
		    size_t errlen)
{
	char addr[WM_ENDPOINT_STRLEN], ip[WM_PREFIX_STRLEN], dom[260];
	int rc;

	wm_prefix_format_addr(&server->ip, ip, sizeof(ip));
	if (server->port == 53)
		snprintf(addr, sizeof(addr), "%s", ip);
	else
		wm_endpoint_format(server, addr, sizeof(addr));
	if (r->applied && strcmp(addr, r->current) == 0)
		return 0;
	if (r->resolved) {
		const char *dns[] = {r->resolvectl, "dns", r->ifname, addr, NULL};
		snprintf(dom, sizeof(dom), "~%s", r->domain);
		const char *domain[] = {r->resolvectl, "domain", r->ifname, dom, NULL};
		rc = run(dns);
		if (!rc)
			rc = run(domain);
		if (rc) {
			snprintf(err, errlen, "%s dns/domain %s failed: %s", r->resolvectl,
				 r->ifname, strerror(-rc));
			return rc;
		}
	} else {
		char *text = NULL;
		if (server->port != 53) {
			snprintf(err, errlen,
				 "resolv.conf has no ports: a MeshDNS server for --use-meshdns "
				 "must listen on port 53 (got %s)",
				 addr);
			return -EINVAL;
		}
		if (!r->original) {
			snprintf(err, errlen, "cannot read %s", r->path);
			return -ENOENT;
		}
		rc = wm_resolvconf_with_block(r->original, ip, &text);
		if (!rc)
			rc = write_file(r->path, text);
		if (rc) {
			free(text);
			snprintf(err, errlen, "cannot write %s: %s", r->path, strerror(-rc));
			return rc;
		}
		free(r->written);
		r->written = text;
	}
	snprintf(r->current, sizeof(r->current), "%s", addr);
	r->applied = true;
	return 0;
}

void wm_resolver_free(struct wm_resolver *r)
{
	if (!r)
		return;
	if (r->applied && r->resolved) {
		const char *revert[] = {r->resolvectl, "revert", r->ifname, NULL};
		run(revert);
	} else if (r->applied) {
		char *now = read_file(r->path), *clean = NULL;
		/* Untouched since: the original bytes. Changed by someone else:
		 * keep their change, take only our block out. */
		if (now && r->written && strcmp(now, r->written) == 0)
			write_file(r->path, r->original);
		else if (now && wm_resolvconf_without_block(now, &clean) == 0)
			write_file(r->path, clean);
		free(clean);
		free(now);
	}
	free(r->original);
	free(r->written);
	free(r);
}
