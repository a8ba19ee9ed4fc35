/* SPDX-License-Identifier: MIT */
/*
 * Keyed HMAC-SHA256 contexts (OpenSSL EVP_MAC): the one wrapper LGF tags and UADP
 * signatures are computed and verified with. Keying computes the inner and outer pad
 * states once; every message after that restarts from them, which costs a fraction of a
 * one-shot HMAC() and allocates nothing. One context per key per worker: not thread-safe.
 */
#ifndef LINEGATE_HMAC_H
#define LINEGATE_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define LG_HMAC_LEN 32 /* bytes of HMAC-SHA256 */

struct lg_mac;

/* 0, -ENOMEM, or -EIO (the crypto library refused). */
int lg_mac_new(struct lg_mac **m, const uint8_t *key, size_t keylen);
void lg_mac_free(struct lg_mac *m); /* accepts NULL */
/* HMAC-SHA256(key, msg). 0 or -EIO. */
int lg_mac_sha256(struct lg_mac *m, const uint8_t *msg, size_t len, uint8_t out[LG_HMAC_LEN]);
/* Constant time: 0 when tag is the first taglen (1..32) bytes of HMAC-SHA256(key, msg),
 * -EBADMSG when not, -EIO on failure. */
int lg_mac_verify(struct lg_mac *m, const uint8_t *msg, size_t len, const uint8_t *tag,
		  size_t taglen);
/* HMAC-SHA256(key, msg) without a context, for a message signed once (a generator's frame,
 * a tool): OpenSSL's one-shot EVP_Q_mac, so a keyed context can be checked against it.
 * 0 or -EIO. */
int lg_mac_once(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		uint8_t out[LG_HMAC_LEN]);

#endif /* LINEGATE_HMAC_H */
