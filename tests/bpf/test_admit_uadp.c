// SPDX-License-Identifier: MIT
/*
 * The XDP UADP parser (lg_admit_parse_uadp) against the worker's decoder on
 * the UADP corpus (tests/fixtures/uadp/corpus, made by gen_vectors.py and
 * captured from open62541), each message whole and cut at every length:
 *  - whatever the worker decodes and maps to a device key, XDP admits, with
 *    the same 48 key bytes (XDP never drops what a worker would take);
 *  - whatever the worker decodes without PublisherId, WriterGroupId or
 *    PayloadHeader, XDP admits with the key lg_admit_uadp_key_make() builds
 *    from the worker's parse and the source (position 1 without PayloadHeader);
 *  - once a prefix is admitted, every longer one is, with the same key (XDP
 *    reads the header only);
 *  - messages refused for their header are refused at XDP too.
 * Reads only inside the given bytes: the build under ASan checks that.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/admit.h>
#include <linegate/uadp.h>
#include "../lgt_cli.h"

/* Refused for the header, so XDP must refuse the whole message. */
static const char *const header_refused[] = {
    "bad_version_0.bin",      "bad_version_2.bin",     "chunk.bin",
    "discovery.bin",	      "ext2_reserved.bin",     "group_flags_reserved.bin",
    "bad_pubid_type.bin",     "payload_count_zero.bin", "pubid_string_null.bin",
    "empty.bin",
};

static int is_header_refused(const char *name)
{
	for (size_t i = 0; i < sizeof(header_refused) / sizeof(header_refused[0]); i++)
		if (!strcmp(name, header_refused[i]))
			return 1;
	return 0;
}

/* The source every message here comes from. */
static const lg_u8 src[4] = { 192, 0, 2, 1 };

/* The key of the first DataSetMessage as a worker builds it from its decoder's parse. */
static void worker_key(const struct lg_uadp_msg *m, struct lg_admit_uadp_key *k)
{
	struct lg_admit_uadp_hdr h;

	if (lg_uadp_admit_hdr(m, 0, &h)) {
		memset(k, 0xee, sizeof(*k));
		return;
	}
	lg_admit_uadp_key_make(&h, LG_ADMIT_AF_INET, src, k);
}

static int check_file(const char *dir, const char *name, int *mapped, int *refused)
{
	static struct lg_uadp_msg m;
	struct lg_admit_uadp_key wk, dk;
	struct lg_admit_uadp_key key, first;
	char path[1024];
	unsigned char buf[4096], *cut;
	size_t len, n, admitted_at = 0;
	int fails = 0, rc, admitted = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "FAIL %s: cannot open\n", path);
		return 1;
	}
	len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	for (n = 0; n <= len; n++) {
		/* An exact-size copy, so that ASan sees any read past the end. */
		cut = malloc(n ? n : 1);
		if (!cut)
			return fails + 1;
		memcpy(cut, buf, n);
		memset(&key, 0x5a, sizeof(key));
		rc = lg_admit_parse_uadp(cut, cut + n, (lg_u32)n, LG_ADMIT_AF_INET, src, &key);
		if (!lg_uadp_decode(&m, cut, n, NULL) && m.dsm_count &&
		    lg_uadp_pub_type(&m) <= LG_UADP_PUBID_STRING &&
		    m.pub_str_len <= LG_ADMIT_UADP_STR_MAX) {
			/* The decoder's own key where it has one, and the same bytes from the
			 * admit.h builder that workers and policy use. */
			worker_key(&m, &wk);
			if (!lg_uadp_device_key(&m, 0, &dk) && memcmp(&dk, &wk, sizeof(wk))) {
				fprintf(stderr, "FAIL %s cut at %zu: lg_uadp_device_key and "
					"lg_admit_uadp_key_make differ\n", name, n);
				fails++;
			}
			if (n == len)
				(*mapped)++;
			if (rc != LG_R_ADMITTED || memcmp(&wk, &key, sizeof(wk))) {
				fprintf(stderr,
					"FAIL %s cut at %zu: the worker maps it, XDP says %s\n",
					name, n, lg_admit_reason_name(rc));
				fails++;
			}
		}
		if (rc != LG_R_ADMITTED && rc != LG_R_MALFORMED) {
			fprintf(stderr, "FAIL %s cut at %zu: reason %d\n", name, n, rc);
			fails++;
		}
		if (admitted && (rc != LG_R_ADMITTED || memcmp(&first, &key, sizeof(key)))) {
			fprintf(stderr, "FAIL %s: admitted at %zu bytes, not at %zu\n", name,
				admitted_at, n);
			fails++;
		}
		if (rc == LG_R_ADMITTED && !admitted) {
			admitted = 1;
			admitted_at = n;
			first = key;
		}
		free(cut);
	}
	if (is_header_refused(name)) {
		(*refused)++;
		if (admitted) {
			fprintf(stderr, "FAIL %s: refused for its header, admitted by XDP\n", name);
			fails++;
		}
	}
	return fails;
}

static const char usage[] =
	"Usage: test_admit_uadp [options] CORPUS_DIR\n"
	"\n"
	"The XDP UADP parser (lg_admit_parse_uadp) against the worker's decoder on every *.bin\n"
	"message of the corpus, whole and cut at every length: what the worker decodes and maps\n"
	"to a device key XDP admits with the same key bytes; once a prefix is admitted every\n"
	"longer one is; messages refused for their header are refused at XDP too.\n"
	"\n"
	"Arguments:\n"
	"  CORPUS_DIR    tests/fixtures/uadp/corpus\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"N messages (each cut at every length), M mapped by the worker, R refused for\n"
	"their header; F failed checks\" on stdout; failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct dirent **ents;
	int n, fails = 0, files = 0, mapped = 0, refused = 0;

	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	n = scandir(argv[1], &ents, NULL, alphasort);
	if (n < 0) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (strstr(ents[i]->d_name, ".bin")) {
			fails += check_file(argv[1], ents[i]->d_name, &mapped, &refused);
			files++;
		}
		free(ents[i]);
	}
	free(ents);
	printf("%d messages (each cut at every length), %d mapped by the worker, %d refused for "
	       "their header; %d failed checks\n",
	       files, mapped, refused, fails);
	if (mapped < 10 || refused != (int)(sizeof(header_refused) / sizeof(header_refused[0])))
		fails++, fprintf(stderr, "FAIL the corpus lacks the expected messages\n");
	return fails ? 1 : 0;
}
