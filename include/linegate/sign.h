/* SPDX-License-Identifier: MIT */
/*
 * Model artifacts are signed with Ed25519 (libsodium): a detached signature over the
 * artifact's bytes. Only artifacts signed by a key the policy trusts are loaded, by
 * linegated when it registers them and again by the data plane before it runs them.
 *
 * Files: a secret key file holds 64 bytes as 128 hex digits, a public key file and a
 * signature file 32 and 64 bytes as hex, each followed by a newline.
 */
#ifndef LINEGATE_SIGN_H
#define LINEGATE_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define LG_SIGN_PK_LEN 32
#define LG_SIGN_SK_LEN 64
#define LG_SIGN_SIG_LEN 64

int lg_sign_init(void); /* sodium_init(); 0 or -EIO */
int lg_sign_keygen(uint8_t pk[LG_SIGN_PK_LEN], uint8_t sk[LG_SIGN_SK_LEN]);
int lg_sign_buf(const uint8_t sk[LG_SIGN_SK_LEN], const void *buf, size_t len,
		uint8_t sig[LG_SIGN_SIG_LEN]);
/* 0 when sig is a valid signature of buf by one of the n trusted keys, else -EKEYREJECTED. */
int lg_sign_verify_buf(const void *buf, size_t len, const uint8_t sig[LG_SIGN_SIG_LEN],
		       const uint8_t (*trusted)[LG_SIGN_PK_LEN], size_t n);
/* Read and verify a file against its signature file. On success *out holds the
 * verified bytes (malloc'd), so the caller loads exactly what was checked. */
int lg_sign_verify_file(const char *path, const char *sig_path,
			const uint8_t (*trusted)[LG_SIGN_PK_LEN], size_t n, uint8_t **out,
			size_t *outlen);

/* lg_sign_verify_file() for a model artifact (path + path.sig), with a message for
 * people in err when it is refused: not signed, not by a trusted key, or changed. */
int lg_sign_verify_artifact(const char *path, const uint8_t (*trusted)[LG_SIGN_PK_LEN],
			    size_t n, uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* A secret (signing) key file, as the signing tools read it: refused, with the reason in
 * err naming the file and its mode, when it is not a regular file or others (group or
 * world) can read it, as device key files are (0, -EPERM, or -EINVAL: not a key file). */
int lg_sign_read_secret(const char *path, uint8_t sk[LG_SIGN_SK_LEN], char *err,
			size_t errlen);

/* Hex files: read exactly len bytes of hex (whitespace around it allowed). */
int lg_hex_read_file(const char *path, uint8_t *out, size_t len);
int lg_hex_write_file(const char *path, const uint8_t *buf, size_t len, int mode);
/* Parse exactly len bytes of hex from a string. */
int lg_hex_decode(const char *s, uint8_t *out, size_t len);

#endif /* LINEGATE_SIGN_H */
