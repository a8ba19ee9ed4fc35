// SPDX-License-Identifier: MIT
/*
 * The nonce signers linegate gives libnats (include/linegate/nats_common.h): an nkey's, and
 * a .creds file's read here rather than by libnats. libnats 3.4 sends no signature at all
 * when its first byte is 0 (nats.c #705: one nonce in 256, the server refuses the login):
 * such a signature is refused with LG_NATS_SIG_ZERO so that the connection is made again.
 */
#include <linegate/nats_common.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_nats_sign\n"
	"\n"
	"The NATS nonce signers (nats_common.h): the NATS clients' test seed signs \"nonce\" the\n"
	"same from an nkey and from a .creds file; a nonce whose signature starts with a zero\n"
	"byte (which libnats 3.4 would send as none) is refused with LG_NATS_SIG_ZERO by both;\n"
	"a .creds file without a seed, or without a JWT, is refused with why.\n"
	"\n" LGT_EXIT_STATUS;

static const char seed_text[] = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY";
static const char jwt_text[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2ln";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (!f)
		return;
	fputs(text, f);
	fclose(f);
}

int main(int argc, char **argv)
{
	uint8_t raw[LG_NKEY_RAW_LEN], sig[LG_NKEY_SIG_LEN];
	char pub[LG_NKEY_PUB_LEN + 1], err[256], nonce[32], zero[32] = "", text[1024];
	char dir[] = "/tmp/test_nats_sign.XXXXXX", creds[128], bad[128];
	unsigned char *s1 = NULL, *s2 = NULL;
	char *why = NULL, *jwt = NULL;
	int len = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(sodium_init() >= 0, 1);
	CHECK_EQ(lg_nkey_parse_seed(seed_text, strlen(seed_text), raw, pub, err, sizeof(err)), 0);
	/* a nonce whose signature starts with 0 (one in 256): the first of n0, n1, ... */
	for (int i = 0; i < 100000 && !zero[0]; i++) {
		snprintf(nonce, sizeof(nonce), "n%d", i);
		CHECK_EQ(lg_nkey_sign(raw, nonce, strlen(nonce), sig), 0);
		if (sig[0] == 0)
			snprintf(zero, sizeof(zero), "%s", nonce);
	}
	CHECK(zero[0]);
	printf("a signature starting with 0: nonce %s\n", zero);

	/* the nkey's signer */
	CHECK_EQ(lg_nkey_sign_nonce(&why, &s1, &len, "nonce", raw), NATS_OK);
	CHECK_EQ(len, LG_NKEY_SIG_LEN);
	CHECK_EQ(lg_nkey_sign(raw, "nonce", 5, sig), 0);
	CHECK(s1 && !memcmp(s1, sig, LG_NKEY_SIG_LEN));
	free(s1);
	s1 = NULL;
	CHECK_EQ(lg_nkey_sign_nonce(&why, &s1, &len, zero, raw), NATS_ERR);
	CHECK(s1 == NULL);
	CHECK_STR(why ? why : "", LG_NATS_SIG_ZERO);
	free(why);
	why = NULL;

	/* a .creds file as nsc writes it: the same signature, the same refusal */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(creds, sizeof(creds), "%s/u.creds", dir);
	snprintf(text, sizeof(text),
		 "-----BEGIN NATS USER JWT-----\n%s\n------END NATS USER JWT------\n\n"
		 "************************* IMPORTANT *************************\n"
		 "NKEY Seed printed below can be used to sign and prove identity.\n\n"
		 "-----BEGIN USER NKEY SEED-----\n%s\n------END USER NKEY SEED------\n\n"
		 "*************************************************************\n",
		 jwt_text, seed_text);
	write_file(creds, text);
	CHECK_EQ(lg_creds_jwt(&jwt, &why, creds), NATS_OK);
	CHECK_STR(jwt ? jwt : "", jwt_text);
	free(jwt);
	jwt = NULL;
	CHECK_EQ(lg_creds_sign_nonce(&why, &s2, &len, "nonce", creds), NATS_OK);
	CHECK(s2 && !memcmp(s2, sig, LG_NKEY_SIG_LEN));
	free(s2);
	s2 = NULL;
	CHECK_EQ(lg_creds_sign_nonce(&why, &s2, &len, zero, creds), NATS_ERR);
	CHECK(s2 == NULL);
	CHECK_STR(why ? why : "", LG_NATS_SIG_ZERO);
	free(why);
	why = NULL;

	/* a file without a seed, without a JWT, none at all: refused with why */
	snprintf(bad, sizeof(bad), "%s/bad.creds", dir);
	write_file(bad, "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n");
	CHECK_EQ(lg_creds_sign_nonce(&why, &s2, &len, "nonce", bad), NATS_ERR);
	CHECK_STR_CONTAINS(why ? why : "", "has no '-----BEGIN USER NKEY SEED-----' section");
	free(why);
	why = NULL;
	write_file(bad, seed_text);
	CHECK_EQ(lg_creds_jwt(&jwt, &why, bad), NATS_ERR);
	CHECK_STR_CONTAINS(why ? why : "", "has no '-----BEGIN NATS USER JWT-----' section");
	free(why);
	why = NULL;
	unlink(bad);
	CHECK_EQ(lg_creds_jwt(&jwt, &why, bad), NATS_ERR);
	CHECK_STR_CONTAINS(why ? why : "", "No such file or directory");
	free(why);
	unlink(creds);
	rmdir(dir);
	return lgt_done("nats_sign");
}
