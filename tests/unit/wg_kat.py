#!/usr/bin/python3
"""Generates the known answers of tests/unit/test_wg_kat.c with an
independent model of WireGuard's handshake (whitepaper 5.4) on Python's
hashlib (BLAKE2s) and python3-cryptography (X25519, ChaCha20-Poly1305), with
HChaCha20 written here from draft-irtf-cfrg-xchacha. Run it to check the
constants in the C test: it prints them."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (X25519PrivateKey,
                                                              X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def H(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def mac(key, msg):
    return hashlib.blake2s(msg, key=key, digest_size=16).digest()


def kdf(key, x, n):
    t0 = hmac.new(key, x, hashlib.blake2s).digest()
    out, t = [], b""
    for i in range(1, n + 1):
        t = hmac.new(t0, t + bytes([i]), hashlib.blake2s).digest()
        out.append(t)
    return out


def aead(k, counter, p, ad):
    return ChaCha20Poly1305(k).encrypt(b"\0" * 4 + struct.pack("<Q", counter), p, ad)


def pub(sk):
    return X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def dh(sk, pk):
    return X25519PrivateKey.from_private_bytes(sk).exchange(X25519PublicKey.from_public_bytes(pk))


def hchacha20(key, nonce):
    def rotl(v, c):
        return ((v << c) & 0xffffffff) | (v >> (32 - c))

    def qr(s, a, b, c, d):
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & 0xffffffff; s[d] = rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & 0xffffffff; s[b] = rotl(s[b] ^ s[c], 7)
    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce))
    for _ in range(10):
        qr(s, 0, 4, 8, 12); qr(s, 1, 5, 9, 13); qr(s, 2, 6, 10, 14); qr(s, 3, 7, 11, 15)
        qr(s, 0, 5, 10, 15); qr(s, 1, 6, 11, 12); qr(s, 2, 7, 8, 13); qr(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xaead(key, nonce, p, ad):
    sub = hchacha20(key, nonce[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0" * 4 + nonce[16:], p, ad)


def clamp(k):
    k = bytearray(k)
    k[0] &= 248
    k[31] = (k[31] & 127) | 64
    return bytes(k)


s_i, s_r = clamp(b"\x11" * 32), clamp(b"\x22" * 32)
e_i, e_r = b"\x44" * 32, b"\x55" * 32
psk = b"\x33" * 32
S_i, S_r = pub(s_i), pub(s_r)

# initiation
ck = H(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
h = H(ck, b"WireGuard v1 zx2c4 Jason@zx2c4.com")
h = H(h, S_r)
E_i = pub(e_i)
ck = kdf(ck, E_i, 1)[0]
h = H(h, E_i)
ck, k = kdf(ck, dh(e_i, S_r), 2)
enc_static = aead(k, 0, S_i, h)
h = H(h, enc_static)
ck, k = kdf(ck, dh(s_i, S_r), 2)
tai = struct.pack(">QI", 0x400000000000000a + 1700000000, 123456789)
enc_ts = aead(k, 0, tai, h)
h = H(h, enc_ts)
init = struct.pack("<BxxxI", 1, 0x01020304) + E_i + enc_static + enc_ts
init += mac(H(b"mac1----", S_r), init) + b"\0" * 16
# response
E_r = pub(e_r)
ck = kdf(ck, E_r, 1)[0]
h = H(h, E_r)
ck = kdf(ck, dh(e_r, E_i), 1)[0]
ck = kdf(ck, dh(e_r, S_i), 1)[0]
ck, t, k = kdf(ck, psk, 3)
h = H(h, t)
empty = aead(k, 0, b"", h)
h = H(h, empty)
resp = struct.pack("<BxxxII", 2, 0x05060708, 0x01020304) + E_r + empty
resp += mac(H(b"mac1----", S_i), resp) + b"\0" * 16
send_i, recv_i = kdf(ck, b"", 2)
# MAC2 under a cookie, and a cookie reply's sealing
cookie = b"\x66" * 16
mac2 = mac(cookie, init[:132])
nonce = bytes(range(24))
sealed = xaead(H(b"cookie--", S_r), nonce, cookie, init[116:132])

for name, v in (("INIT", init), ("RESP", resp), ("SEND_I", send_i), ("RECV_I", recv_i),
                ("MAC2", mac2), ("SEALED_COOKIE", sealed)):
    print(f'#define KAT_{name} "{v.hex()}"')
