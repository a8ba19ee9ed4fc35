// SPDX-License-Identifier: MIT
/*
 * NATS nkeys (include/linegate/nkey.h): a user seed and its public key and nonce signature
 * from the NATS client libraries' own test vector, round trips of new keys, the parser's
 * refusals (a changed character, another kind of key, not base32, wrong length), and the
 * secret file's checks (mode, a seed never in an error).
 */
#include <linegate/nkey.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_nkey\n"
	"\n"
	"NATS nkeys (control/nkey.c): the public key and the signature of \"nonce\" of the NATS\n"
	"clients' test seed; new keys round trip; a changed character, an account seed, a\n"
	"non-base32 text and a short one are refused; an nkey file must be 0600 and its errors\n"
	"never show the seed.\n"
	"\n" LGT_EXIT_STATUS;

/* The test user of the NATS clients (nats.c, nats.go): seed, public key, and the signature
 * of "nonce" (base64url without padding). */
static const char seed_text[] = "SUAMK2FG4MI6UE3ACF3FK3OIQBCEIEZV7NSWFFEW63UXMRLFM2XLAXK4GY";
static const char pub_text[] = "UAT6BWCSCWLUKJT6K6MBJJOEOTXZ5AJDOYKNEVRFC7VNO6OA43N4TRNO";
static const char sig_b64[] = "m50It12aTgfbJwsQhucujqhXbsq7tLM-Mf_hSjBQsG_4onm8y2Vkw6JG1bbcDk"
			      "dxXe-Ng0K-7X9ov4rZ4wFcDg";
/* An account seed of nats.go's tests ('SA'). */
static const char account_seed[] = "SAAASUPRY3ONU4GJR7J5RUVYRUFZXG56F4WEXELLLORQ65AEPSMIFTOJGE";

static int parse(const char *s, char *err)
{
	uint8_t raw[32];
	char pub[LG_NKEY_PUB_LEN + 1];

	err[0] = '\0';
	return lg_nkey_parse_seed(s, strlen(s), raw, pub, err, 256);
}

int main(int argc, char **argv)
{
	uint8_t raw[32], raw2[32], sig[64], want[64];
	char pub[LG_NKEY_PUB_LEN + 1], pub2[LG_NKEY_PUB_LEN + 1], seed[LG_NKEY_SEED_LEN + 1];
	char err[256], text[128], dir[] = "/tmp/test_nkey.XXXXXX", path[128];
	size_t wl = 0;
	int fd;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(sodium_init() >= 0, 1);
	/* the known answer */
	snprintf(text, sizeof(text), "\n  %s\n", seed_text);
	CHECK_EQ(lg_nkey_parse_seed(text, strlen(text), raw, pub, err, sizeof(err)), 0);
	CHECK_STR(pub, pub_text);
	CHECK_EQ(lg_nkey_sign(raw, "nonce", 5, sig), 0);
	CHECK_EQ(sodium_base642bin(want, sizeof(want), sig_b64, strlen(sig_b64), NULL, &wl, NULL,
				   sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
	CHECK_EQ(wl, 64);
	CHECK(!memcmp(sig, want, 64));

	/* new keys: the seed parses back to the same public key, and two keys differ */
	CHECK_EQ(lg_nkey_generate(seed, pub), 0);
	CHECK_EQ(strlen(seed), LG_NKEY_SEED_LEN);
	CHECK_EQ(strlen(pub), LG_NKEY_PUB_LEN);
	CHECK(!strncmp(seed, "SU", 2) && pub[0] == 'U');
	CHECK_EQ(lg_nkey_parse_seed(seed, strlen(seed), raw2, pub2, err, sizeof(err)), 0);
	CHECK_STR(pub2, pub);
	CHECK_EQ(lg_nkey_generate(seed, pub2), 0);
	CHECK(strcmp(pub, pub2));

	/* refusals */
	snprintf(text, sizeof(text), "%s", seed_text);
	text[20] = text[20] == 'A' ? 'B' : 'A';
	CHECK_EQ(parse(text, err), -EINVAL);
	CHECK(strstr(err, "checksum") != NULL);
	CHECK_EQ(parse(account_seed, err), -EINVAL);
	CHECK(strstr(err, "not a user nkey seed") != NULL);
	snprintf(text, sizeof(text), "%s", seed_text);
	text[10] = '1'; /* not in the alphabet */
	CHECK_EQ(parse(text, err), -EINVAL);
	CHECK(strstr(err, "base32") != NULL);
	CHECK_EQ(parse(pub_text, err), -EINVAL); /* a public key is no seed */
	CHECK_EQ(parse("", err), -EINVAL);
	snprintf(text, sizeof(text), "%sA", seed_text);
	CHECK_EQ(parse(text, err), -EINVAL);

	/* the file: 0600 only, and the seed never in an error */
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/a.nk", dir);
	CHECK_EQ(lg_nkey_write_new(path, pub, err, sizeof(err)), 0);
	CHECK_EQ(lg_nkey_read_file(path, raw, pub2, err, sizeof(err)), 0);
	CHECK_STR(pub2, pub);
	CHECK_EQ(lg_nkey_write_new(path, pub, err, sizeof(err)), -EEXIST);
	CHECK_EQ(chmod(path, 0644), 0);
	CHECK_EQ(lg_nkey_read_file(path, raw, pub2, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "mode 0644") && strstr(err, "chmod 600"));
	CHECK_EQ(lg_secret_file_check(path, "creds file", err, sizeof(err)), -EPERM);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	snprintf(text, sizeof(text), "%s", seed_text);
	text[20] = text[20] == 'A' ? 'B' : 'A';
	CHECK_EQ(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	CHECK_EQ(lg_nkey_read_file(path, raw, pub2, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, path) && strstr(err, "checksum") && !strstr(err, "SUAMK"));
	CHECK(!strstr(err, text + 2));
	unlink(path);
	CHECK_EQ(lg_nkey_read_file(path, raw, pub2, err, sizeof(err)), -ENOENT);
	rmdir(dir);
	return lgt_done("nkey");
}
