// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the NATS nkey seed parser (include/linegate/nkey.h), which reads
 * output.nats.nkey_file and --fleet-nkey files. An accepted seed must give a public user key
 * of 56 base32 characters starting with 'U' that a signature made with the seed verifies
 * against (decoded from its own encoding), and parse the same again; a refused one must say
 * why without quoting the input.
 */
#include <linegate/nkey.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t raw[LG_NKEY_RAW_LEN], raw2[LG_NKEY_RAW_LEN], sig[LG_NKEY_SIG_LEN], pk[32], sk[64];
	char pub[LG_NKEY_PUB_LEN + 1], pub2[LG_NKEY_PUB_LEN + 1], err[256] = "";

	if (lg_nkey_parse_seed((const char *)data, size, raw, pub, err, sizeof(err))) {
		if (!err[0] || (size >= 8 && memmem(err, strlen(err), data, 8)))
			abort();
		return 0;
	}
	if (strlen(pub) != LG_NKEY_PUB_LEN || pub[0] != 'U' ||
	    strspn(pub, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != LG_NKEY_PUB_LEN)
		abort();
	if (lg_nkey_parse_seed((const char *)data, size, raw2, pub2, err, sizeof(err)) ||
	    memcmp(raw, raw2, sizeof(raw)) || strcmp(pub, pub2))
		abort();
	if (lg_nkey_sign(raw, "nonce", 5, sig) || crypto_sign_seed_keypair(pk, sk, raw) ||
	    crypto_sign_verify_detached(sig, (const unsigned char *)"nonce", 5, pk))
		abort();
	return 0;
}
