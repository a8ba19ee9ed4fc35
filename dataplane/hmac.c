// SPDX-License-Identifier: MIT
/* Keyed HMAC-SHA256 contexts (include/linegate/hmac.h). */
#include <linegate/hmac.h>

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>

struct lg_mac {
	EVP_MAC_CTX *ctx;
};

static EVP_MAC *hmac_alg(void)
{
	/* Fetched once: fetching per key would look the algorithm up in the provider. */
	static EVP_MAC *alg;
	EVP_MAC *a = __atomic_load_n(&alg, __ATOMIC_ACQUIRE), *none = NULL;

	if (a)
		return a;
	a = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (a && !__atomic_compare_exchange_n(&alg, &none, a, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE)) {
		EVP_MAC_free(a);
		a = none;
	}
	return a;
}

int lg_mac_new(struct lg_mac **out, const uint8_t *key, size_t keylen)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *alg = hmac_alg();
	struct lg_mac *m;

	if (!alg)
		return -EIO;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ctx = EVP_MAC_CTX_new(alg);
	if (!m->ctx || !EVP_MAC_init(m->ctx, key, keylen, params)) {
		lg_mac_free(m);
		return -EIO;
	}
	*out = m;
	return 0;
}

int lg_mac_sha256(struct lg_mac *m, const uint8_t *msg, size_t len, uint8_t out[LG_HMAC_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;

	/* A NULL key restarts from the pad states computed when the context was keyed. */
	if (!EVP_MAC_init(m->ctx, NULL, 0, NULL) || !EVP_MAC_update(m->ctx, msg, len) ||
	    !EVP_MAC_final(m->ctx, md, &mdlen, sizeof(md)) || mdlen != LG_HMAC_LEN)
		return -EIO;
	for (size_t i = 0; i < LG_HMAC_LEN; i++)
		out[i] = md[i];
	OPENSSL_cleanse(md, sizeof(md));
	return 0;
}

int lg_mac_verify(struct lg_mac *m, const uint8_t *msg, size_t len, const uint8_t *tag,
		  size_t taglen)
{
	uint8_t md[LG_HMAC_LEN];

	if (!taglen || taglen > LG_HMAC_LEN || lg_mac_sha256(m, msg, len, md))
		return -EIO;
	return CRYPTO_memcmp(md, tag, taglen) ? -EBADMSG : 0;
}

void lg_mac_free(struct lg_mac *m)
{
	if (!m)
		return;
	EVP_MAC_CTX_free(m->ctx);
	free(m);
}

int lg_mac_once(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		uint8_t out[LG_HMAC_LEN])
{
	size_t outlen = 0;

	if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, msg, len, out,
		       LG_HMAC_LEN, &outlen) ||
	    outlen != LG_HMAC_LEN)
		return -EIO;
	return 0;
}
