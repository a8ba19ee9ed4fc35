// SPDX-License-Identifier: MIT
/*
 * Cost of accepting a signed UADP message (decode + HMAC-SHA256 verify) against
 * the bare HMAC over the same bytes, and of each security mode (Sign, SignAndEncrypt with
 * PubSub-Aes128-CTR and -Aes256-CTR, through the group-key contexts a worker uses) and of
 * the nonce ring's check (replay: nonce) against decoding the unsigned message, measured
 * in one run so that the ratio, not the absolute time, is the result. The variants are
 * interleaved and each is reported as the median of REPS runs. Prints one JSON object.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bench_time.h"
#include "linegate/hmac.h"
#include "linegate/uadp.h"

#include "../dataplane/stages.h"

#include <linegate/cli.h>

#define REPS 7

static const char usage[] =
	"Usage: uadp_bench [options] [ITERATIONS]\n"
	"\n"
	"Cost of accepting a signed OPC UA PubSub UADP message (decode + HMAC-SHA256 verify)\n"
	"against the bare HMAC over the same bytes, for messages of 1, 64 and 1024 samples.\n"
	"The variants run interleaved in one process and each is reported as the median of 7\n"
	"runs: the ratios, not the absolute times, are the result.\n"
	"\n"
	"Arguments:\n"
	"  ITERATIONS    messages per measurement (default 200000; 0 or less means the default)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Then each security mode as a worker takes it (group-key contexts prepared once):\n"
	"the unsigned message decoded, Sign (decode + verify), SignAndEncrypt with\n"
	"PubSub-Aes128-CTR and -Aes256-CTR (decode + verify + decrypt + decode), and the\n"
	"nonce ring's check and commit (replay: nonce, a full ring of 1024 nonces), each as a\n"
	"ratio to decoding the unsigned message of the same samples.\n"
	"\n"
	"Output: one JSON object on stdout: {\"benchmark\": \"uadp_decode_verify\", iterations,\n"
	"reps, cases: [{samples, bytes, decode_ns, decode_verify_ns, decode_verify_oneshot_ns,\n"
	"hmac_ns, hmac_oneshot_ns (ns per message; oneshot: the key set up per message),\n"
	"decode_verify_over_hmac, decode_share (decode's part of decode_verify),\n"
	"unsigned_bytes, encrypted_bytes, unsigned_decode_ns, sign_ns, aes128_ns, aes256_ns,\n"
	"nonce_ring_ns, sign_over_unsigned, aes128_over_unsigned, aes256_over_unsigned,\n"
	"nonce_ring_over_unsigned}]}.\n"
	"Exit status: 0, 1 if a message could not be built or was rejected, 2 on a usage error.\n";

static uint8_t key[32];
static volatile uint64_t sink;

/* A message like the load generator sends: one writer, n Float samples; signed with key
 * (k NULL), unsigned (sec 0), or signed and maybe encrypted with k (sec: LG_UADP_S_*). */
static int build(uint8_t *out, size_t cap, uint32_t nsamples, uint8_t sec, struct lg_uadp_keys *k)
{
	static struct lg_uadp_msg m;
	static float samples[4096];
	static const uint8_t nonce[8] = { 1, 2, 3, 4, 0, 0, 0, 1 };
	double temp = 40.5;

	for (uint32_t i = 0; i < nsamples; i++)
		samples[i] = (float)(i % 97) * 0.01f;
	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = LG_UADP_PUBID_UINT16 | (sec || !k ? LG_UADP_X1_SECURITY : 0);
	m.pub_num = 2234;
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = 100;
	m.group_seq = 1;
	m.sec_flags = k ? sec : LG_UADP_S_SIGNED;
	m.token_id = 1;
	m.nonce_len = sizeof(nonce);
	m.nonce = nonce;
	m.dsm_count = 1;
	m.dsm[0] = (struct lg_uadp_dsm){ .writer_id = 62541,
					 .flags1 = LG_UADP_D1_VALID | LG_UADP_D1_SEQUENCE,
					 .seq = 1, .field_count = 2 };
	m.fields[0] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .is_array = 1,
					      .count = nsamples,
					      .data = (const uint8_t *)samples };
	m.fields[1] = (struct lg_uadp_field){ .type = LG_UADP_T_DOUBLE, .count = 1,
					      .data = (const uint8_t *)&temp };
	m.nfields = 2;
	if (!k)
		return lg_uadp_encode(&m, NULL, key, sizeof(key), out, cap);
	if (!sec)
		m.ext1 = LG_UADP_PUBID_UINT16;
	return lg_uadp_encode_keys(&m, NULL, k, out, cap);
}

enum what { DECODE, DECODE_VERIFY, DECODE_VERIFY_ONESHOT, HMAC_PREPARED, HMAC_ONESHOT, NWHAT };
static const char *const names[NWHAT] = { "decode", "decode_verify", "decode_verify_oneshot",
					  "hmac", "hmac_oneshot" };

/* ns for iters messages; 0 if any message was rejected. */
static uint64_t measure(enum what w, const uint8_t *buf, size_t len, long iters,
			struct lg_mac *h, EVP_MAC_CTX *ctx, size_t signed_len)
{
	static struct lg_uadp_msg m;
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t mlen;
	unsigned int ulen;

	{
		uint64_t t0 = now_ns();

		for (long i = 0; i < iters; i++) {
			int err = 0;

			switch (w) {
			case DECODE:
				err = lg_uadp_decode(&m, buf, len, NULL);
				break;
			case DECODE_VERIFY:
				err = lg_uadp_decode(&m, buf, len, NULL);
				if (!err)
					err = lg_uadp_verify_hmac(&m, h);
				break;
			case DECODE_VERIFY_ONESHOT:
				err = lg_uadp_decode(&m, buf, len, NULL);
				if (!err)
					err = lg_uadp_verify(&m, key, sizeof(key));
				break;
			case HMAC_PREPARED:
				if (!EVP_MAC_init(ctx, NULL, 0, NULL) ||
				    !EVP_MAC_update(ctx, buf, signed_len) ||
				    !EVP_MAC_final(ctx, mac, &mlen, sizeof(mac)))
					err = -1;
				sink += mac[0];
				break;
			case HMAC_ONESHOT:
				if (!HMAC(EVP_sha256(), key, sizeof(key), buf, signed_len, mac,
					  &ulen))
					err = -1;
				sink += mac[0];
				break;
			default:
				break;
			}
			if (err)
				return 0;
		}
		return now_ns() - t0;
	}
}

enum sec_what { UNSIGNED, SIGN, AES128, AES256, NONCE_RING, NSEC };
static const char *const sec_names[NSEC] = { "unsigned_decode", "sign", "aes128", "aes256",
					     "nonce_ring" };

/* The messages and keys of one size, as a worker holds them. */
struct sec_case {
	uint8_t plain[8192], sign[8192], enc128[8192], enc256[8192], clear[8192];
	int plain_len, sign_len, enc128_len, enc256_len;
	struct lg_uadp_keys *ks, *k128, *k256;
	struct lg_dev_state dev; /* its nonce ring, full */
};

/* ns for iters messages; 0 if any message was rejected. */
static uint64_t measure_sec(enum sec_what w, struct sec_case *sc, long iters)
{
	static struct lg_uadp_msg m;
	uint64_t t0 = now_ns(), nonce = sc->dev.nonce_count;
	int64_t ts = sc->dev.nonces[(sc->dev.nonce_next + LG_NONCE_RING - 1) % LG_NONCE_RING].ts;

	for (long i = 0; i < iters; i++) {
		int err = 0;

		switch (w) {
		case UNSIGNED:
			err = lg_uadp_decode(&m, sc->plain, (size_t)sc->plain_len, NULL);
			break;
		case SIGN:
			err = lg_uadp_decode(&m, sc->sign, (size_t)sc->sign_len, NULL);
			if (!err)
				err = lg_uadp_verify_keys(&m, sc->ks);
			break;
		case AES128:
		case AES256: {
			const uint8_t *b = w == AES128 ? sc->enc128 : sc->enc256;
			size_t len = (size_t)(w == AES128 ? sc->enc128_len : sc->enc256_len);
			struct lg_uadp_keys *k = w == AES128 ? sc->k128 : sc->k256;

			err = lg_uadp_decode(&m, b, len, NULL);
			if (!err)
				err = lg_uadp_verify_keys(&m, k);
			if (!err)
				err = lg_uadp_decrypt(&m, k, sc->clear, sizeof(sc->clear), NULL);
			if (!err && m.dsm_count != 1)
				err = -1;
			break;
		}
		case NONCE_RING:
			/* A fresh nonce each time: the whole ring is scanned, as for every
			 * accepted message. */
			nonce++;
			ts++;
			if (lg_nonce_ring_check(&sc->dev, nonce, ts) != LG_OK)
				err = -1;
			else
				lg_nonce_ring_commit(&sc->dev, nonce, ts);
			break;
		default:
			break;
		}
		if (err)
			return 0;
	}
	return now_ns() - t0;
}

static int sec_setup(struct sec_case *sc, uint32_t nsamples)
{
	uint8_t enc[32], kn[LG_UADP_KEY_NONCE_LEN];

	for (unsigned i = 0; i < sizeof(enc); i++)
		enc[i] = (uint8_t)(0x80 + i);
	for (unsigned i = 0; i < sizeof(kn); i++)
		kn[i] = (uint8_t)(0xc0 + i);
	if (lg_uadp_keys_new(&sc->ks, key, sizeof(key), NULL, 0, NULL, 0) ||
	    lg_uadp_keys_new(&sc->k128, key, sizeof(key), enc, 16, kn, sizeof(kn)) ||
	    lg_uadp_keys_new(&sc->k256, key, sizeof(key), enc, 32, kn, sizeof(kn)))
		return -1;
	sc->plain_len = build(sc->plain, sizeof(sc->plain), nsamples, 0, sc->ks);
	sc->sign_len = build(sc->sign, sizeof(sc->sign), nsamples, LG_UADP_S_SIGNED, sc->ks);
	sc->enc128_len = build(sc->enc128, sizeof(sc->enc128), nsamples,
			       LG_UADP_S_SIGNED | LG_UADP_S_ENCRYPTED, sc->k128);
	sc->enc256_len = build(sc->enc256, sizeof(sc->enc256), nsamples,
			       LG_UADP_S_SIGNED | LG_UADP_S_ENCRYPTED, sc->k256);
	if (sc->plain_len <= 0 || sc->sign_len <= 0 || sc->enc128_len <= 0 ||
	    sc->enc256_len <= 0)
		return -1;
	sc->dev.nonces = calloc(LG_NONCE_RING, sizeof(*sc->dev.nonces));
	if (!sc->dev.nonces)
		return -1;
	for (uint64_t i = 1; i <= LG_NONCE_RING; i++)
		lg_nonce_ring_commit(&sc->dev, i, (int64_t)i);
	return 0;
}

static void sec_free(struct sec_case *sc)
{
	lg_uadp_keys_free(sc->ks);
	lg_uadp_keys_free(sc->k128);
	lg_uadp_keys_free(sc->k256);
	free(sc->dev.nonces);
	memset(sc, 0, sizeof(*sc));
}

int main(int argc, char **argv)
{
	static struct sec_case sc;
	static const uint32_t sizes[] = { 1, 64, 1024 };
	static uint8_t buf[8192];
	long iters = 200000;
	struct lg_mac *h = NULL;
	EVP_MAC *mac = NULL;
	EVP_MAC_CTX *ctx = NULL;
	OSSL_PARAM params[2];
	int ret = 1;

	lg_cli_simple(argc, argv, usage, 0, 1);
	if (optind < argc)
		iters = atol(argv[optind]);
	if (iters <= 0)
		iters = 200000;
	for (unsigned int i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(0x40 + i);
	if (lg_mac_new(&h, key, sizeof(key)))
		goto out;
	mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
	ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!ctx || !EVP_MAC_init(ctx, key, sizeof(key), params))
		goto out;

	printf("{\"benchmark\": \"uadp_decode_verify\", \"iterations\": %ld, \"reps\": %d, "
	       "\"cases\": [",
	       iters, REPS);
	for (unsigned int s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		int len = build(buf, sizeof(buf), sizes[s], LG_UADP_S_SIGNED, NULL);
		uint64_t t[NWHAT][REPS], ts[NSEC][REPS];
		double ns[NWHAT], nss[NSEC];

		if (len <= 0) {
			fprintf(stderr, "encode failed: %s\n", lg_uadp_strerror(len));
			goto out;
		}
		if (sec_setup(&sc, sizes[s])) {
			fprintf(stderr, "the security cases could not be built\n");
			sec_free(&sc);
			goto out;
		}
		/* Interleaved, so that a neighbour's load hits every variant alike. */
		for (int r = 0; r < REPS; r++)
			for (int w = 0; w < NWHAT; w++) {
				t[w][r] = measure((enum what)w, buf, (size_t)len, iters, h, ctx,
						  (size_t)len - LG_UADP_SIG_LEN);
				if (!t[w][r]) {
					fprintf(stderr, "%s rejected the message\n", names[w]);
					sec_free(&sc);
					goto out;
				}
			}
		for (int r = 0; r < REPS; r++)
			for (int w = 0; w < NSEC; w++) {
				ts[w][r] = measure_sec((enum sec_what)w, &sc, iters);
				if (!ts[w][r]) {
					fprintf(stderr, "%s rejected the message\n", sec_names[w]);
					sec_free(&sc);
					goto out;
				}
			}
		for (int w = 0; w < NSEC; w++) {
			qsort(ts[w], REPS, sizeof(ts[w][0]), cmp_u64);
			nss[w] = (double)ts[w][REPS / 2] / (double)iters;
		}
		for (int w = 0; w < NWHAT; w++) {
			qsort(t[w], REPS, sizeof(t[w][0]), cmp_u64);
			ns[w] = (double)t[w][REPS / 2] / (double)iters;
		}
		printf("%s\n {\"samples\": %u, \"bytes\": %d", s ? "," : "", sizes[s], len);
		for (int w = 0; w < NWHAT; w++)
			printf(", \"%s_ns\": %.1f", names[w], ns[w]);
		printf(", \"decode_verify_over_hmac\": %.3f, \"decode_share\": %.3f",
		       ns[DECODE_VERIFY] / ns[HMAC_PREPARED], ns[DECODE] / ns[DECODE_VERIFY]);
		printf(", \"unsigned_bytes\": %d, \"encrypted_bytes\": %d", sc.plain_len,
		       sc.enc128_len);
		for (int w = 0; w < NSEC; w++)
			printf(", \"%s_ns\": %.1f", sec_names[w], nss[w]);
		for (int w = SIGN; w < NSEC; w++)
			printf(", \"%s_over_unsigned\": %.3f", sec_names[w], nss[w] / nss[UNSIGNED]);
		printf("}");
		sec_free(&sc);
	}
	printf("\n]}\n");
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	lg_mac_free(h);
	return ret;
}
