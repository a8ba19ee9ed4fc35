/* SPDX-License-Identifier: MIT */
/*
 * Enrollment edits of the policy text: enroll, revoke, rotate a key, drop expired keys.
 * Each edit changes only the lines it must (comments, order and layout stay as the
 * operator wrote them), located with libyaml's node marks, and returns the new text.
 * The edits work on text; lg_policy_edit_check() runs the one policy parser over the
 * result, once the key files it names exist.
 */
#ifndef LINEGATE_POLICY_EDIT_H
#define LINEGATE_POLICY_EDIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <linegate/policy.h>

/* A device to enroll. Strings are checked before they go into the YAML: a name, a group or
 * an address cannot smuggle in YAML of their own. */
struct lg_device_spec {
	uint32_t id;	    /* 1..4294967295, not enrolled yet */
	const char *name;   /* required: letters, digits, '.', '_', '-'; names the key file */
	const char *source; /* required: an IPv4 or IPv6 address */
	int port;	    /* bound UDP source port; < 0 leaves it out (any) */
	const char *mac;    /* NULL leaves it out */
	uint32_t rate;	    /* frames per second; 0 leaves it out */
	const char *group;  /* NULL leaves it out */
	bool unscored;      /* writes score: false (recorded, not scored) */
	/* A UADP publisher (docs/opcua.md), written as the entry's 'uadp' mapping; uadp false:
	 * an LGF device. 0 and NULL leave a field out (the parser's defaults apply). */
	bool uadp;
	const char *publisher_id;    /* a number, or a plain name with publisher_type string */
	const char *publisher_type;  /* byte|uint16|uint32|uint64|string */
	uint32_t writer_group;	     /* WriterGroupId, 1..65535 */
	uint32_t writer;	     /* DataSetWriterId, 1..65535 ... */
	uint32_t writer_position;    /* ... or the DataSetMessage's place (no PayloadHeader) */
	const char *security;	     /* none|sign|sign_and_encrypt (default sign) */
	const char *security_policy; /* PubSub-Aes128-CTR|PubSub-Aes256-CTR */
	const char *replay;	     /* sequence|nonce|timestamp|none */
};

/* The size of the new key an enrollment of s makes: a signing UADP publisher gets a
 * security group key (SigningKey | EncryptingKey | KeyNonce of its security policy,
 * PubSub-Aes128-CTR unless given), anything else a 32-byte key. */
size_t lg_device_spec_key_bytes(const struct lg_device_spec *s);

struct lg_policy_edit {
	char *text; /* the new policy text, malloc'd, NUL-terminated */
	size_t len;
	char key_file[LG_PATH_MAX]; /* enroll, rotate: the new key's key_file, as written */
	uint8_t key_id;		    /* enroll, rotate: the new key's id */
	char name[LG_NAME_MAX];	    /* the device's name (device-<id> when it has none) */
	unsigned nremoved;	    /* key entries the edit took out */
	char **removed;		    /* their key_file values (NULL for an entry without one) */
};

void lg_policy_edit_free(struct lg_policy_edit *e);

/* Append a device to 'devices:' (created at the end of the file when there is none) with
 * keys: [{id: 1, key_file: KEY_FILE}]. key_file NULL means keys/NAME.key. */
int lg_policy_edit_enroll(const char *text, size_t len, const struct lg_device_spec *s,
			  const char *key_file, struct lg_policy_edit *out, char *err,
			  size_t errlen);
/* Remove the device's entry. */
int lg_policy_edit_revoke(const char *text, size_t len, uint32_t id, struct lg_policy_edit *out,
			  char *err, size_t errlen);
/* Give the device's key expires: EXPIRES and add a key with the next id and key_file
 * keys/NAME-kID.key. Refused while the device already has two keys (a rotation still in
 * its grace period): lg_policy_edit_prune() first drops a key whose time has passed. */
int lg_policy_edit_rotate(const char *text, size_t len, uint32_t id, time_t expires,
			  struct lg_policy_edit *out, char *err, size_t errlen);
/* Drop every key whose expires is at or before now, unless it is its device's last key.
 * id 0: every device; otherwise that device only. out->nremoved says how many. */
int lg_policy_edit_prune(const char *text, size_t len, uint32_t id, time_t now,
			 struct lg_policy_edit *out, char *err, size_t errlen);

/* Parse text as the policy file at path would be parsed (key files relative to its
 * folder); the parser's FILE:LINE:COL message on failure. */
int lg_policy_edit_check(const char *text, size_t len, const char *path, bool new_key,
			 char *err, size_t errlen);

/* Make a new device key: nbytes random bytes (libsodium) written as hex digits and a
 * newline to rel (relative to the policy file's folder, whose keys/ subfolder is made
 * 0700), mode 0600, refused if the file exists. nbytes is 32 (a key), or for a UADP
 * security group key 52 or 68 (SigningKey | EncryptingKey of PubSub-Aes128-CTR or -Aes256
 * -CTR | KeyNonce). fp gets the fingerprint of the first 32 (8 hex + NUL). */
int lg_key_file_create(const char *policy_path, const char *rel, size_t nbytes,
		       char fp[LG_KEY_FP_LEN + 1], char *err, size_t errlen);
/* Remove a key file named by the policy (relative to its folder). */
int lg_key_file_remove(const char *policy_path, const char *rel);

/* RFC 3339 in UTC, seconds: 2026-12-04T18:00:00Z (buf of at least 21 bytes). */
void lg_rfc3339(time_t t, char *buf, size_t len);
/* "10m", "90s", "2h", "1d", "3" (seconds): 0 or -EINVAL; at most 366 days. */
int lg_duration_parse(const char *s, time_t *out);

/* Replace the file at path with text: a temporary file in the same folder with the old
 * file's mode, written, fsync'd, renamed over path, and the folder fsync'd. */
int lg_file_replace(const char *path, const char *text, size_t len);

#endif
