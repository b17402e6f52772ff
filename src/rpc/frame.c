/* gRPC wire pieces without I/O: message framing, grpc-timeout, percent-encoding. */
#include "rpc/frame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/key.h"

/* A buffer grown for one large message is not kept for the next ones. */
#define KEEP_BUF_MAX (64u * 1024)

void wm_grpc_decoder_init(struct wm_grpc_decoder *d, size_t max)
{
	memset(d, 0, sizeof(*d));
	d->max = max;
}

void wm_grpc_decoder_free(struct wm_grpc_decoder *d)
{
	free(d->buf);
	d->buf = NULL;
	d->buf_len = d->buf_cap = 0;
}

bool wm_grpc_decoder_idle(const struct wm_grpc_decoder *d)
{
	return d->hdr_len == 0;
}

static int buf_reserve(struct wm_grpc_decoder *d, size_t need)
{
	if (need <= d->buf_cap)
		return 0;
	/* Grow with the bytes that actually arrived, not with the announced
	 * length: a peer announcing many large messages costs us nothing. */
	size_t cap = d->buf_cap ? d->buf_cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > d->msg_len)
		cap = d->msg_len;
	uint8_t *p = realloc(d->buf, cap);
	if (!p)
		return -ENOMEM;
	d->buf = p;
	d->buf_cap = cap;
	return 0;
}

static int deliver(struct wm_grpc_decoder *d, const uint8_t *msg, size_t len, wm_grpc_message_fn fn,
		   void *data)
{
	static const uint8_t empty[1];
	d->hdr_len = 0;
	d->buf_len = 0;
	return fn(data, len ? msg : empty, len);
}

int wm_grpc_decoder_feed(struct wm_grpc_decoder *d, const uint8_t *p, size_t n,
			 wm_grpc_message_fn fn, void *data)
{
	int rv;
	while (n > 0) {
		if (d->hdr_len < WM_GRPC_FRAME_HDR) {
			size_t k = WM_GRPC_FRAME_HDR - d->hdr_len;
			if (k > n)
				k = n;
			memcpy(d->hdr + d->hdr_len, p, k);
			d->hdr_len += k;
			p += k;
			n -= k;
			if (d->hdr_len < WM_GRPC_FRAME_HDR)
				break;
			if (d->hdr[0] & 1)
				return -EPROTONOSUPPORT;
			if (d->hdr[0])
				return -EPROTO;
			d->msg_len = (uint32_t)d->hdr[1] << 24 | (uint32_t)d->hdr[2] << 16 |
				     (uint32_t)d->hdr[3] << 8 | d->hdr[4];
			if (d->msg_len > d->max) {
				d->last_len = d->msg_len;
				return -EMSGSIZE;
			}
			d->buf_len = 0;
			if (d->on_header && (rv = d->on_header(d->on_header_data, d->msg_len)))
				return rv;
			if (d->msg_len == 0) {
				rv = deliver(d, NULL, 0, fn, data);
				if (rv)
					return rv;
				continue;
			}
			if (n == 0)
				break;
		}
		size_t need = d->msg_len - d->buf_len;
		if (d->buf_len == 0 && n >= need) {
			/* The whole message is in this chunk: no copy. */
			rv = deliver(d, p, need, fn, data);
			p += need;
			n -= need;
			if (rv)
				return rv;
			continue;
		}
		size_t k = need < n ? need : n;
		if (buf_reserve(d, d->buf_len + k))
			return -ENOMEM;
		memcpy(d->buf + d->buf_len, p, k);
		d->buf_len += k;
		p += k;
		n -= k;
		if (d->buf_len == d->msg_len) {
			rv = deliver(d, d->buf, d->msg_len, fn, data);
			if (d->buf_cap > KEEP_BUF_MAX)
				wm_grpc_decoder_free(d);
			if (rv)
				return rv;
		}
	}
	return 0;
}

void wm_grpc_frame_header(uint8_t out[WM_GRPC_FRAME_HDR], uint32_t len)
{
	out[0] = 0;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int wm_grpc_timeout_parse(const char *s, size_t len, uint64_t *ms)
{
	if (len < 2 || len > 9)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	switch (s[len - 1]) {
	case 'H':
		*ms = v * 3600000;
		break;
	case 'M':
		*ms = v * 60000;
		break;
	case 'S':
		*ms = v * 1000;
		break;
	case 'm':
		*ms = v;
		break;
	case 'u':
		*ms = (v + 999) / 1000;
		break;
	case 'n':
		*ms = (v + 999999) / 1000000;
		break;
	default:
		return -EINVAL;
	}
	return 0;
}

void wm_grpc_timeout_format(uint64_t ms, char out[16])
{
	static const struct {
		uint64_t div;
		char unit;
	} units[] = {{1, 'm'}, {1000, 'S'}, {60000, 'M'}, {3600000, 'H'}};
	uint64_t v = ms;
	char unit = 'H';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		/* Round up: a deadline sent a little late is better than early. */
		v = ms / units[i].div + (ms % units[i].div != 0);
		unit = units[i].unit;
		if (v <= 99999999)
			break;
	}
	if (v > 99999999)
		v = 99999999;
	snprintf(out, 16, "%" PRIu64 "%c", v, unit);
}

static bool plain(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e && c != '%';
}

char *wm_grpc_percent_encode(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += plain(*p) ? 1 : 3;
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (plain(*p)) {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *wm_grpc_percent_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < len && (hi = wm_hex_digit(s[i + 1])) >= 0 &&
		    (lo = wm_hex_digit(s[i + 2])) >= 0) {
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

bool wm_grpc_content_type_ok(const char *v, size_t len)
{
	static const char base[] = "application/grpc";
	size_t n = sizeof(base) - 1;
	if (len < n || strncasecmp(v, base, n) != 0)
		return false;
	return len == n || v[n] == '+' || v[n] == ';';
}
