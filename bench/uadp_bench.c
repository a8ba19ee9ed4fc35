// SPDX-License-Identifier: MIT
/*
 * Cost of accepting a signed UADP message (decode + HMAC-SHA256 verify) against
 * the bare HMAC over the same bytes, measured in one run so that the ratio, not
 * the absolute time, is the result. The variants are interleaved and each is
 * reported as the median of REPS runs. Prints one JSON object.
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

#include "linegate/hmac.h"
#include "linegate/uadp.h"

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
	"Output: one JSON object on stdout: {\"benchmark\": \"uadp_decode_verify\", iterations,\n"
	"reps, cases: [{samples, bytes, decode_ns, decode_verify_ns, decode_verify_oneshot_ns,\n"
	"hmac_ns, hmac_oneshot_ns (ns per message; oneshot: the key set up per message),\n"
	"decode_verify_over_hmac, decode_share (decode's part of decode_verify)}]}.\n"
	"Exit status: 0, 1 if a message could not be built or was rejected, 2 on a usage error.\n";

static uint8_t key[32];
static volatile uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A signed message like the load generator sends: one writer, n Float samples. */
static int build(uint8_t *out, size_t cap, uint32_t nsamples)
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
	m.ext1 = LG_UADP_PUBID_UINT16 | LG_UADP_X1_SECURITY;
	m.pub_num = 2234;
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = 100;
	m.group_seq = 1;
	m.sec_flags = LG_UADP_S_SIGNED;
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
	return lg_uadp_encode(&m, NULL, key, sizeof(key), out, cap);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
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

int main(int argc, char **argv)
{
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
		int len = build(buf, sizeof(buf), sizes[s]);
		uint64_t t[NWHAT][REPS];
		double ns[NWHAT];

		if (len <= 0) {
			fprintf(stderr, "encode failed: %s\n", lg_uadp_strerror(len));
			goto out;
		}
		/* Interleaved, so that a neighbour's load hits every variant alike. */
		for (int r = 0; r < REPS; r++)
			for (int w = 0; w < NWHAT; w++) {
				t[w][r] = measure((enum what)w, buf, (size_t)len, iters, h, ctx,
						  (size_t)len - LG_UADP_SIG_LEN);
				if (!t[w][r]) {
					fprintf(stderr, "%s rejected the message\n", names[w]);
					goto out;
				}
			}
		for (int w = 0; w < NWHAT; w++) {
			qsort(t[w], REPS, sizeof(t[w][0]), cmp_u64);
			ns[w] = (double)t[w][REPS / 2] / (double)iters;
		}
		printf("%s\n {\"samples\": %u, \"bytes\": %d", s ? "," : "", sizes[s], len);
		for (int w = 0; w < NWHAT; w++)
			printf(", \"%s_ns\": %.1f", names[w], ns[w]);
		printf(", \"decode_verify_over_hmac\": %.3f, \"decode_share\": %.3f}",
		       ns[DECODE_VERIFY] / ns[HMAC_PREPARED], ns[DECODE] / ns[DECODE_VERIFY]);
	}
	printf("\n]}\n");
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	lg_mac_free(h);
	return ret;
}
