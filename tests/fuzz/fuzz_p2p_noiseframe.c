/* libFuzzer harness: the frames of a libp2p secure channel after the Noise
 * handshake (src/p2p/noiseframe.c, what the host's secure_input reads), as
 * a peer holding the key would send them and as one that tampers would.
 * The input is a list of operations, each an opcode byte then its operands:
 *   op % 5 == 0  a frame sealed with the fixed key: 1 length byte, payload
 *   op % 5 == 1  the same with a 2-byte length (up to a full frame)
 *   op % 5 == 2  raw bytes: 1 length byte, then the bytes as they are
 *   op % 5 == 3  a read boundary here
 *   op % 5 == 4  one bit of what is there so far flipped (2 position bytes)
 * The stream is given to one receiver whole and to another in the reads
 * the boundaries make; the second feeds what it opens to yamux, as the
 * host does.
 *
 * Checks beyond "no crash": what opens is always a prefix of what was
 * sealed, in order (nothing forged or reordered gets through); with no raw
 * bytes or flips, everything opens and nothing is left; how the stream is
 * cut into reads changes neither what opens nor whether it fails; no frame
 * is longer than the 2-byte bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/noiseframe.h"
#include "p2p/yamux.h"

#define STREAM_MAX (1024u * 1024u)
#define FRAMES_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t stream[STREAM_MAX], sealed[STREAM_MAX];

struct rcv {
	struct wm_noise_cs rx;
	size_t nin, nout;
	int err;
	struct wm_yamux *y; /* NULL: opened bytes are only kept */
	bool y_failed;
	/* last: a run clears the fields above only */
	uint8_t in[STREAM_MAX];
	uint8_t out[STREAM_MAX];
};

static struct rcv whole, split;

static void y_send(void *ud, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)buf;
	(void)len;
}

static int y_open(void *ud, uint32_t id)
{
	(void)ud;
	return id % 5 == 0 ? -1 : 0;
}

static void y_data(void *ud, uint32_t id, const uint8_t *buf, size_t len)
{
	(void)ud;
	(void)id;
	(void)buf;
	(void)len;
}

static const struct wm_yamux_cb ycb = {
	.send = y_send, .stream_open = y_open, .stream_data = y_data};

static void key(struct wm_noise_cs *cs)
{
	memset(cs, 0, sizeof(*cs));
	for (int i = 0; i < 32; i++)
		cs->k[i] = (uint8_t)(0xa5 ^ i);
	cs->has_key = true;
}

/* What the host does with a read: append, open every whole frame, keep
 * the rest at the front. */
static void feed(struct rcv *r, const uint8_t *buf, size_t len)
{
	size_t off = 0, used, pl;
	uint8_t *pt;
	int rc;

	if (r->err)
		return;
	memcpy(r->in + r->nin, buf, len);
	r->nin += len;
	while ((rc = wm_noise_frame_open(&r->rx, r->in + off, r->nin - off, &used, &pt, &pl)) > 0) {
		if (used > 2 + WM_NOISE_MAX || pl + WM_NOISE_TAG + 2 != used ||
		    pt != r->in + off + 2)
			abort();
		memcpy(r->out + r->nout, pt, pl);
		r->nout += pl;
		if (r->y && !r->y_failed && wm_yamux_feed(r->y, pt, pl))
			r->y_failed = true; /* the host closes: yamux sees no more */
		off += used;
	}
	if (rc < 0)
		r->err = rc;
	memmove(r->in, r->in + off, r->nin - off);
	r->nin -= off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_noise_cs tx;
	size_t cuts[FRAMES_MAX], ncuts = 0, len = 0, nsealed = 0, off = 0, frames = 0;
	bool clean = true;
	struct wm_yamux y;

	key(&tx);
	while (off < size && frames < FRAMES_MAX) {
		uint8_t op = data[off++];
		size_t n;
		switch (op % 5) {
		case 0:
		case 1:
			if (op % 5 == 0) {
				n = off < size ? data[off++] : 0;
			} else {
				n = off + 1 < size ? (size_t)data[off] << 8 | data[off + 1] : 0;
				off += off + 1 < size ? 2 : 0;
			}
			if (n > WM_NOISE_PLAIN_MAX)
				n = WM_NOISE_PLAIN_MAX;
			if (n > size - off)
				n = size - off;
			if (len + n + 2 + WM_NOISE_TAG > STREAM_MAX)
				goto done;
			if (wm_noise_frame_seal(&tx, data + off, n, stream + len) !=
			    (int)(n + 2 + WM_NOISE_TAG))
				abort();
			memcpy(sealed + nsealed, data + off, n);
			nsealed += n;
			len += n + 2 + WM_NOISE_TAG;
			off += n;
			frames++;
			break;
		case 2:
			n = off < size ? data[off++] : 0;
			if (n > size - off)
				n = size - off;
			if (len + n > STREAM_MAX)
				goto done;
			memcpy(stream + len, data + off, n);
			len += n;
			off += n;
			clean = clean && n == 0;
			break;
		case 3:
			if (ncuts < FRAMES_MAX)
				cuts[ncuts++] = len;
			break;
		case 4:
			if (off + 1 < size && len) {
				size_t at = ((size_t)data[off] << 8 | data[off + 1]) % len;
				stream[at] ^= (uint8_t)(1u << (op >> 5));
				clean = false;
			}
			off += 2;
			break;
		}
	}
done:
	wm_noise_cs_free(&tx);

	memset(&whole, 0, offsetof(struct rcv, in));
	key(&whole.rx);
	feed(&whole, stream, len);

	memset(&split, 0, offsetof(struct rcv, in));
	key(&split.rx);
	if (wm_yamux_init(&y, false, 8, &ycb, NULL))
		abort();
	split.y = &y;
	size_t from = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		if (to < from)
			continue;
		feed(&split, stream + from, to - from);
		from = to;
	}
	wm_yamux_free(&y);

	for (struct rcv *r = &whole; r; r = r == &whole ? &split : NULL) {
		if (r->nout > nsealed || memcmp(r->out, sealed, r->nout))
			abort(); /* something opened that was not sealed so */
		if (clean && (r->err || r->nout != nsealed || r->nin))
			abort(); /* an honest stream did not open whole */
	}
	if (whole.err != split.err || whole.nout != split.nout)
		abort(); /* the cuts between reads changed the outcome */
	wm_noise_cs_free(&whole.rx);
	wm_noise_cs_free(&split.rx);
	return 0;
}
