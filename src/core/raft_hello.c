/* The Raft authentication message: encoding and a parser for untrusted bytes. */
#include "core/raft_hello.h"

#include <errno.h>
#include <string.h>

static const uint8_t magic[4] = {'W', 'M', 'R', '1'};

/* Smallest body: a 1-char ID, raft ID, a 1-char address, MAC. */
#define BODY_MIN (1 + 1 + 8 + 1 + 1 + WM_RAFT_MAC_LEN)
#define BODY_MAX (WM_RAFT_HELLO_MAX - 6)

int wm_raft_hello_encode(const struct wm_raft_hello *h, uint8_t buf[WM_RAFT_HELLO_MAX])
{
	size_t id_len = strnlen(h->node_id, sizeof(h->node_id));
	size_t addr_len = strnlen(h->address, sizeof(h->address));
	if (id_len == 0 || id_len > WM_NODE_ID_MAX || addr_len == 0 ||
	    addr_len > WM_RAFT_ADDRESS_MAX || h->raft_id == 0)
		return -EINVAL;
	size_t body = 1 + id_len + 8 + 1 + addr_len + WM_RAFT_MAC_LEN;
	uint8_t *p = buf;
	memcpy(p, magic, 4);
	p += 4;
	*p++ = (uint8_t)(body >> 8);
	*p++ = (uint8_t)body;
	*p++ = (uint8_t)id_len;
	memcpy(p, h->node_id, id_len);
	p += id_len;
	for (int i = 7; i >= 0; i--)
		*p++ = (uint8_t)(h->raft_id >> (8 * i));
	*p++ = (uint8_t)addr_len;
	memcpy(p, h->address, addr_len);
	p += addr_len;
	memcpy(p, h->mac, WM_RAFT_MAC_LEN);
	p += WM_RAFT_MAC_LEN;
	return (int)(p - buf);
}

static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -EPROTO;
}

int wm_raft_hello_parse(const uint8_t *buf, size_t len, struct wm_raft_hello *out, const char **why)
{
	struct wm_raft_hello h;
	const char *id_why = NULL;

	/* Judge the magic on what has arrived, so that garbage is refused at
	 * its first byte rather than after a wait for more. */
	if (memcmp(buf, magic, len < 4 ? len : 4) != 0)
		return refuse(why, "not a webmesh raft hello (bad magic)");
	if (len < 6)
		return -EAGAIN;
	size_t body = (size_t)buf[4] << 8 | buf[5];
	if (body < BODY_MIN || body > BODY_MAX)
		return refuse(why, "hello length out of range");
	if (len < 6 + body)
		return -EAGAIN;
	const uint8_t *p = buf + 6, *end = p + body;
	size_t id_len = *p++;
	if (id_len == 0 || id_len > WM_NODE_ID_MAX || (size_t)(end - p) < id_len + 8 + 1)
		return refuse(why, "hello node ID length out of range");
	memcpy(h.node_id, p, id_len);
	h.node_id[id_len] = '\0';
	if (memchr(p, '\0', id_len) || wm_node_id_check(h.node_id, &id_why) != 0)
		return refuse(why, "hello node ID is not valid");
	p += id_len;
	h.raft_id = 0;
	for (int i = 0; i < 8; i++)
		h.raft_id = h.raft_id << 8 | *p++;
	if (h.raft_id == 0)
		return refuse(why, "hello raft ID is 0");
	size_t addr_len = *p++;
	if (addr_len == 0 || addr_len > WM_RAFT_ADDRESS_MAX ||
	    (size_t)(end - p) != addr_len + WM_RAFT_MAC_LEN)
		return refuse(why, "hello address length out of range");
	for (size_t i = 0; i < addr_len; i++)
		if (p[i] <= ' ' || p[i] > '~')
			return refuse(why, "hello address is not printable");
	memcpy(h.address, p, addr_len);
	h.address[addr_len] = '\0';
	p += addr_len;
	memcpy(h.mac, p, WM_RAFT_MAC_LEN);
	*out = h;
	return (int)(6 + body);
}

int wm_raft_mac_input(const char *role, const uint8_t exporter[WM_RAFT_EXPORTER_LEN],
		      uint8_t out[WM_RAFT_MAC_INPUT_MAX])
{
	if (strcmp(role, "client") != 0 && strcmp(role, "server") != 0)
		return -EINVAL;
	size_t n = 0, l = strlen(WM_RAFT_HELLO_LABEL), r = strlen(role);
	memcpy(out + n, WM_RAFT_HELLO_LABEL, l);
	n += l;
	out[n++] = '\n';
	memcpy(out + n, role, r);
	n += r;
	out[n++] = '\n';
	memcpy(out + n, exporter, WM_RAFT_EXPORTER_LEN);
	return (int)(n + WM_RAFT_EXPORTER_LEN);
}
