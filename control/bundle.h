/* SPDX-License-Identifier: MIT */
/*
 * Fleet bundles (docs/fleet.md, "Fleet configuration and rollout"): a policy YAML and at
 * most one model, described by a manifest (JSON) that names the plant, the line and the
 * version and holds the SHA-256 and size of every part. The manifest is signed (Ed25519,
 * detached, the 128 hex digits of manifest.sig) by a key of the policy's
 * models.trusted_keys; a server verifies the signature, then the parts' hashes, itself.
 */
#ifndef LINEGATE_BUNDLE_H
#define LINEGATE_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_BUNDLE_FORMAT "linegate-bundle/1"
#define LG_BUNDLE_MAX_PARTS 8
#define LG_BUNDLE_MAX_MANIFEST 65536
#define LG_BUNDLE_TOKEN_MAX 64
#define LG_BUNDLE_PART_MAX 100

struct lg_bundle_part {
	char name[LG_BUNDLE_PART_MAX + 1]; /* a file name: [A-Za-z0-9._-], not starting with . */
	uint8_t sha256[32];
	uint64_t size;
};

struct lg_bundle_manifest {
	/* subject/key tokens: [A-Za-z0-9_-], 1..64 characters */
	char plant[LG_BUNDLE_TOKEN_MAX + 1], line[LG_BUNDLE_TOKEN_MAX + 1];
	char version[LG_BUNDLE_TOKEN_MAX + 1];
	/* Issue 13 (F1): a number that grows with every publish of the line (linegate-fleet
	 * publish writes the time in ms); a server refuses a bundle whose serial is below that
	 * of the newest it applied. 0 = a manifest without one (an older linegate-fleet). */
	uint64_t serial;
	char policy[LG_BUNDLE_PART_MAX + 1];     /* the part holding the policy YAML */
	char model_name[LG_BUNDLE_TOKEN_MAX + 1]; /* "" = no model; registered NAME@version */
	char model_file[LG_BUNDLE_PART_MAX + 1];  /* its part; "<file>.sig" is a part too */
	size_t nparts;
	struct lg_bundle_part parts[LG_BUNDLE_MAX_PARTS];
};

/* A plant, line, server or version name usable as one NATS subject/key token. */
bool lg_bundle_token_ok(const char *s);
/*
 * Text from the bucket (a line server's report, a version name a bucket writer put in a
 * key) for a terminal or a log: a control character (an escape sequence that moves the
 * cursor, erases a row or sets the window title: re-check trial 13b A1) is written as \xHH.
 * Returns out (len >= 6).
 */
char *lg_bundle_shown(const char *in, char *out, size_t len);
/* A part name usable as a file name in one folder. */
bool lg_bundle_part_name_ok(const char *s);

/*
 * Parse a manifest (strict: known keys only, each once, every type checked, parts unique,
 * the policy and model parts present). Hostile input is refused with a message in err,
 * never read past len. Returns 0 or a negative errno (-EINVAL, -E2BIG).
 */
int lg_bundle_manifest_parse(const char *text, size_t len, struct lg_bundle_manifest *m,
			     char *err, size_t errlen);

/*
 * Verify sig (64 bytes) over text with any of the n trusted keys, then parse it. A bad
 * signature is -EKEYREJECTED and nothing is parsed.
 */
int lg_bundle_verify(const char *text, size_t len, const uint8_t sig[64],
		     const uint8_t (*trusted)[32], size_t n, struct lg_bundle_manifest *m,
		     char *err, size_t errlen);

/* The part named name, or NULL. */
const struct lg_bundle_part *lg_bundle_part(const struct lg_bundle_manifest *m,
					    const char *name);

/* Check that buf is the part's content (size and SHA-256): 0, or -EBADMSG and why. */
int lg_bundle_check_part(const struct lg_bundle_part *p, const void *buf, size_t len,
			 char *err, size_t errlen);

/* Write the manifest as JSON text (malloc'd, NUL-terminated) into *out. */
int lg_bundle_manifest_text(const struct lg_bundle_manifest *m, char **out, size_t *len);

#endif
