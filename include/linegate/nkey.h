/* SPDX-License-Identifier: MIT */
/*
 * NATS nkeys (docs/fleet.md "Credentials"): an Ed25519 key pair in the encoding nats-server
 * and its tools use. A public user key is 'U' + base32(prefix | key | crc16), 56
 * characters; a user seed 'SU' + base32(prefix | seed | crc16), 58 characters; the CRC is
 * CRC-16/XMODEM over the bytes before it, little-endian; base32 is RFC 4648's alphabet
 * without padding. Signing is libsodium's Ed25519 (crypto_sign_seed_keypair).
 *
 * An nkey file holds one user seed and optional white space around it; like every secret
 * file it must be a regular file readable by its owner only (0600 or 0400). Neither the
 * seed nor any of its bytes is ever printed: errors name the file and what is wrong.
 */
#ifndef LINEGATE_NKEY_H
#define LINEGATE_NKEY_H

#include <stddef.h>
#include <stdint.h>

#define LG_NKEY_PUB_LEN 56  /* "U..." */
#define LG_NKEY_SEED_LEN 58 /* "SU..." */
#define LG_NKEY_RAW_LEN 32  /* the Ed25519 seed */
#define LG_NKEY_SIG_LEN 64

/* Parse a user seed (white space around it allowed): its raw 32 bytes and the public key.
 * 0, or -EINVAL with why in err (never a byte of the seed). */
int lg_nkey_parse_seed(const char *text, size_t len, uint8_t raw[LG_NKEY_RAW_LEN],
		       char pub[LG_NKEY_PUB_LEN + 1], char *err, size_t errlen);
/* A new user key pair. 0 or -EIO. */
int lg_nkey_generate(char seed[LG_NKEY_SEED_LEN + 1], char pub[LG_NKEY_PUB_LEN + 1]);
/* Sign what a server sends to be signed (its nonce). 0 or -EIO. */
int lg_nkey_sign(const uint8_t raw[LG_NKEY_RAW_LEN], const void *msg, size_t len,
		 uint8_t sig[LG_NKEY_SIG_LEN]);
/* Check that path is a secret file: regular, readable by its owner only, owned by root or
 * by the effective user. 0, or a negative errno with "PATH: why (how to fix)" in err. */
int lg_secret_file_check(const char *path, const char *what, char *err, size_t errlen);
/* lg_secret_file_check() and lg_nkey_parse_seed() of the file's text. */
int lg_nkey_read_file(const char *path, uint8_t raw[LG_NKEY_RAW_LEN],
		      char pub[LG_NKEY_PUB_LEN + 1], char *err, size_t errlen);
/* Write a new user seed to path (created 0600, never over an existing file) and its public
 * key to pub. 0 or a negative errno with why in err. */
int lg_nkey_write_new(const char *path, char pub[LG_NKEY_PUB_LEN + 1], char *err,
		      size_t errlen);

#endif
