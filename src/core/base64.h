/* Standard base64 (RFC 4648 alphabet, '=' padding) of arbitrary bytes (pure encoding). */
#ifndef WM_CORE_BASE64_H
#define WM_CORE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters wm_base64_encode writes for n bytes, NUL included. */
#define WM_BASE64_ENCODED_LEN(n) ((((size_t)(n) + 2) / 3) * 4 + 1)

/* Writes the padded encoding of in[0..n) and a NUL into out, which holds at
 * least WM_BASE64_ENCODED_LEN(n) bytes; returns the length without the NUL. */
size_t wm_base64_encode(const void *in, size_t n, char *out);

/* Decodes s[0..len): standard alphabet only, no whitespace, exactly the
 * padding the length needs, zero unused bits (one text per byte string).
 * On success stores the byte count in *outlen and returns 0; -EINVAL on any
 * bad input, -ERANGE when the bytes do not fit in max (out is then wiped). */
int wm_base64_decode(const char *s, size_t len, uint8_t *out, size_t max, size_t *outlen);

/* The 6-bit value of one standard-alphabet character, or -1 for any other
 * character (padding included): for decoders with their own framing. */
int wm_base64_value(char c);

#endif
