/* --use-meshdns on the host: systemd-resolved per link, or resolv.conf
 * (see resolver.h). */
#include "dns/resolver.h"

#include "core/dnsname.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
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
	char busctl[64];
	bool resolved; /* systemd-resolved runs: per-link DNS */
	unsigned ifindex;
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
	struct wm_resolver *r;
	struct stat st;

	/* On a member the domain is the server's (JoinResponse), and it goes
	 * into busctl's arguments and into resolv.conf: only a DNS domain. */
	if (!cfg->domain || wm_dns_name_check(cfg->domain, 0, NULL) < 0)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->ifname, sizeof(r->ifname), "%s", cfg->ifname);
	snprintf(r->domain, sizeof(r->domain), "%s", cfg->domain);
	snprintf(r->path, sizeof(r->path), "%s",
		 cfg->resolv_conf ? cfg->resolv_conf : "/etc/resolv.conf");
	if (cfg->busctl)
		snprintf(r->busctl, sizeof(r->busctl), "%s", cfg->busctl);
	else if (access("/usr/bin/busctl", X_OK) == 0)
		snprintf(r->busctl, sizeof(r->busctl), "/usr/bin/busctl");
	else if (access("/bin/busctl", X_OK) == 0)
		snprintf(r->busctl, sizeof(r->busctl), "/bin/busctl");
	/* resolved is in charge when the stub is this host's nameserver. */
	char *text = read_file(r->path);
	r->resolved = r->busctl[0] && text && strstr(text, "nameserver 127.0.0.53") &&
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

/* One method of org.freedesktop.resolve1.Manager (resolved's D-Bus API,
 * org.freedesktop.resolve1(5)) on the system bus, through busctl: argv
 * after the signature are its arguments as busctl reads them. */
static int resolved_call(const struct wm_resolver *r, const char *method, const char *const args[],
			 size_t n)
{
	const char *argv[32] = {r->busctl,
				"call",
				"--quiet",
				"--", /* no argument after it is read as an option */
				"org.freedesktop.resolve1",
				"/org/freedesktop/resolve1",
				"org.freedesktop.resolve1.Manager",
				method};
	size_t k = 8;

	for (size_t i = 0; i < n && k < 31; i++)
		argv[k++] = args[i];
	argv[k] = NULL;
	return run(argv);
}

/* The link's DNS server and its one routing-only domain (~DOMAIN: only
 * names under it go there, and the link is no default route). */
static int resolved_set(const struct wm_resolver *r, const struct wm_endpoint *server,
			unsigned ifindex)
{
	char idx[16], fam[4], port[8], bytes[16][4];
	const char *dns[8 + 16] = {"ia(iayqs)", idx, "1", fam};
	size_t n = 4, alen = server->ip.family == AF_INET ? 4 : 16;
	int rc;

	snprintf(idx, sizeof(idx), "%u", ifindex);
	snprintf(fam, sizeof(fam), "%d", server->ip.family);
	static const char *lens[] = {[4] = "4", [16] = "16"};
	dns[n++] = lens[alen];
	for (size_t i = 0; i < alen; i++) {
		snprintf(bytes[i], sizeof(bytes[i]), "%u", server->ip.addr[i]);
		dns[n++] = bytes[i];
	}
	snprintf(port, sizeof(port), "%u", server->port);
	dns[n++] = port;
	dns[n++] = ""; /* no TLS server name */
	rc = resolved_call(r, "SetLinkDNSEx", dns, n);
	if (!rc) {
		const char *dom[] = {"ia(sb)", idx, "1", r->domain, "true"};
		rc = resolved_call(r, "SetLinkDomains", dom, 5);
	}
	return rc;
}

int wm_resolver_set(struct wm_resolver *r, const struct wm_endpoint *server, char *err,
		    size_t errlen)
{
	char addr[WM_ENDPOINT_STRLEN], ip[WM_PREFIX_STRLEN];
	int rc;

	wm_prefix_format_addr(&server->ip, ip, sizeof(ip));
	if (server->port == 53)
		snprintf(addr, sizeof(addr), "%s", ip);
	else
		wm_endpoint_format(server, addr, sizeof(addr));
	if (r->applied && strcmp(addr, r->current) == 0)
		return 0;
	if (r->resolved) {
		unsigned ifindex = if_nametoindex(r->ifname);
		if (!ifindex) {
			snprintf(err, errlen, "no interface %s for systemd-resolved's per-link DNS",
				 r->ifname);
			return -ENODEV;
		}
		rc = resolved_set(r, server, ifindex);
		if (rc) {
			snprintf(err, errlen,
				 "systemd-resolved refused the DNS settings of %s (%s call "
				 "org.freedesktop.resolve1 SetLinkDNSEx/SetLinkDomains): %s",
				 r->ifname, r->busctl, strerror(-rc));
			return rc;
		}
		r->ifindex = ifindex;
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
		char idx[16];
		snprintf(idx, sizeof(idx), "%u", r->ifindex);
		const char *revert[] = {"i", idx};
		resolved_call(r, "RevertLink", revert, 2);
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
