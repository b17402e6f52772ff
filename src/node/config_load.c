/* Reads webmeshd's configuration from a YAML file (libyaml), WEBMESH_* variables and flags.
 * libyaml is opened when a file is read, not linked: most nodes run from flags
 * alone, and loading it costs every process about 90 KiB of RSS. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/config.h"
#include "core/error.h"
#include "node/config_load.h"
#include "node/secrets.h"
#include "util/module.h"

#define CONFIG_FILE_MAX (1 << 20)

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -WM_ECONFIG;
}

/* Names read from untrusted input, shown safely in a message. */
static void escape(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0, i;

	for (i = 0; i < n && o + 5 < len && i < 64; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	if (i < n && o + 4 < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* ---- YAML ---- */

/* The soname of the ABI the header above describes. */
#define YAML_LIBRARY "libyaml-0.so.2"

/* Process-wide by nature: the library's entry points, bound once (under
 * yl_lock) and never changed; each file gets its own parser. */
static struct {
	__typeof__(yaml_parser_initialize) *parser_initialize;
	__typeof__(yaml_parser_set_input_string) *parser_set_input_string;
	__typeof__(yaml_parser_delete) *parser_delete;
	__typeof__(yaml_event_delete) *event_delete;
	__typeof__(yaml_parser_parse) *parser_parse;
} yl;
static pthread_mutex_t yl_lock = PTHREAD_MUTEX_INITIALIZER;

/* Opens the library once; a failure is retried on the next file. Never closed. */
static int yaml_open(char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&yl_lock);
	if (yl.parser_parse)
		goto out;
	const struct wm_library_sym syms[] = {
		{(void **)&yl.parser_initialize, "yaml_parser_initialize"},
		{(void **)&yl.parser_set_input_string, "yaml_parser_set_input_string"},
		{(void **)&yl.parser_delete, "yaml_parser_delete"},
		{(void **)&yl.event_delete, "yaml_event_delete"},
		/* last: its being set means all are */
		{(void **)&yl.parser_parse, "yaml_parser_parse"},
	};
	if (wm_library_bind("config", YAML_LIBRARY, "libyaml-0-2", syms,
			    sizeof(syms) / sizeof(syms[0]), err, errlen) < 0)
		rc = -WM_ECONFIG;
out:
	pthread_mutex_unlock(&yl_lock);
	return rc;
}

struct yaml_ctx {
	yaml_parser_t parser;
	const char *name;
	char *err;
	size_t errlen;
};

static int yaml_next(struct yaml_ctx *y, yaml_event_t *ev)
{
	if (yl.parser_parse(&y->parser, ev))
		return 0;
	return fail(y->err, y->errlen, "config: %s:%zu:%zu: not valid YAML: %s%s%s", y->name,
		    y->parser.problem_mark.line + 1, y->parser.problem_mark.column + 1,
		    y->parser.problem ? y->parser.problem : "syntax error",
		    y->parser.context ? " " : "", y->parser.context ? y->parser.context : "");
}

static size_t line_of(const yaml_event_t *ev)
{
	return ev->start_mark.line + 1;
}

static bool is_null(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *event_what(yaml_event_type_t t)
{
	switch (t) {
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_ALIAS_EVENT:
		return "an alias";
	default:
		return "something else";
	}
}

/* A scalar's text, refused if it hides a NUL byte. */
static int scalar_text(struct yaml_ctx *y, const yaml_event_t *ev, const char **out)
{
	const char *v = (const char *)ev->data.scalar.value;

	if (strlen(v) != ev->data.scalar.length)
		return fail(y->err, y->errlen, "config: %s:%zu: a value contains a NUL byte",
			    y->name, line_of(ev));
	*out = v;
	return 0;
}

static int yaml_list(struct yaml_ctx *y, struct wm_config *cfg, const struct wm_cfg_key *k)
{
	char source[512];
	yaml_event_t ev;
	const char *v = NULL;
	int r;

	wm_config_reset(cfg, k);
	for (;;) {
		r = yaml_next(y, &ev);
		if (r < 0)
			return r;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yl.event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT) {
			r = fail(y->err, y->errlen,
				 "config: %s:%zu: %s: list items must be single values, not %s",
				 y->name, line_of(&ev), k->name, event_what(ev.type));
			yl.event_delete(&ev);
			return r;
		}
		snprintf(source, sizeof(source), "%s:%zu", y->name, line_of(&ev));
		r = scalar_text(y, &ev, &v);
		if (r == 0 && is_null(&ev))
			v = "";
		if (r == 0 && !*v)
			r = fail(y->err, y->errlen, "config: %s: %s has an empty list item",
				 k->name, source);
		/* One item per sequence entry: an entry is never split at commas. */
		if (r == 0 && strchr(v, ','))
			r = fail(y->err, y->errlen,
				 "config: %s: item at %s contains ',' (write one item per line)",
				 k->name, source);
		if (r == 0)
			r = wm_config_append(cfg, k, v, source, y->err, y->errlen);
		yl.event_delete(&ev);
		if (r < 0)
			return r;
	}
}

/* A scalar event's text; anything else is refused as "what". */
static int plugin_scalar(struct yaml_ctx *y, yaml_event_t *ev, const char *what, const char **out)
{
	if (ev->type != YAML_SCALAR_EVENT)
		return fail(y->err, y->errlen,
			    "config: %s:%zu: plugins: %s must be a single value, not %s", y->name,
			    line_of(ev), what, event_what(ev->type));
	return scalar_text(y, ev, out);
}

/* plugins: NAME: {path: P, config: {KEY: VALUE}}, the YAML form of the
 * plugin and plugin-config keys (include/webmesh/plugin.h): it appends their
 * items, so the same checks apply. */
static int yaml_plugins(struct yaml_ctx *y, struct wm_config *cfg)
{
	const struct wm_cfg_key *kp = wm_cfg_find("plugin"), *kc = wm_cfg_find("plugin-config");
	char name[128], item[1200], source[512];
	yaml_event_t ev, ev2, ev3;
	const char *v;
	int r;

	wm_config_reset(cfg, kp);
	wm_config_reset(cfg, kc);
	for (;;) {
		bool has_path = false;
		if ((r = yaml_next(y, &ev)) < 0)
			return r;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yl.event_delete(&ev);
			return 0;
		}
		r = plugin_scalar(y, &ev, "a plugin's NAME", &v);
		if (r == 0)
			snprintf(name, sizeof(name), "%.100s", v);
		size_t line = line_of(&ev);
		yl.event_delete(&ev);
		if (r < 0)
			return r;
		if ((r = yaml_next(y, &ev)) < 0)
			return r;
		if (ev.type != YAML_MAPPING_START_EVENT) {
			r = fail(y->err, y->errlen,
				 "config: %s:%zu: plugins: %s: expected a mapping with path: and "
				 "config:, not %s",
				 y->name, line, name,
				 ev.type == YAML_SCALAR_EVENT ? "a single value"
							      : event_what(ev.type));
			yl.event_delete(&ev);
			return r;
		}
		yl.event_delete(&ev);
		for (;;) {
			if ((r = yaml_next(y, &ev)) < 0)
				return r;
			if (ev.type == YAML_MAPPING_END_EVENT) {
				yl.event_delete(&ev);
				break;
			}
			r = plugin_scalar(y, &ev, "a key", &v);
			bool is_path = r == 0 && strcmp(v, "path") == 0;
			bool is_config = r == 0 && strcmp(v, "config") == 0;
			if (r == 0 && !is_path && !is_config)
				r = fail(y->err, y->errlen,
					 "config: %s:%zu: plugins: %s: unknown key \"%.64s\" (path "
					 "or "
					 "config)",
					 y->name, line_of(&ev), name, v);
			yl.event_delete(&ev);
			if (r < 0)
				return r;
			if ((r = yaml_next(y, &ev2)) < 0)
				return r;
			snprintf(source, sizeof(source), "%s:%zu", y->name, line_of(&ev2));
			if (is_path) {
				r = plugin_scalar(y, &ev2, "path", &v);
				if (r == 0 && has_path)
					r = fail(y->err, y->errlen,
						 "config: %s: plugins: %s: path is given twice",
						 source, name);
				has_path = true;
				if (r == 0)
					snprintf(item, sizeof(item), "%s=%s", name, v);
				if (r == 0)
					r = wm_config_append(cfg, kp, item, source, y->err,
							     y->errlen);
				yl.event_delete(&ev2);
				if (r < 0)
					return r;
				continue;
			}
			if (ev2.type != YAML_MAPPING_START_EVENT) {
				r = fail(y->err, y->errlen,
					 "config: %s: plugins: %s: config must be a mapping of "
					 "KEY: VALUE",
					 source, name);
				yl.event_delete(&ev2);
				return r;
			}
			yl.event_delete(&ev2);
			for (;;) {
				const char *ck, *cv;
				char key[80];
				if ((r = yaml_next(y, &ev2)) < 0)
					return r;
				if (ev2.type == YAML_MAPPING_END_EVENT) {
					yl.event_delete(&ev2);
					break;
				}
				r = plugin_scalar(y, &ev2, "a config key", &ck);
				if (r == 0)
					snprintf(key, sizeof(key), "%.70s", ck);
				yl.event_delete(&ev2);
				if (r < 0)
					return r;
				if ((r = yaml_next(y, &ev3)) < 0)
					return r;
				snprintf(source, sizeof(source), "%s:%zu", y->name, line_of(&ev3));
				r = plugin_scalar(y, &ev3, "a config value", &cv);
				if (r == 0 && strchr(cv, ','))
					r = fail(y->err, y->errlen,
						 "config: %s: plugins: %s: %s: a value may not "
						 "contain ','",
						 source, name, key);
				if (r == 0 && snprintf(item, sizeof(item), "%s.%s=%s", name, key,
						       cv) >= (int)sizeof(item))
					r = fail(y->err, y->errlen,
						 "config: %s: plugins: %s: %s: the value is too "
						 "long",
						 source, name, key);
				if (r == 0)
					r = wm_config_append(cfg, kc, item, source, y->err,
							     y->errlen);
				yl.event_delete(&ev3);
				if (r < 0)
					return r;
			}
		}
		if (!has_path)
			return fail(y->err, y->errlen,
				    "config: %s:%zu: plugins: %s has no path:", y->name, line,
				    name);
	}
}

/* One "key: value" pair; ev is the key's scalar event. */
static int yaml_pair(struct yaml_ctx *y, struct wm_config *cfg, const yaml_event_t *key_ev,
		     bool *seen)
{
	const char *name = (const char *)key_ev->data.scalar.value;
	const struct wm_cfg_key *k = wm_cfg_find(name);
	char shown[300], source[512];
	yaml_event_t ev;
	const char *v = NULL;
	int r;

	escape(name, key_ev->data.scalar.length, shown, sizeof(shown));
	if (strcmp(name, "plugins") == 0 && strlen(name) == key_ev->data.scalar.length) {
		const struct wm_cfg_key *kp = wm_cfg_find("plugin");
		if (seen[kp - wm_cfg_keys])
			return fail(y->err, y->errlen, "config: %s:%zu: \"plugins\" is given twice",
				    y->name, line_of(key_ev));
		seen[kp - wm_cfg_keys] = true;
		r = yaml_next(y, &ev);
		if (r < 0)
			return r;
		if (ev.type != YAML_MAPPING_START_EVENT) {
			r = fail(y->err, y->errlen,
				 "config: %s:%zu: plugins: expected a mapping of NAME: {path: ..., "
				 "config: {...}}",
				 y->name, line_of(&ev));
			yl.event_delete(&ev);
			return r;
		}
		yl.event_delete(&ev);
		return yaml_plugins(y, cfg);
	}
	if (!k || strlen(name) != key_ev->data.scalar.length)
		return fail(y->err, y->errlen,
			    "config: %s:%zu: unknown key \"%s\" (webmeshd --help lists the keys)",
			    y->name, line_of(key_ev), shown);
	if (k->flags & WM_CFG_FLAG_ONLY)
		return fail(y->err, y->errlen,
			    "config: %s:%zu: \"%s\" can only be given on the command line (--%s)",
			    y->name, line_of(key_ev), k->name, k->name);
	if (seen[k - wm_cfg_keys])
		return fail(y->err, y->errlen, "config: %s:%zu: \"%s\" is given twice", y->name,
			    line_of(key_ev), k->name);
	seen[k - wm_cfg_keys] = true;

	r = yaml_next(y, &ev);
	if (r < 0)
		return r;
	snprintf(source, sizeof(source), "%s:%zu", y->name, line_of(&ev));
	if (ev.type == YAML_SCALAR_EVENT) {
		r = scalar_text(y, &ev, &v);
		if (r == 0 && is_null(&ev))
			wm_config_reset(cfg, k);
		else if (r == 0)
			r = wm_config_set(cfg, k, v, source, y->err, y->errlen);
	} else if (ev.type == YAML_SEQUENCE_START_EVENT && k->type == WM_CFG_LIST) {
		r = yaml_list(y, cfg, k);
	} else {
		r = fail(y->err, y->errlen, "config: %s: %s: expected a single value, not %s",
			 source, k->name, event_what(ev.type));
	}
	yl.event_delete(&ev);
	return r;
}

static int yaml_document(struct yaml_ctx *y, struct wm_config *cfg)
{
	bool seen[WM_CFG_KEYS_MAX] = {false};
	yaml_event_t ev;
	int r;

	r = yaml_next(y, &ev);
	if (r < 0)
		return r;
	if (ev.type == YAML_SCALAR_EVENT && is_null(&ev)) {
		yl.event_delete(&ev); /* an empty document: nothing to set */
		return 0;
	}
	if (ev.type != YAML_MAPPING_START_EVENT) {
		r = fail(y->err, y->errlen,
			 "config: %s:%zu: expected a mapping of \"key: value\" lines, not %s",
			 y->name, line_of(&ev),
			 ev.type == YAML_SCALAR_EVENT ? "a single value" : event_what(ev.type));
		yl.event_delete(&ev);
		return r;
	}
	yl.event_delete(&ev);
	for (;;) {
		r = yaml_next(y, &ev);
		if (r < 0)
			return r;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yl.event_delete(&ev);
			return 0;
		}
		if (ev.type != YAML_SCALAR_EVENT)
			r = fail(y->err, y->errlen, "config: %s:%zu: a key must be a name, not %s",
				 y->name, line_of(&ev), event_what(ev.type));
		else
			r = yaml_pair(y, cfg, &ev, seen);
		yl.event_delete(&ev);
		if (r < 0)
			return r;
	}
}

int wm_config_load_yaml(struct wm_config *cfg, const char *buf, size_t len, const char *name,
			char *err, size_t errlen)
{
	struct yaml_ctx y = {.name = name ? name : "<config>", .err = err, .errlen = errlen};
	yaml_event_t ev;
	int r;

	r = yaml_open(err, errlen);
	if (r < 0)
		return r;
	if (!yl.parser_initialize(&y.parser))
		return -ENOMEM;
	yl.parser_set_input_string(&y.parser, (const unsigned char *)buf, len);

	r = yaml_next(&y, &ev); /* STREAM-START */
	if (r < 0)
		goto out;
	yl.event_delete(&ev);
	r = yaml_next(&y, &ev);
	if (r < 0)
		goto out;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yl.event_delete(&ev); /* an empty file */
		goto out;
	}
	yl.event_delete(&ev); /* DOCUMENT-START */
	r = yaml_document(&y, cfg);
	if (r < 0)
		goto out;
	r = yaml_next(&y, &ev); /* DOCUMENT-END */
	if (r < 0)
		goto out;
	yl.event_delete(&ev);
	r = yaml_next(&y, &ev);
	if (r < 0)
		goto out;
	if (ev.type != YAML_STREAM_END_EVENT)
		r = fail(err, errlen, "config: %s:%zu: only one YAML document is allowed", y.name,
			 line_of(&ev));
	yl.event_delete(&ev);
out:
	yl.parser_delete(&y.parser);
	return r;
}

int wm_config_load_file(struct wm_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int r;

	if (!f)
		return fail(err, errlen, "config: cannot open %s: %s", path, strerror(errno));
	buf = malloc(CONFIG_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f))
		r = fail(err, errlen, "config: cannot read %s: %s", path, strerror(errno));
	else if (n > CONFIG_FILE_MAX)
		r = fail(err, errlen, "config: %s is larger than 1 MiB", path);
	else
		r = wm_config_load_yaml(cfg, buf, n, path, err, errlen);
	fclose(f);
	free(buf);
	return r;
}

/* ---- environment ---- */

int wm_config_load_env(struct wm_config *cfg, char **envp, char *err, size_t errlen)
{
	char shown[300];

	for (size_t i = 0; envp && envp[i]; i++) {
		const char *e = envp[i], *eq = strchr(e, '=');
		const struct wm_cfg_key *k, *found = NULL;
		char name[128];
		size_t n;
		int r;

		if (strncmp(e, "WEBMESH_", 8) != 0 || !eq)
			continue;
		n = (size_t)(eq - e);
		if (n == strlen("WEBMESH_CONFIG") && strncmp(e, "WEBMESH_CONFIG", n) == 0)
			continue;
		for (k = wm_cfg_keys; k->name && !found; k++) {
			char env[64];

			wm_cfg_env_name(k->name, env, sizeof(env));
			if (strlen(env) == n && strncmp(env, e, n) == 0)
				found = k;
		}
		escape(e, n, shown, sizeof(shown));
		if (!found)
			return fail(err, errlen,
				    "config: unknown environment variable %s (no such key; "
				    "webmeshd --help lists them)",
				    shown);
		if (found->flags & WM_CFG_FLAG_ONLY)
			return fail(
				err, errlen,
				"config: %s: \"%s\" can only be given on the command line (--%s)",
				shown, found->name, found->name);
		snprintf(name, sizeof(name), "%.*s", (int)n, e);
		r = wm_config_set(cfg, found, eq + 1, name, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- flags ---- */

/* With only_early set, applies just what is needed before the other sources
 * are read (--config, --help, --version) and ignores everything else. */
static int parse_args(struct wm_config *cfg, int argc, char **argv, bool only_early, char *err,
		      size_t errlen)
{
	bool list_seen[WM_CFG_KEYS_MAX] = {false};
	char shown[300], source[310];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *value;
		const struct wm_cfg_key *k = NULL;
		bool negated = false;
		size_t n;
		int r;

		if (strcmp(a, "-h") == 0) {
			cfg->help = true;
			continue;
		}
		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] != '-' || !a[2]) {
			if (only_early)
				continue;
			escape(a, strlen(a), shown, sizeof(shown));
			return fail(err, errlen,
				    "config: unexpected argument \"%s\" (options are --key value; "
				    "see --help)",
				    shown);
		}
		name = a + 2;
		eq = strchr(name, '=');
		n = eq ? (size_t)(eq - name) : strlen(name);
		for (const struct wm_cfg_key *c = wm_cfg_keys; c->name && !k; c++) {
			if (strlen(c->name) == n && strncmp(c->name, name, n) == 0)
				k = c;
			else if (c->type == WM_CFG_BOOL && n == strlen(c->name) + 3 &&
				 strncmp(name, "no-", 3) == 0 &&
				 strncmp(c->name, name + 3, n - 3) == 0) {
				k = c;
				negated = true;
			}
		}
		escape(name, n, shown, sizeof(shown));
		if (!k) {
			if (only_early)
				continue;
			return fail(err, errlen, "config: unknown flag --%s (see --help)", shown);
		}
		snprintf(source, sizeof(source), "--%s", shown);
		if (k->type == WM_CFG_BOOL) {
			if (negated && eq) {
				if (only_early)
					continue;
				return fail(err, errlen, "config: --%s takes no value", shown);
			}
			value = negated ? "false" : eq ? eq + 1 : "true";
		} else if (eq) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			if (only_early)
				continue;
			return fail(err, errlen, "config: --%s needs a value (--%s %s)", k->name,
				    k->name, k->arg ? k->arg : "VALUE");
		}
		if (only_early && strcmp(k->name, "config") != 0 && strcmp(k->name, "help") != 0 &&
		    strcmp(k->name, "version") != 0)
			continue;
		if (k->type == WM_CFG_LIST && list_seen[k - wm_cfg_keys]) {
			r = wm_config_append(cfg, k, value, source, err, errlen);
		} else {
			list_seen[k - wm_cfg_keys] = true;
			r = wm_config_set(cfg, k, value, source, err, errlen);
		}
		if (!only_early)
			cfg->secret_from_flag |= wm_secrets_bit(k->name);
		if (r < 0 && !only_early)
			return r;
	}
	return 0;
}

int wm_config_load_args(struct wm_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	return parse_args(cfg, argc, argv, false, err, errlen);
}

int wm_config_load(struct wm_config *cfg, int argc, char **argv, char **envp, char *err,
		   size_t errlen)
{
	const char *path = NULL;
	int r;

	if (err && errlen)
		err[0] = '\0';
	r = wm_config_init(cfg);
	if (r < 0) {
		memset(cfg, 0, sizeof(*cfg));
		return r;
	}
	r = parse_args(cfg, argc, argv, true, err, errlen);
	if (r < 0)
		return r;
	if (cfg->help || cfg->version)
		return wm_config_load_args(cfg, argc, argv, err, errlen);
	if (cfg->config_file) {
		path = cfg->config_file;
	} else {
		for (size_t i = 0; envp && envp[i]; i++) {
			if (strncmp(envp[i], "WEBMESH_CONFIG=", 15) == 0 && envp[i][15])
				path = envp[i] + 15;
		}
		if (path) {
			r = wm_config_set(cfg, wm_cfg_find("config"), path, "WEBMESH_CONFIG", err,
					  errlen);
			if (r < 0)
				return r;
			path = cfg->config_file;
		}
	}
	if (path) {
		r = wm_config_load_file(cfg, path, err, errlen);
		if (r < 0)
			return r;
		cfg->secret_from_config = wm_secrets_set(cfg);
	}
	r = wm_config_load_env(cfg, envp, err, errlen);
	if (r < 0)
		return r;
	r = wm_config_load_args(cfg, argc, argv, err, errlen);
	if (r < 0)
		return r;
	return wm_secrets_resolve(cfg, err, errlen);
}

/* ---- usage ---- */

void wm_config_usage(FILE *f)
{
	fprintf(f, "Usage: webmeshd --bootstrap [OPTIONS]\n"
		   "       webmeshd --join HOST:PORT [OPTIONS]\n"
		   "\n"
		   "Runs a node of a webmesh WireGuard mesh. Every option not marked\n"
		   "\"flag only\" is also a key of the YAML file given with --config FILE\n"
		   "and an environment variable WEBMESH_<KEY> (upper case, '-' as '_'). Flags\n"
		   "override the environment, which overrides the file. Lists are\n"
		   "comma-separated (or a YAML sequence); booleans take --no-KEY.\n"
		   "\n"
		   "Options:\n");
	for (const struct wm_cfg_key *k = wm_cfg_keys; k->name; k++) {
		char left[64];
		int n;

		if (k->type == WM_CFG_BOOL)
			n = snprintf(left, sizeof(left), "  --%s", k->name);
		else if (k->type == WM_CFG_ENUM) {
			size_t o = (size_t)snprintf(left, sizeof(left), "  --%s ", k->name);

			for (size_t i = 0; k->choices[i] && o < sizeof(left); i++)
				o += (size_t)snprintf(left + o, sizeof(left) - o, "%s%s",
						      i ? "|" : "", k->choices[i]);
			n = (int)strlen(left);
		} else
			n = snprintf(left, sizeof(left), "  --%s %s", k->name,
				     k->arg ? k->arg : "VALUE");
		if (n < 0)
			continue;
		if (n >= 34)
			fprintf(f, "%s\n%34s", left, "");
		else
			fprintf(f, "%-34s", left);
		fprintf(f, "%s", k->help ? k->help : "");
		if (k->def && k->type != WM_CFG_BOOL)
			fprintf(f, " [%s]", k->def);
		if (k->type == WM_CFG_UINT)
			fprintf(f, " (%llu..%llu)", (unsigned long long)k->min,
				(unsigned long long)k->max);
		if (k->flags & WM_CFG_FLAG_ONLY)
			fprintf(f, " (flag only)");
		fprintf(f, "\n");
	}
}
