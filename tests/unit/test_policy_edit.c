// SPDX-License-Identifier: MIT
/* Enrollment edits of the policy text: exact output (comments and layout kept), block and
 * flow lists and entries, the first, middle, last and only device, a list in the middle
 * and at the end of the file; every result parsed by the policy parser with its key files
 * in place; key files, times and the atomic file replace. */
#include "policy_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
    "Usage: test_policy_edit [options]\n"
    "\n"
    "Enrollment edits of the policy (enroll, revoke, rotate a key, drop expired keys): the\n"
    "exact text each one makes, that the policy parser accepts it, key files and times.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n" LGT_EXIT_STATUS;

#define T_EXP "2026-12-04T18:00:00Z"

/* A list in the middle of the file, entries in block and in flow style, comments. */
static const char line4[] =
    "# line 4 policy\n"
    "version: 1\n"
    "port: 4739\n"
    "groups:\n"
    "  presses: {audit: false}\n"
    "devices:\n"
    "  # the presses\n"
    "  - id: 101\n"
    "    name: press-1\n"
    "    source: 10.77.0.2   # line side\n"
    "    keys:\n"
    "      - {id: 1, key_file: keys/press-1.key}\n"
    "  - {id: 102, name: press-2, source: 10.77.0.2, keys: [{id: 1, key_file: keys/press-2.key}]}\n"
    "  - id: 103\n"
    "    name: press-3\n"
    "    source: 10.77.0.2\n"
    "    keys:\n"
    "      - id: 4\n"
    "        key_file: keys/press-3.key\n"
    "  # end of the presses\n"
    "detection:\n"
    "  window: 256\n";

#define HEAD4                                                                                      \
	"# line 4 policy\nversion: 1\nport: 4739\ngroups:\n  presses: {audit: false}\n"            \
	"devices:\n  # the presses\n"
#define DEV101                                                                                     \
	"  - id: 101\n    name: press-1\n    source: 10.77.0.2   # line side\n    keys:\n"         \
	"      - {id: 1, key_file: keys/press-1.key}\n"
#define DEV102                                                                                     \
	"  - {id: 102, name: press-2, source: 10.77.0.2, keys: [{id: 1, key_file: "                \
	"keys/press-2.key}]}\n"
#define DEV103                                                                                     \
	"  - id: 103\n    name: press-3\n    source: 10.77.0.2\n    keys:\n      - id: 4\n"        \
	"        key_file: keys/press-3.key\n"
#define TAIL4 "  # end of the presses\ndetection:\n  window: 256\n"

static char dir[64];
static char policy_path[128];
static int parse_checks;

static void write_key_n(const char *rel, size_t nbytes)
{
	char path[256], err[256], fp[LG_KEY_FP_LEN + 1];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (access(path, F_OK))
		CHECK_EQ(lg_key_file_create(policy_path, rel, nbytes, fp, err, sizeof(err)), 0);
}

static void write_key(const char *rel)
{
	write_key_n(rel, LG_KEY_LEN);
}

/* The policy parser accepts the edited text, with the policy file where the edit's key
 * files were made. */
static void expect_parses(const char *text, size_t len)
{
	char err[512] = "";
	int ret = lg_policy_edit_check(text, len, policy_path, false, err, sizeof(err));

	parse_checks++;
	if (ret)
		fprintf(stderr, "parse of the edited policy: %s\n--- text:\n%s---\n", err, text);
	CHECK_EQ(ret, 0);
}

static void expect_text(const struct lg_policy_edit *e, const char *want, int line)
{
	lgt_checks++;
	if (!e->text || strcmp(e->text, want) || e->len != strlen(want)) {
		lgt_failures++;
		fprintf(stderr, "%s:%d: edited text differs\n--- want:\n%s--- got:\n%s---\n",
			__FILE__, line, want, e->text ? e->text : "(none)");
		return;
	}
	expect_parses(e->text, e->len);
}
#define EXPECT_TEXT(e, want) expect_text((e), (want), __LINE__)

static void enroll_ok(const char *in, const struct lg_device_spec *s, const char *want, int line)
{
	struct lg_policy_edit e;
	char err[512] = "";
	int ret = lg_policy_edit_enroll(in, strlen(in), s, NULL, &e, err, sizeof(err));

	if (ret)
		fprintf(stderr, "%s:%d: enroll: %s\n", __FILE__, line, err);
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	write_key_n(e.key_file, lg_device_spec_key_bytes(s));
	expect_text(&e, want, line);
	CHECK_EQ(e.key_id, 1);
	lg_policy_edit_free(&e);
}
#define ENROLL_OK(in, s, want) enroll_ok((in), (s), (want), __LINE__)

static void revoke_ok(const char *in, uint32_t id, const char *want, unsigned nremoved, int line)
{
	struct lg_policy_edit e;
	char err[512] = "";
	int ret = lg_policy_edit_revoke(in, strlen(in), id, &e, err, sizeof(err));

	if (ret)
		fprintf(stderr, "%s:%d: revoke: %s\n", __FILE__, line, err);
	CHECK_EQ(ret, 0);
	if (ret)
		return;
	expect_text(&e, want, line);
	CHECK_EQ(e.nremoved, nremoved);
	lg_policy_edit_free(&e);
}
#define REVOKE_OK(in, id, want, n) revoke_ok((in), (id), (want), (n), __LINE__)

static void test_enroll(void)
{
	struct lg_device_spec s = {
	    .id = 104, .name = "press-4", .source = "10.77.0.5", .port = 5000, .group = "presses"};
	struct lg_device_spec plain = {.id = 8, .name = "n8", .source = "10.0.0.8", .port = -1};
	struct lg_policy_edit e;
	char err[512];

	/* A block list in the middle of the file: after the last entry's last line, before
	 * the comment that follows it. */
	ENROLL_OK(
	    line4, &s,
	    HEAD4 DEV101 DEV102 DEV103
	    "  - id: 104\n    name: press-4\n    source: 10.77.0.5\n    port: 5000\n"
	    "    group: presses\n    keys:\n      - {id: 1, key_file: keys/press-4.key}\n" TAIL4);
	/* Every optional field. */
	s = (struct lg_device_spec){.id = 105,
				    .name = "press-5",
				    .source = "fd00::5",
				    .port = 0,
				    .mac = "02:00:00:00:01:05",
				    .rate = 2000,
				    .unscored = true};
	ENROLL_OK(line4, &s,
		  HEAD4 DEV101 DEV102 DEV103
		  "  - id: 105\n    name: press-5\n    source: fd00::5\n    port: 0\n"
		  "    mac: 02:00:00:00:01:05\n    rate: 2000\n    score: false\n    keys:\n"
		  "      - {id: 1, key_file: keys/press-5.key}\n" TAIL4);
	/* The list at the end of the file, the last line without its newline. */
	ENROLL_OK("version: 1\ndevices:\n  - id: 7\n    source: 10.0.0.7\n"
		  "    keys: [{id: 1, key_file: keys/d7.key}]",
		  &plain,
		  "version: 1\ndevices:\n  - id: 7\n    source: 10.0.0.7\n"
		  "    keys: [{id: 1, key_file: keys/d7.key}]\n"
		  "  - id: 8\n    name: n8\n    source: 10.0.0.8\n    keys:\n"
		  "      - {id: 1, key_file: keys/n8.key}\n");
	/* An indentless list (dashes at the key's column). */
	ENROLL_OK("version: 1\ndevices:\n- id: 7\n  source: 10.0.0.7\n  keys:\n"
		  "  - {id: 1, key_file: keys/d7.key}\nport: 4739\n",
		  &plain,
		  "version: 1\ndevices:\n- id: 7\n  source: 10.0.0.7\n  keys:\n"
		  "  - {id: 1, key_file: keys/d7.key}\n"
		  "- id: 8\n  name: n8\n  source: 10.0.0.8\n  keys:\n"
		  "    - {id: 1, key_file: keys/n8.key}\nport: 4739\n");
	/* A flow list gets a flow entry. */
	ENROLL_OK("version: 1\ndevices: [{id: 7, source: 10.0.0.7, keys: [{id: 1, key_file: "
		  "keys/d7.key}]}]  # all of them\n",
		  &plain,
		  "version: 1\ndevices: [{id: 7, source: 10.0.0.7, keys: [{id: 1, key_file: "
		  "keys/d7.key}]}, {id: 8, name: n8, source: 10.0.0.8, keys: [{id: 1, key_file: "
		  "keys/n8.key}]}]  # all of them\n");
	/* An empty list becomes a block list; its comment stays on its line. */
	ENROLL_OK("version: 1\ndevices: []  # none yet\nport: 4739\n", &plain,
		  "version: 1\ndevices:   # none yet\n  - id: 8\n    name: n8\n"
		  "    source: 10.0.0.8\n    keys:\n      - {id: 1, key_file: keys/n8.key}\n"
		  "port: 4739\n");
	/* No 'devices' at all: one at the end. */
	ENROLL_OK("version: 1\nport: 4739", &plain,
		  "version: 1\nport: 4739\ndevices:\n  - id: 8\n    name: n8\n"
		  "    source: 10.0.0.8\n    keys:\n      - {id: 1, key_file: keys/n8.key}\n");

	/* Refused, and why. */
	s = (struct lg_device_spec){.id = 103, .name = "x", .source = "10.0.0.1", .port = -1};
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EEXIST);
	CHECK_STR_CONTAINS(err, "device 103 is already enrolled (line 14)");
	s.id = 200;
	s.name = "press-2";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EEXIST);
	CHECK_STR_CONTAINS(err, "a device named press-2 is already enrolled");
	/* keys/press-2-k2.key is where rotate-key puts press-2's key 2 (trial J, s21) */
	s.name = "press-2-k2";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "the name of another device's rotated key file");
	s.name = "press-2-k";   /* no number: an ordinary name */
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)), 0);
	lg_policy_edit_free(&e);
	s.name = "press-2-k2b";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)), 0);
	lg_policy_edit_free(&e);
	s.name = "x";
	s.source = "10.0.0.1\n    rate: 1";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "is not an IPv4 or IPv6 address");
	s.source = "10.0.0.1";
	s.name = "a b";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "a device name is");
	s.name = "x";
	s.group = "presses}, keys: [";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	s.group = NULL;
	s.mac = "02:00:00:00:01";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	s.mac = NULL;
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, "../x.key", &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(lg_policy_edit_enroll("version: 1\ndevices: {a: 1}\n", 27, &s, NULL, &e, err,
				       sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "line 2: 'devices' is not a list");
	CHECK_EQ(lg_policy_edit_enroll("version: [1\n", 12, &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "line 2 column 1");
}

/* A UADP publisher enrolled with its identity (docs/opcua.md): the entry's 'uadp' mapping
 * as the parser reads it, and a key of the size its security needs. */
static void test_enroll_uadp(void)
{
	/* open62541's tutorial publisher: unsigned, a timestamp, no sequence number. */
	struct lg_device_spec s = {.id = 21, .name = "o6-tutorial", .source = "10.77.0.21",
				   .port = -1, .uadp = true, .publisher_id = "2234",
				   .writer_group = 100, .writer = 62541, .security = "none",
				   .replay = "timestamp"};
	struct lg_policy_edit e;
	char err[512];

	CHECK_EQ(lg_device_spec_key_bytes(&s), 32u);
	ENROLL_OK(line4, &s,
		  HEAD4 DEV101 DEV102 DEV103
		  "  - id: 21\n    name: o6-tutorial\n    source: 10.77.0.21\n"
		  "    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, "
		  "security: none, replay: timestamp}\n    keys:\n"
		  "      - {id: 1, key_file: keys/o6-tutorial.key}\n"
		  TAIL4);
	/* SignAndEncrypt with Aes256 (pubsub_publish_encrypted.c), into a flow list: a group
	 * key of 32 + 32 + 4 bytes. */
	s = (struct lg_device_spec){.id = 22, .name = "o6-enc", .source = "10.77.0.22",
				    .port = -1, .uadp = true, .publisher_id = "2234",
				    .writer_group = 100, .writer = 62541,
				    .security = "sign_and_encrypt",
				    .security_policy = "PubSub-Aes256-CTR"};
	CHECK_EQ(lg_device_spec_key_bytes(&s), 68u);
	ENROLL_OK("version: 1\ndevices: [{id: 7, source: 10.0.0.7, keys: [{id: 1, key_file: "
		  "keys/d7.key}]}]\n",
		  &s,
		  "version: 1\ndevices: [{id: 7, source: 10.0.0.7, keys: [{id: 1, key_file: "
		  "keys/d7.key}]}, {id: 22, name: o6-enc, source: 10.77.0.22, uadp: "
		  "{publisher_id: 2234, writer_group: 100, writer: 62541, security: "
		  "sign_and_encrypt, security_policy: PubSub-Aes256-CTR}, keys: [{id: 1, "
		  "key_file: keys/o6-enc.key}]}]\n");
	/* The IOP publisher: no PublisherId, no GroupHeader, no PayloadHeader. Signed by
	 * default: a PubSub-Aes128-CTR group key (32 + 16 + 4). */
	s = (struct lg_device_spec){.id = 301, .name = "iop-writer-1", .source = "10.77.0.20",
				    .port = -1, .uadp = true, .writer_position = 1,
				    .publisher_type = NULL};
	CHECK_EQ(lg_device_spec_key_bytes(&s), 52u);
	ENROLL_OK("version: 1\nport: 4739", &s,
		  "version: 1\nport: 4739\ndevices:\n  - id: 301\n    name: iop-writer-1\n"
		  "    source: 10.77.0.20\n    uadp: {writer_position: 1}\n    keys:\n"
		  "      - {id: 1, key_file: keys/iop-writer-1.key}\n");
	/* A string PublisherId. */
	s = (struct lg_device_spec){.id = 23, .name = "o6-str", .source = "10.77.0.23",
				    .port = -1, .uadp = true, .publisher_id = "line4-plc",
				    .publisher_type = "string", .writer = 5, .security = "none"};
	ENROLL_OK("version: 1\ndevices: []\n", &s,
		  "version: 1\ndevices: \n  - id: 23\n    name: o6-str\n    source: 10.77.0.23\n"
		  "    uadp: {publisher_id: line4-plc, publisher_type: string, writer: 5, "
		  "security: none}\n    keys:\n      - {id: 1, key_file: keys/o6-str.key}\n");

	/* Refused before anything is written, and why. */
	s.writer_position = 2;
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "needs a writer (its DataSetWriterId) or a writer position");
	s.writer_position = 0;
	s.publisher_id = "x}, keys: [";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "a publisher id is 1..32 letters");
	s.publisher_type = "uint16";
	s.publisher_id = "22a";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "a publisher id is a whole number");
	s.publisher_id = "22";
	s.security = "encrypt";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "a security mode is none, sign or sign_and_encrypt, not 'encrypt'");
	s.security = "none";
	s.replay = "window";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "replay is sequence, nonce, timestamp or none");
	s.replay = NULL;
	s.security_policy = "Aes128";
	CHECK_EQ(lg_policy_edit_enroll(line4, strlen(line4), &s, NULL, &e, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "a security policy is PubSub-Aes128-CTR or PubSub-Aes256-CTR");
}

static void test_revoke(void)
{
	struct lg_policy_edit e;
	char err[512];

	REVOKE_OK(line4, 101, HEAD4 DEV102 DEV103 TAIL4, 1);
	REVOKE_OK(line4, 102, HEAD4 DEV101 DEV103 TAIL4, 1);
	REVOKE_OK(line4, 103, HEAD4 DEV101 DEV102 TAIL4, 1);
	/* The only device leaves an empty list, not a null. */
	REVOKE_OK("version: 1\ndevices:  # one\n  - id: 7\n    source: 10.0.0.7\n"
		  "    keys: [{id: 1, key_file: keys/d7.key}]",
		  7, "version: 1\ndevices: []  # one\n", 1);
	/* A flow list: the first, the middle, the last and the only entry. */
#define F1 "{id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: keys/a.key}]}"
#define F2 "{id: 2, source: 10.0.0.2, keys: [{id: 1, key_file: keys/b.key}]}"
#define F3 "{id: 3, source: 10.0.0.3, keys: [{id: 1, key_file: keys/c.key}]}"
	REVOKE_OK("version: 1\ndevices: [" F1 ", " F2 ", " F3 "]\n", 1,
		  "version: 1\ndevices: [" F2 ", " F3 "]\n", 1);
	REVOKE_OK("version: 1\ndevices: [" F1 ", " F2 ", " F3 "]\n", 2,
		  "version: 1\ndevices: [" F1 ", " F3 "]\n", 1);
	REVOKE_OK("version: 1\ndevices: [" F1 ", " F2 ", " F3 "]\n", 3,
		  "version: 1\ndevices: [" F1 ", " F2 "]\n", 1);
	REVOKE_OK("version: 1\ndevices: [" F2 "]\n", 2, "version: 1\ndevices: []\n", 1);
	/* A device in the middle of a file that holds UTF-8 before it (marks count
	 * characters, edits count bytes). */
	REVOKE_OK(
	    "# Linie 4, Halle \xc3\x9cst \xe2\x80\x94 Pressen\nversion: 1\ndevices:\n"
	    "  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: keys/a.key}]}  # \xc3\xa4\n"
	    "  - {id: 2, source: 10.0.0.2, keys: [{id: 1, key_file: keys/b.key}]}\n",
	    1,
	    "# Linie 4, Halle \xc3\x9cst \xe2\x80\x94 Pressen\nversion: 1\ndevices:\n"
	    "  - {id: 2, source: 10.0.0.2, keys: [{id: 1, key_file: keys/b.key}]}\n",
	    1);
	/* Two keys, two key files reported. */
	static const char two[] = "version: 1\ndevices:\n  - id: 5\n    source: 10.0.0.5\n"
				  "    keys: [{id: 1, key_file: keys/a.key}, {id: 2, key_file: "
				  "keys/b.key}]\n";

	CHECK_EQ(lg_policy_edit_revoke(two, strlen(two), 5, &e, err, sizeof(err)), 0);
	CHECK_EQ(e.nremoved, 2);
	CHECK(e.nremoved == 2 && !strcmp(e.removed[0], "keys/a.key") &&
	      !strcmp(e.removed[1], "keys/b.key"));
	CHECK_STR_CONTAINS(e.text, "devices: []\n");
	lg_policy_edit_free(&e);
	CHECK_EQ(lg_policy_edit_revoke(line4, strlen(line4), 99, &e, err, sizeof(err)), -ENOENT);
	CHECK_STR_CONTAINS(err, "device 99 is not enrolled");
}

static void test_rotate(void)
{
	struct lg_policy_edit e, e2;
	char err[512] = "";
	int64_t t;

	CHECK_EQ(lg_time_parse_utc(T_EXP, &t), 0);
	/* A block list of flow keys. */
	CHECK_EQ(lg_policy_edit_rotate(line4, strlen(line4), 101, t, &e, err, sizeof(err)), 0);
	CHECK_EQ(e.key_id, 2);
	CHECK(!strcmp(e.key_file, "keys/press-1-k2.key"));
	write_key(e.key_file);
	EXPECT_TEXT(&e, HEAD4
		    "  - id: 101\n    name: press-1\n    source: 10.77.0.2   # line side\n"
		    "    keys:\n      - {id: 1, key_file: keys/press-1.key, expires: " T_EXP "}\n"
		    "      - {id: 2, key_file: keys/press-1-k2.key}\n" DEV102 DEV103 TAIL4);
	/* A rotation in its grace period is refused, saying until when. */
	CHECK_EQ(lg_policy_edit_rotate(e.text, e.len, 101, t, &e2, err, sizeof(err)), -EBUSY);
	CHECK_STR_CONTAINS(err, "device 101 is already rotating (two keys, one expires " T_EXP);
	/* Dropping expired keys: nothing before the time, the old key at it. */
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 0, t - 1, &e2, err, sizeof(err)), 0);
	CHECK_EQ(e2.nremoved, 0);
	CHECK(!strcmp(e2.text, e.text));
	lg_policy_edit_free(&e2);
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 0, t, &e2, err, sizeof(err)), 0);
	CHECK_EQ(e2.nremoved, 1);
	CHECK(e2.nremoved == 1 && !strcmp(e2.removed[0], "keys/press-1.key"));
	EXPECT_TEXT(
	    &e2, HEAD4
	    "  - id: 101\n    name: press-1\n    source: 10.77.0.2   # line side\n"
	    "    keys:\n      - {id: 2, key_file: keys/press-1-k2.key}\n" DEV102 DEV103 TAIL4);
	/* ... and the next rotation goes on from id 2. */
	lg_policy_edit_free(&e);
	CHECK_EQ(lg_policy_edit_rotate(e2.text, e2.len, 101, t + 600, &e, err, sizeof(err)) == 0 &&
		     e.key_id == 3,
		 1);
	lg_policy_edit_free(&e2);
	lg_policy_edit_free(&e);

	/* A device whose only key has already expired (or expires before the grace would end)
	 * keeps that time: a rotation never gives an expired key a grace period back (trial J,
	 * s21). */
	{
		static const char one[] =
			"version: 1\ndevices:\n  - id: 9\n    source: 10.0.0.9\n    keys:\n"
			"      - {id: 1, key_file: keys/n9.key, expires: " T_EXP "}\n";

		CHECK_EQ(lg_policy_edit_rotate(one, strlen(one), 9, t + 600, &e, err, sizeof(err)),
			 0);
		CHECK_STR_CONTAINS(e.text, "{id: 1, key_file: keys/n9.key, expires: " T_EXP "}");
		lg_policy_edit_free(&e);
		/* one that expires after the grace is brought forward to it */
		CHECK_EQ(lg_policy_edit_rotate(one, strlen(one), 9, t - 600, &e, err, sizeof(err)),
			 0);
		CHECK(!strstr(e.text, T_EXP));
		lg_policy_edit_free(&e);
	}

	/* A flow entry with a flow list of keys. */
	CHECK_EQ(lg_policy_edit_rotate(line4, strlen(line4), 102, t, &e, err, sizeof(err)), 0);
	write_key(e.key_file);
	EXPECT_TEXT(&e, HEAD4 DEV101
		    "  - {id: 102, name: press-2, source: 10.77.0.2, keys: [{id: 1, "
		    "key_file: keys/press-2.key, expires: " T_EXP "}, {id: 2, key_file: "
		    "keys/press-2-k2.key}]}\n" DEV103 TAIL4);
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 102, t + 1, &e2, err, sizeof(err)), 0);
	EXPECT_TEXT(&e2, HEAD4 DEV101 "  - {id: 102, name: press-2, source: 10.77.0.2, keys: [{id: "
				      "2, key_file: keys/press-2-k2.key}]}\n" DEV103 TAIL4);
	lg_policy_edit_free(&e2);
	/* prune for another device leaves this one alone */
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 101, t + 1, &e2, err, sizeof(err)), 0);
	CHECK_EQ(e2.nremoved, 0);
	lg_policy_edit_free(&e2);
	lg_policy_edit_free(&e);

	/* A key written as a block mapping, id 4: the expiry goes under its last field, the
	 * new key (id 5) after it. */
	CHECK_EQ(lg_policy_edit_rotate(line4, strlen(line4), 103, t, &e, err, sizeof(err)), 0);
	CHECK(!strcmp(e.key_file, "keys/press-3-k5.key"));
	write_key(e.key_file);
	EXPECT_TEXT(&e, HEAD4 DEV101 DEV102
		    "  - id: 103\n    name: press-3\n    source: 10.77.0.2\n"
		    "    keys:\n      - id: 4\n        key_file: keys/press-3.key\n"
		    "        expires: " T_EXP
		    "\n      - {id: 5, key_file: keys/press-3-k5.key}\n" TAIL4);
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 0, t, &e2, err, sizeof(err)), 0);
	EXPECT_TEXT(&e2, HEAD4 DEV101 DEV102
		    "  - id: 103\n    name: press-3\n    source: 10.77.0.2\n"
		    "    keys:\n      - {id: 5, key_file: keys/press-3-k5.key}\n" TAIL4);
	lg_policy_edit_free(&e2);
	lg_policy_edit_free(&e);

	/* A device without a name, at the end of a file without a final newline; a key with
	 * an expiry of its own gets the new one in its place. */
	static const char d9[] = "version: 1\ndevices:\n  - id: 9\n    source: 10.0.0.9\n"
				 "    keys: [{id: 255, key_file: keys/d9.key, expires: "
				 "2030-01-01T00:00:00Z}]";
	static const char d9exp[] =
	    "version: 1\ndevices:\n  - id: 9\n    source: 10.0.0.9\n"
	    "    keys: [{id: 1, key_file: keys/d9.key, expires: " T_EXP "}]\n";

	CHECK_EQ(lg_policy_edit_rotate(d9, strlen(d9), 9, t, &e, err, sizeof(err)), 0);
	CHECK(!strcmp(e.key_file, "keys/device-9-k1.key"));
	write_key("keys/d9.key");
	write_key(e.key_file);
	EXPECT_TEXT(&e, "version: 1\ndevices:\n  - id: 9\n    source: 10.0.0.9\n"
			"    keys: [{id: 255, key_file: keys/d9.key, expires: " T_EXP "}, {id: 1, "
			"key_file: keys/device-9-k1.key}]");
	lg_policy_edit_free(&e);
	/* The last key is never dropped, expired or not. */
	CHECK_EQ(lg_policy_edit_prune(d9exp, strlen(d9exp), 0, t + 10, &e, err, sizeof(err)), 0);
	CHECK_EQ(e.nremoved, 0);
	lg_policy_edit_free(&e);
	CHECK_EQ(lg_policy_edit_rotate(line4, strlen(line4), 77, t, &e, err, sizeof(err)), -ENOENT);
}

/* A file with CR LF line ends gets CR LF in every line an edit writes (they were LF): the
 * exact bytes of an enroll, a rotation with a block key (its expiry line and the new key),
 * a prune and a revoke, and of a devices list added at the end of a file. */
static void test_crlf(void)
{
	static const char in[] = "version: 1\r\ndevices:\r\n  - id: 7\r\n    name: c7\r\n"
				 "    source: 10.0.0.7\r\n    keys:\r\n      - id: 1\r\n"
				 "        key_file: keys/d7.key\r\nport: 4739\r\n";
	struct lg_device_spec plain = {.id = 8, .name = "n8", .source = "10.0.0.8", .port = -1};
	struct lg_policy_edit e, e2;
	char err[512] = "";
	int64_t t;

	ENROLL_OK(in, &plain,
		  "version: 1\r\ndevices:\r\n  - id: 7\r\n    name: c7\r\n    source: 10.0.0.7\r\n"
		  "    keys:\r\n      - id: 1\r\n        key_file: keys/d7.key\r\n"
		  "  - id: 8\r\n    name: n8\r\n    source: 10.0.0.8\r\n    keys:\r\n"
		  "      - {id: 1, key_file: keys/n8.key}\r\nport: 4739\r\n");
	ENROLL_OK("version: 1\r\nport: 4739", &plain,
		  "version: 1\r\nport: 4739\r\ndevices:\r\n  - id: 8\r\n    name: n8\r\n"
		  "    source: 10.0.0.8\r\n    keys:\r\n"
		  "      - {id: 1, key_file: keys/n8.key}\r\n");
	CHECK_EQ(lg_time_parse_utc(T_EXP, &t), 0);
	CHECK_EQ(lg_policy_edit_rotate(in, strlen(in), 7, t, &e, err, sizeof(err)), 0);
	write_key(e.key_file);
	EXPECT_TEXT(&e, "version: 1\r\ndevices:\r\n  - id: 7\r\n    name: c7\r\n"
			"    source: 10.0.0.7\r\n    keys:\r\n      - id: 1\r\n"
			"        key_file: keys/d7.key\r\n        expires: " T_EXP "\r\n"
			"      - {id: 2, key_file: keys/c7-k2.key}\r\nport: 4739\r\n");
	CHECK_EQ(lg_policy_edit_prune(e.text, e.len, 0, t, &e2, err, sizeof(err)), 0);
	CHECK_EQ(e2.nremoved, 1);
	EXPECT_TEXT(&e2, "version: 1\r\ndevices:\r\n  - id: 7\r\n    name: c7\r\n"
			 "    source: 10.0.0.7\r\n    keys:\r\n"
			 "      - {id: 2, key_file: keys/c7-k2.key}\r\nport: 4739\r\n");
	lg_policy_edit_free(&e2);
	lg_policy_edit_free(&e);
	REVOKE_OK(in, 7, "version: 1\r\ndevices: []\r\nport: 4739\r\n", 1);
}

/* A file whose lines end in a CR alone (as libyaml reads them: old Mac editors write
 * them) is cut into lines as libyaml cuts it, and gets lone CRs in every line an edit
 * writes. Before, lines were cut at LF only: a revoke's two changes overlapped (a
 * negative-size copy, found by fuzz_policy_edit) or an entry went on the wrong line. */
static void test_lone_cr(void)
{
	static const char in[] = "version: 1\rdevices:\r  - id: 7\r    name: c7\r"
				 "    source: 10.0.0.7\r    keys:\r      - id: 1\r"
				 "        key_file: keys/d7.key\rport: 4739\r";
	/* LF and lone CR in one file, as in the fuzzer's input: each line end as it is */
	static const char mixed[] = "version: 1\ndevices:\r  - id: 1\n    source: 10.0.0.1\n"
				    "    keys: [{id: 1, key_file: keys/d7.key}]\n"
				    "  - id: 2\r    source: 10.0.0.2\r"
				    "    keys: [{id: 1, key_file: keys/d7.key}]\n";
	struct lg_device_spec plain = {.id = 8, .name = "n8", .source = "10.0.0.8", .port = -1};

	ENROLL_OK(in, &plain,
		  "version: 1\rdevices:\r  - id: 7\r    name: c7\r    source: 10.0.0.7\r"
		  "    keys:\r      - id: 1\r        key_file: keys/d7.key\r"
		  "  - id: 8\r    name: n8\r    source: 10.0.0.8\r    keys:\r"
		  "      - {id: 1, key_file: keys/n8.key}\rport: 4739\r");
	ENROLL_OK("version: 1\rport: 4739", &plain,
		  "version: 1\rport: 4739\rdevices:\r  - id: 8\r    name: n8\r"
		  "    source: 10.0.0.8\r    keys:\r"
		  "      - {id: 1, key_file: keys/n8.key}\r");
	REVOKE_OK(in, 7, "version: 1\rdevices: []\rport: 4739\r", 1);
	REVOKE_OK(mixed, 1, "version: 1\ndevices:\r  - id: 2\r    source: 10.0.0.2\r"
			    "    keys: [{id: 1, key_file: keys/d7.key}]\n", 1);
	REVOKE_OK(mixed, 2, "version: 1\ndevices:\r  - id: 1\n    source: 10.0.0.1\n"
			    "    keys: [{id: 1, key_file: keys/d7.key}]\n", 1);
}

static void test_key_files(void)
{
	char path[256], err[256], fp[LG_KEY_FP_LEN + 1], buf[80], want[LG_KEY_FP_LEN + 1];
	uint8_t key[LG_KEY_LEN];
	struct stat st;
	size_t got;
	int fd;
	ssize_t n;

	CHECK_EQ(lg_key_file_create(policy_path, "keys/t.key", LG_KEY_LEN, fp, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/keys/t.key", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_size, 65);
	snprintf(path, sizeof(path), "%s/keys", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/keys/t.key", dir);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK_EQ(n, 65);
	CHECK_EQ(buf[64], '\n');
	CHECK_EQ(sodium_hex2bin(key, sizeof(key), buf, 64, NULL, &got, NULL), 0);
	CHECK_EQ(got, 32);
	lg_key_fingerprint(key, LG_KEY_LEN, want);
	CHECK(!strcmp(fp, want));
	CHECK_EQ(strlen(fp), 8);
	/* Never overwritten. */
	CHECK_EQ(lg_key_file_create(policy_path, "keys/t.key", LG_KEY_LEN, fp, err, sizeof(err)), -EEXIST);
	CHECK_STR_CONTAINS(err, "never overwritten");
	CHECK_EQ(lg_key_file_remove(policy_path, "keys/t.key"), 0);
	CHECK_EQ(access(path, F_OK), -1);
	/* A UADP security group key: SigningKey | EncryptingKey (Aes256) | KeyNonce. */
	CHECK_EQ(lg_key_file_create(policy_path, "keys/g.key", 68, fp, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/keys/g.key", dir);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_size, 137);
	CHECK_EQ(lg_key_file_remove(policy_path, "keys/g.key"), 0);
	CHECK_EQ(lg_key_file_create(policy_path, "keys/g.key", 40, fp, err, sizeof(err)), -EINVAL);
	CHECK_EQ(lg_key_file_create(policy_path, "../t.key", LG_KEY_LEN, fp, err, sizeof(err)), -EINVAL);
	/* Known answer: SHA-256 of 32 zero bytes is 66687aad... */
	memset(key, 0, sizeof(key));
	lg_key_fingerprint(key, LG_KEY_LEN, fp);
	CHECK(!strcmp(fp, "66687aad"));
}

static void test_times(void)
{
	char buf[32];
	time_t t;

	int64_t u;

	/* The edits read `expires` with the policy parser's own reader, and write what it reads. */
	CHECK_EQ(lg_time_parse_utc("2026-12-04T18:00:00Z", &u), 0);
	CHECK_EQ(u, 1796407200);
	lg_rfc3339((time_t)u, buf, sizeof(buf));
	CHECK(!strcmp(buf, "2026-12-04T18:00:00Z"));
	CHECK_EQ(lg_time_parse_utc("2026-12-04T19:30:00.25+01:30", &u), -EINVAL);
	CHECK_EQ(lg_time_parse_utc("2026-12-04T18:00:00", &u), -EINVAL);
	CHECK_EQ(lg_time_parse_utc("2026-13-04T18:00:00Z", &u), -EINVAL);
	CHECK_EQ(lg_time_parse_utc("2026-11-31T18:00:00Z", &u), -ERANGE);
	CHECK_EQ(lg_time_parse_utc("2026-12-04T18:00:00Zx", &u), -EINVAL);
	CHECK_EQ(lg_duration_parse("10m", &t), 0);
	CHECK_EQ(t, 600);
	CHECK_EQ(lg_duration_parse("3", &t), 0);
	CHECK_EQ(t, 3);
	CHECK_EQ(lg_duration_parse("2h", &t), 0);
	CHECK_EQ(t, 7200);
	CHECK_EQ(lg_duration_parse("1d", &t), 0);
	CHECK_EQ(t, 86400);
	CHECK_EQ(lg_duration_parse("367d", &t), -EINVAL);
	CHECK_EQ(lg_duration_parse("-5s", &t), -EINVAL);
	CHECK_EQ(lg_duration_parse("5 m", &t), -EINVAL);
	CHECK_EQ(lg_duration_parse("", &t), -EINVAL);
}

static void test_replace(void)
{
	char path[256], link[256], buf[64];
	struct stat st;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/r.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "old\n", 4), 4);
	fchmod(fd, 0640);
	close(fd);
	CHECK_EQ(lg_file_replace(path, "new text\n", 9), 0);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK_EQ(n, 9);
	CHECK(n == 9 && !memcmp(buf, "new text\n", 9));
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0640);
	/* Through a symlink: the target is replaced, the link stays a link. */
	snprintf(link, sizeof(link), "%s/link.yaml", dir);
	CHECK_EQ(symlink("r.yaml", link), 0);
	CHECK_EQ(lg_file_replace(link, "third\n", 6), 0);
	CHECK_EQ(lstat(link, &st), 0);
	CHECK(S_ISLNK(st.st_mode));
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	CHECK(n == 6 && !memcmp(buf, "third\n", 6));
	unlink(link);
	unlink(path);
}

int main(int argc, char **argv)
{
	static const char *const existing[] = {
	    "keys/press-1.key", "keys/press-2.key", "keys/press-3.key", "keys/d7.key",
	    "keys/a.key",	"keys/b.key",	    "keys/c.key"};
	char cmd[128];

	lgt_cli(argc, argv, usage, 0, 0);
	snprintf(dir, sizeof(dir), "/tmp/lg-policy-edit.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(policy_path, sizeof(policy_path), "%s/policy.yaml", dir);
	for (size_t i = 0; i < sizeof(existing) / sizeof(existing[0]); i++)
		write_key(existing[i]);
	test_enroll();
	test_enroll_uadp();
	test_revoke();
	test_rotate();
	test_crlf();
	test_lone_cr();
	test_key_files();
	test_times();
	test_replace();
	printf("%d edited policies parsed\n", parse_checks);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "could not remove %s\n", dir);
	return lgt_done("policy_edit");
}
