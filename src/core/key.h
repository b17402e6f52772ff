/* WireGuard keys (Curve25519, 32 bytes) in base64 and hex (pure encoding). */
#ifndef WM_CORE_KEY_H
#define WM_CORE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WM_KEY_LEN 32
#define WM_KEY_B64_LEN 44 /* without NUL; always ends in '=' */
#define WM_KEY_HEX_LEN 64 /* without NUL */

typedef uint8_t wm_key[WM_KEY_LEN];

/* Writes 44 chars + NUL into out (at least 45 bytes). */
void wm_key_to_base64(const wm_key key, char out[WM_KEY_B64_LEN + 1]);
/* Accepts exactly the canonical 44-character form; -EINVAL otherwise
 * (wrong length, bad alphabet, non-zero padding bits). */
int wm_key_from_base64(const char *s, wm_key out);
void wm_key_to_hex(const wm_key key, char out[WM_KEY_HEX_LEN + 1]);
int wm_key_from_hex(const char *s, wm_key out);
/* The value 0..15 of one hex digit, either case; -1 for anything else. */
int wm_hex_digit(char c);
bool wm_key_is_zero(const wm_key key);
/* Constant-time comparison. */
bool wm_key_equal(const wm_key a, const wm_key b);
/* Certificate fingerprints as we print them and users pass them
 * (--join-fingerprint, wmctl --fingerprint, the mesh's mTLS CA): "sha256:"
 * and the 64 hex digits of the SHA-256 of the DER certificate. The digits
 * may be upper case (out is lower case); the prefix is "sha256:" exactly.
 * 0, or -EINVAL. */
#define WM_FINGERPRINT_LEN 72 /* "sha256:" + 64 hex + NUL, rounded */
int wm_fingerprint_parse(const char *in, char out[WM_FINGERPRINT_LEN]);
/* s is a fingerprint in the canonical form out of wm_fingerprint_parse (what
 * is stored, signed over and compared byte-wise). */
bool wm_fingerprint_canonical(const char *s);
/* Overwrites key material in a way the compiler cannot elide. */
void wm_wipe(void *p, size_t len);

#endif
