// SPDX-License-Identifier: MIT
/* Policy parser: libyaml's document API, so every node keeps its line and column. */
#include <linegate/features.h>
#include <linegate/lgf.h>
#include <linegate/nkey.h>
#include <linegate/policy.h>
#include <linegate/nats_url.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>
#include <sodium.h>
#include <yaml.h>

struct pctx {
	yaml_document_t *doc;
	struct lg_policy *p;
	const char *name;
	char dir[LG_PATH_MAX]; /* the policy file's folder: relative paths start here */
	char *err;
	size_t errlen;
	size_t ndev_alloc; /* entries of p->devices, zeroed on the way out of a failure */
	const yaml_node_t *retrain; /* detection.drift.retrain, checked against the rest */
	const yaml_node_t *model_key[LG_POLICY_MAX_MODEL_KEYS]; /* models.trusted_keys entries */
};

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int perr_at(struct pctx *c, size_t line, size_t col, const char *fmt, va_list ap)
{
	int off = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->name, line, col);

	if (off < 0 || (size_t)off >= c->errlen)
		return -EINVAL;
	vsnprintf(c->err + off, c->errlen - off, fmt, ap);
	/* Whatever a message quotes, a key-sized run of hex digits never leaves here. */
	lg_redact_secrets(c->err);
	return -EINVAL;
}

static int perr_mark(struct pctx *c, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr_mark(struct pctx *c, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	perr_at(c, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int perr(struct pctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	perr_at(c, n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

size_t lg_hex_run(const char *s)
{
	size_t best = 0, run = 0;

	for (; *s; s++) {
		run = isxdigit((unsigned char)*s) ? run + 1 : 0;
		if (run > best)
			best = run;
	}
	return best;
}

size_t lg_redact_secrets(char *s)
{
	static const char mark[] = "<hidden>";
	size_t n = 0, w = 0, r = 0;

	if (!s)
		return 0;
	while (s[r]) {
		size_t run = 0;

		while (isxdigit((unsigned char)s[r + run]))
			run++;
		if (run >= LG_SECRET_HEX_RUN) {
			/* The mark is shorter than any run it replaces: the text only shrinks. */
			memcpy(s + w, mark, sizeof(mark) - 1);
			w += sizeof(mark) - 1;
			n++;
		} else {
			memmove(s + w, s + r, run);
			w += run;
		}
		r += run;
		if (!run)
			s[w++] = s[r++];
	}
	s[w] = '\0';
	return n;
}

/*
 * A value as an error message may quote it: a key typed into the wrong field must not end
 * up in an error, a log or the audit trail, so anything long enough to be a secret (24
 * characters or more, or a run of LG_SECRET_HEX_RUN hex digits) is not shown.
 */
#define NOT_SHOWN "(value not shown)"

static const char *shown(const char *s, char *buf, size_t len)
{
	if (!s)
		return "?";
	if (strlen(s) >= 24 || lg_hex_run(s) >= LG_SECRET_HEX_RUN)
		return NOT_SHOWN;
	snprintf(buf, len, "'%s'", s);
	return buf;
}

/* Paths may be long; only one that holds a run of hex digits as long as a secret's is hidden. */
static const char *shown_path(const char *s)
{
	return lg_hex_run(s) >= LG_SECRET_HEX_RUN ? NOT_SHOWN : s;
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* "unknown WHAT 'x' (did you mean 'y'?)", or the list of what is known. */
static int unknown(struct pctx *c, const yaml_node_t *k, const char *what,
		   const char *const *known)
{
	const char *name = scalar(k), *best = NULL;
	size_t bestd = SIZE_MAX;
	char buf[64], list[256] = "";

	for (const char *const *q = known; *q; q++) {
		size_t d = name ? edit_distance(name, *q) : SIZE_MAX;

		if (d < bestd) {
			bestd = d;
			best = *q;
		}
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 q == known ? "" : ", ", *q);
	}
	if (best && bestd && bestd <= (strlen(best) / 3 > 2 ? strlen(best) / 3 : 2))
		return perr(c, k, "unknown %s %s: did you mean '%s'?", what,
			    shown(name, buf, sizeof(buf)), best);
	return perr(c, k, "unknown %s %s (known: %s)", what, shown(name, buf, sizeof(buf)), list);
}

static int get_bool(struct pctx *c, const yaml_node_t *n, const char *key, bool *out);

static int get_uint(struct pctx *c, const yaml_node_t *n, const char *key, unsigned long min,
		    unsigned long max, unsigned long *out)
{
	const char *s = scalar(n);
	char *end, buf[32];
	unsigned long v;

	if (!s || !*s)
		return perr(c, n, "'%s' must be a number", key);
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || s[0] == '-')
		return perr(c, n, "'%s' must be a whole number, not %s", key,
			    shown(s, buf, sizeof(buf)));
	if (v < min || v > max)
		return perr(c, n, "'%s' is %lu, must be between %lu and %lu", key, v, min, max);
	*out = v;
	return 0;
}

/* A unicast address: frames never come from 0.0.0.0, ::, a broadcast or a group. */
static bool source_can_send(int family, const uint8_t *a)
{
	static const uint8_t zero[16];

	if (family == AF_INET)
		return memcmp(a, zero, 4) && !(a[0] == 255 && a[1] == 255 && a[2] == 255 &&
					       a[3] == 255) && (a[0] & 0xf0) != 0xe0;
	return memcmp(a, zero, 16) && a[0] != 0xff;
}

static int get_float(struct pctx *c, const yaml_node_t *n, const char *key, float *out)
{
	const char *s = scalar(n);
	char *end, buf[32];
	float v;

	if (!s || !*s)
		return perr(c, n, "'%s' must be a number", key);
	/* Decimal only: strtof also takes hex (0x1p3), inf and nan. */
	if (strspn(s, "0123456789.eE+-") != strlen(s))
		return perr(c, n, "'%s' must be a decimal number, not %s", key,
			    shown(s, buf, sizeof(buf)));
	errno = 0;
	v = strtof(s, &end);
	if (errno || *end)
		return perr(c, n, "'%s' must be a number, not %s", key, shown(s, buf, sizeof(buf)));
	*out = v;
	return 0;
}

static int get_str(struct pctx *c, const yaml_node_t *n, const char *key, char *out, size_t len)
{
	const char *s = scalar(n);

	if (!s)
		return perr(c, n, "'%s' must be a string", key);
	if (strlen(s) >= len)
		return perr(c, n, "'%s' is longer than %zu characters", key, len - 1);
	strcpy(out, s);
	return 0;
}

/* A path: relative ones are taken from the policy file's folder; "-" is stdout. */
static int get_path(struct pctx *c, const yaml_node_t *n, const char *key, char *out, size_t len)
{
	const char *s = scalar(n);
	int w;

	if (!s)
		return perr(c, n, "'%s' must be a string", key);
	if (!s[0] || s[0] == '/' || !strcmp(s, "-")) {
		w = snprintf(out, len, "%s", s);
		if (w < 0 || (size_t)w >= len)
			return perr(c, n, "'%s' is longer than %zu characters", key, len - 1);
		return 0;
	}
	w = snprintf(out, len, "%s/%s", c->dir, s);
	if (w < 0 || (size_t)w >= len)
		return perr(c, n, "'%s' is longer than %zu characters once taken from %s/", key,
			    len - 1, c->dir);
	return 0;
}

/* Exactly 2n hex digits into n bytes (libsodium: constant time, key bytes included). */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
	size_t got = 0;

	if (strlen(s) != 2 * n || sodium_hex2bin(out, n, s, 2 * n, NULL, &got, NULL) || got != n)
		return -EINVAL;
	return 0;
}

/*
 * A file that holds a secret (a key, a password): opened without following a FIFO into a
 * hang, and refused unless it is a regular file readable by its owner only (0600 or 0400)
 * and owned by root or by the user we run as (its owner could read and replace it). Errors
 * name the policy's line:column and the file as "what PATH", never what it holds. Returns
 * the open descriptor or -EINVAL.
 */
/* --user (priv.h): set once at start, before any policy is read and any thread runs. */
static uid_t secret_owner = (uid_t)-1;

void lg_policy_secret_owner(uid_t uid)
{
	secret_owner = uid;
}

/*
 * A secret file of another user's: the hint. The daemons run as a user of their own (the
 * package's linegate) and read its files, so "chown root" would lock them out: check as
 * that user (most likely the file's owner), or give the file to the user they run as.
 */
static void not_owner(struct pctx *c, const yaml_node_t *n, const char *what, const char *how,
		      uid_t owner)
{
	struct passwd pw, *res = NULL;
	char buf[1024], name[64] = "NAME";

	if (!getpwuid_r(owner, &pw, buf, sizeof(buf), &res) && res)
		snprintf(name, sizeof(name), "%s", res->pw_name);
	perr(c, n, "%s %s is owned by uid %u (%s), not by root or by the user checking it (uid "
	     "%u): run %s as the user linegate and linegated run as (runuser -u USER -- %s ..., "
	     "USER most likely %s), and the file must be that user's (chown USER %s)", what,
	     how, (unsigned)owner, res ? name : "no such user", (unsigned)geteuid(),
	     program_invocation_short_name, program_invocation_short_name, name, how);
}

static int open_secret(struct pctx *c, const yaml_node_t *n, const char *path, const char *what)
{
	const char *how = shown_path(path);
	struct stat st;
	int fd;

	/* O_NONBLOCK: a FIFO named as a key file must not hang the daemon. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return perr(c, n, "%s %s: %s", what, how, strerror(errno));
	if (fstat(fd, &st))
		perr(c, n, "%s %s: %s", what, how, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		perr(c, n, "%s %s is not a regular file", what, how);
	else if (st.st_mode & 077)
		perr(c, n, "%s %s has mode %04o: a %s must be readable by its owner only "
		     "(chmod 600 %s)", what, how, (unsigned)(st.st_mode & 07777), what, how);
	else if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != secret_owner)
		not_owner(c, n, what, how, st.st_uid);
	else
		return fd;
	close(fd);
	return -EINVAL;
}

/* Bytes a key file may hold: a 32-byte key, or a UADP security group key (OPC 10000-14
 * 8.3.2): SigningKey (32) | EncryptingKey (16 or 32) | KeyNonce (4). */
#define KEY_AES128 (LG_KEY_LEN + 16 + LG_UADP_KEY_NONCE_LEN)
#define KEY_AES256 (LG_KEY_LEN + 32 + LG_UADP_KEY_NONCE_LEN)

/*
 * A key file: a regular file, readable by its owner only (0600 or 0400), holding 64 hex
 * digits (or, for a UADP group key, 104 or 136) and an optional newline. Errors name the
 * policy's line:column and the file, never a byte of what it holds.
 */
static int read_key_file(struct pctx *c, const yaml_node_t *n, const char *path,
			 struct lg_policy_key *key)
{
	char buf[2 * KEY_AES256 + 2];
	uint8_t raw[KEY_AES256];
	const char *how = shown_path(path);
	ssize_t got;
	size_t len;
	int fd, ret = 0;

	fd = open_secret(c, n, path, "key file");
	if (fd < 0)
		return fd;
	got = read(fd, buf, sizeof(buf));
	if (got < 0) {
		ret = perr(c, n, "key file %s: %s", how, strerror(errno));
		goto out;
	}
	len = (size_t)got;
	if (len == sizeof(buf) || (len == sizeof(buf) - 1 && buf[len - 1] != '\n'))
		len = sizeof(buf) + 1; /* too long, whatever else it holds */
	else if (len && buf[len - 1] == '\n')
		len--;
	if (len != 2 * LG_KEY_LEN && len != 2 * KEY_AES128 && len != 2 * KEY_AES256) {
		char held[32];

		if (len > sizeof(buf))
			snprintf(held, sizeof(held), "more than %d", 2 * KEY_AES256);
		else
			snprintf(held, sizeof(held), "%zu", len);
		ret = perr(c, n, "key file %s must hold %d hex digits (%d bytes; a UADP group key: "
			   "%d or %d) and an optional newline, it holds %s", how, 2 * LG_KEY_LEN,
			   LG_KEY_LEN, 2 * KEY_AES128, 2 * KEY_AES256, held);
		goto out;
	}
	buf[len] = '\0';
	if (hex_decode(buf, raw, len / 2)) {
		ret = perr(c, n, "key file %s must hold hex digits only (0-9, a-f)", how);
		goto out;
	}
	memcpy(key->bytes, raw, LG_KEY_LEN);
	key->enc_len = (uint8_t)(len / 2 == LG_KEY_LEN ? 0 : len / 2 - LG_KEY_LEN -
				 LG_UADP_KEY_NONCE_LEN);
	memset(key->enc, 0, sizeof(key->enc));
	memset(key->key_nonce, 0, sizeof(key->key_nonce));
	if (key->enc_len) {
		memcpy(key->enc, raw + LG_KEY_LEN, key->enc_len);
		memcpy(key->key_nonce, raw + LG_KEY_LEN + key->enc_len, LG_UADP_KEY_NONCE_LEN);
	}
out:
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(raw, sizeof(raw));
	close(fd);
	return ret;
}

int lg_time_parse_utc(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	int y, mo, d, h, mi, sec, used = 0;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 20 || strlen(s) != 20 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60 || y < 1970)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm() normalises 31 November into 1 December: refuse what does not exist. */
	if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
		return -ERANGE;
	*out = (int64_t)t;
	return 0;
}

/* RFC 3339 in UTC, to the second: 2026-12-04T18:00:00Z. */
static int get_time(struct pctx *c, const yaml_node_t *n, const char *key, int64_t *out)
{
	int ret = lg_time_parse_utc(scalar(n), out);

	if (ret == -ERANGE)
		return perr(c, n, "'%s': there is no such day", key);
	if (ret)
		return perr(c, n, "'%s' must be a UTC time as in RFC 3339, e.g. "
			    "2026-12-04T18:00:00Z", key);
	return 0;
}

void lg_key_fingerprint(const uint8_t *key, size_t len, char out[LG_KEY_FP_LEN + 1])
{
	uint8_t h[32];

	SHA256(key, len, h);
	sodium_bin2hex(out, LG_KEY_FP_LEN + 1, h, LG_KEY_FP_LEN / 2);
}

void lg_policy_key_fingerprint(const struct lg_policy_key *k, char out[LG_KEY_FP_LEN + 1])
{
	uint8_t all[LG_KEY_LEN + LG_UADP_ENC_KEY_MAX + LG_UADP_KEY_NONCE_LEN];
	size_t n = LG_KEY_LEN;

	memcpy(all, k->bytes, LG_KEY_LEN);
	if (k->enc_len) {
		memcpy(all + n, k->enc, k->enc_len);
		n += k->enc_len;
		memcpy(all + n, k->key_nonce, LG_UADP_KEY_NONCE_LEN);
		n += LG_UADP_KEY_NONCE_LEN;
	}
	lg_key_fingerprint(all, n, out);
	sodium_memzero(all, sizeof(all));
}

void lg_hex_encode(const uint8_t *in, size_t len, char *out)
{
	sodium_bin2hex(out, 2 * len + 1, in, len);
}

void lg_sha256_hex(const void *buf, size_t len, char out[65])
{
	uint8_t h[SHA256_DIGEST_LENGTH];

	SHA256(buf, len, h);
	lg_hex_encode(h, sizeof(h), out);
}

/* Iterate a mapping's pairs as (key string, key node, value node). */
#define for_each_pair(c, map, pair)                                                      \
	for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                   \
	     pair < (map)->data.mapping.pairs.top; pair++)

static yaml_node_t *node(struct pctx *c, int idx)
{
	return yaml_document_get_node(c->doc, idx);
}

/* keys: [{id: N, key_file: PATH, expires: TIME}, ...] */
static int parse_keys(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	static const char *const fields[] = { "id", "key_file", "expires", NULL };

	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'keys' must be a list of {id, key_file}");
	d->nkeys = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *k = node(c, *it);
		struct lg_policy_key *key;
		bool have_id = false, have_file = false;

		if (k->type != YAML_MAPPING_NODE)
			return perr(c, k, "each key must be a mapping {id, key_file}");
		if (d->nkeys == 2)
			return perr(c, k, "at most two keys per device (the current one and the next)");
		key = &d->keys[d->nkeys];
		key->expires = 0;
		for_each_pair(c, k, p) {
			const char *name = scalar(node(c, p->key));
			yaml_node_t *v = node(c, p->value);
			char path[LG_PATH_MAX];
			unsigned long u;
			int err;

			if (name && !strcmp(name, "id")) {
				/* 0..255 for LGF's key_id; a UADP SecurityTokenId is a UInt32:
				 * parse_device() narrows it for devices without 'uadp'. */
				err = get_uint(c, v, "id", 0, 4294967295ul, &u);
				key->id = (uint32_t)u;
				have_id = true;
			} else if (name && !strcmp(name, "key_file")) {
				err = get_path(c, v, "key_file", path, sizeof(path));
				if (!err && (!scalar(v)[0] || !strcmp(scalar(v), "-")))
					err = perr(c, v, "'key_file' must name a file");
				if (!err)
					err = read_key_file(c, v, path, key);
				have_file = true;
			} else if (name && !strcmp(name, "key")) {
				/* Secrets do not belong in a file that is copied, diffed and
				 * mailed around: the key goes into a 0600 file of its own. */
				err = perr(c, node(c, p->key), "inline 'key' is not accepted: "
					   "put the 64 hex digits in a file readable by its "
					   "owner only (chmod 600) and name it with 'key_file' "
					   "(docs/policy.md, \"Key files\")");
			} else if (name && !strcmp(name, "expires")) {
				err = get_time(c, v, "expires", &key->expires);
			} else {
				err = unknown(c, node(c, p->key), "key field", fields);
			}
			if (err)
				return err;
		}
		if (!have_id || !have_file)
			return perr(c, k, "a key needs both 'id' and 'key_file'");
		if (d->nkeys == 1 && d->keys[0].id == key->id)
			return perr(c, k, "two keys with id %u", key->id);
		d->nkeys++;
	}
	if (!d->nkeys)
		return perr(c, n, "a device needs at least one key");
	return 0;
}

/* One of names[] (NULL-terminated) as its index, or an error listing them. */
static int get_choice(struct pctx *c, const yaml_node_t *n, const char *key,
		      const char *const *names, const char *list, int *out)
{
	const char *v = scalar(n);
	char buf[32];

	for (int i = 0; v && names[i]; i++)
		if (!strcmp(v, names[i])) {
			*out = i;
			return 0;
		}
	return perr(c, n, "'%s' must be %s, not %s", key, list,
		    v ? shown(v, buf, sizeof(buf)) : "a list or mapping");
}

size_t lg_policy_unprotected(const struct lg_policy *p, char *out, size_t len)
{
	size_t n = 0, u = 0;

	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < p->ndevices; i++) {
		const struct lg_policy_device *d = &p->devices[i];

		if (!d->uadp_pub_type || d->uadp_replay != LG_UADP_REPLAY_NONE)
			continue;
		if (u < len)
			u += (size_t)snprintf(out + u, len - u, "%s%s", n ? "," : "", d->name);
		n++;
	}
	return n;
}

const char *lg_policy_uadp_field(const struct lg_policy_device *d, unsigned idx)
{
	const char *s = d->uadp_fields;

	if (idx >= d->uadp_nfields)
		return NULL;
	while (idx--)
		s += strlen(s) + 1;
	return s;
}

/*
 * OPC UA built-in types (OPC 10000-6, 5.1.2) by name, with the bytes one element takes in
 * RawData (0: variable length, which the RawData decoder does not read).
 */
static const struct {
	const char *name;
	uint8_t id, size;
} uadp_types[] = {
	{ "Boolean", LG_UADP_T_BOOLEAN, 1 },	   { "SByte", LG_UADP_T_SBYTE, 1 },
	{ "Byte", LG_UADP_T_BYTE, 1 },		   { "Int16", LG_UADP_T_INT16, 2 },
	{ "UInt16", LG_UADP_T_UINT16, 2 },	   { "Int32", LG_UADP_T_INT32, 4 },
	{ "UInt32", LG_UADP_T_UINT32, 4 },	   { "Int64", LG_UADP_T_INT64, 8 },
	{ "UInt64", LG_UADP_T_UINT64, 8 },	   { "Float", LG_UADP_T_FLOAT, 4 },
	{ "Double", LG_UADP_T_DOUBLE, 8 },	   { "String", LG_UADP_T_STRING, 0 },
	{ "DateTime", LG_UADP_T_DATETIME, 8 },	   { "Guid", LG_UADP_T_GUID, 16 },
	{ "ByteString", LG_UADP_T_BYTESTRING, 0 }, { "XmlElement", LG_UADP_T_XMLELEMENT, 0 },
	{ "NodeId", LG_UADP_T_NODEID, 0 },	   { "ExpandedNodeId", LG_UADP_T_EXPANDEDNODEID, 0 },
	{ "StatusCode", LG_UADP_T_STATUSCODE, 4 }, { "QualifiedName", LG_UADP_T_QUALIFIEDNAME, 0 },
	{ "LocalizedText", LG_UADP_T_LOCALIZEDTEXT, 0 },
	{ "ExtensionObject", LG_UADP_T_EXTENSIONOBJECT, 0 },
	{ "DataValue", LG_UADP_T_DATAVALUE, 0 },   { "Variant", LG_UADP_T_VARIANT, 0 },
	{ "DiagnosticInfo", LG_UADP_T_DIAGNOSTICINFO, 0 },
};
#define NUADP_TYPES (sizeof(uadp_types) / sizeof(uadp_types[0]))

/* The largest UDP payload: a RawData DataSetMessage of more bytes cannot arrive whole. */
#define LG_UADP_RAW_MAX_BYTES 65507

/* String and ByteString: in RawData a String of MaxStringLength bytes, zero-padded. */
static bool raw_string(unsigned t)
{
	return t == LG_UADP_T_STRING || t == LG_UADP_T_BYTESTRING;
}

const char *lg_policy_uadp_type_name(unsigned t)
{
	for (size_t i = 0; i < NUADP_TYPES; i++)
		if (uadp_types[i].id == t && (uadp_types[i].size || raw_string(t)))
			return uadp_types[i].name;
	return "?";
}

int lg_policy_uadp_layout(const struct lg_policy_device *d, struct lg_uadp_layout *out)
{
	if (!d->uadp_typed || !d->uadp_nfields)
		return -ENOENT;
	out->writer_id = d->uadp_writer;
	out->nfields = d->uadp_nfields;
	out->fields = d->uadp_raw;
	return 0;
}

/* The bytes field f takes in a RawData DataSetMessage: an array has an Int32 length first. */
static size_t raw_field_bytes(const struct lg_uadp_raw_field *f)
{
	size_t size = 0;

	for (size_t i = 0; i < NUADP_TYPES; i++)
		if (uadp_types[i].id == f->type)
			size = uadp_types[i].size;
	if (raw_string(f->type))
		return 4 + (size_t)f->max_len; /* Int32 length, then MaxStringLength bytes */
	return f->max_len ? 4 + (size_t)f->max_len * size : size;
}

/*
 * {name: N, type: T, array: LEN}: a field as the publisher's DataSetMetaData describes it
 * (its FieldMetaData's BuiltInType, and ArrayDimensions [LEN] for ValueRank 1), what a
 * RawData reader needs; *name is set to the name node's value.
 */
static int parse_uadp_typed(struct pctx *c, const yaml_node_t *n, const char **name,
			    struct lg_uadp_raw_field *rf)
{
	static const char *const keys[] = { "name", "type", "array", "max_length", NULL };
	const yaml_node_t *type_node = NULL, *array_node = NULL, *maxl = NULL;
	const char *t;
	size_t i;

	*name = NULL;
	memset(rf, 0, sizeof(*rf));
	for_each_pair(c, n, pr) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		const char *ks = scalar(k);

		if (ks && !strcmp(ks, "name")) {
			*name = scalar(v);
			if (!*name || !**name)
				return perr(c, v, "'name' must be the field's name");
		} else if (ks && !strcmp(ks, "type")) {
			type_node = v;
		} else if (ks && !strcmp(ks, "array")) {
			array_node = v;
		} else if (ks && !strcmp(ks, "max_length")) {
			maxl = v;
		} else {
			return unknown(c, k, "field key", keys);
		}
	}
	if (!*name)
		return perr(c, n, "a typed field needs its 'name' ({name: accel_x, type: Float, "
			    "array: 64})");
	if (!type_node)
		return perr(c, n, "field '%s' needs its 'type', the OPC UA built-in type of its "
			    "DataSetMetaData (Float, Double, Int32, DateTime, ...)", *name);
	t = scalar(type_node);
	for (i = 0; t && i < NUADP_TYPES; i++)
		if (!strcmp(uadp_types[i].name, t))
			break;
	if (!t || i == NUADP_TYPES) {
		const char *known[NUADP_TYPES + 1] = { NULL };

		for (size_t j = 0; j < NUADP_TYPES; j++)
			known[j] = uadp_types[j].name;
		/* Operators write "float" as often as "Float": match case-blind first. */
		for (size_t j = 0; t && j < NUADP_TYPES; j++)
			if (!strcasecmp(uadp_types[j].name, t))
				return perr(c, type_node, "unknown type '%s': did you mean '%s'? (OPC "
					    "UA built-in type names are case-sensitive)", t,
					    uadp_types[j].name);
		return unknown(c, type_node, "type", known);
	}
	if (raw_string(uadp_types[i].id)) {
		unsigned long len;

		/* RawData pads a String to its MaxStringLength: the length fixes the offsets. */
		if (array_node)
			return perr(c, array_node, "field '%s': an array of %ss is not decoded in "
				    "RawData; a scalar %s with 'max_length' is", *name,
				    uadp_types[i].name, uadp_types[i].name);
		if (!maxl)
			return perr(c, type_node, "field '%s' is a %s: RawData pads it to the "
				    "MaxStringLength of its FieldMetaData; give that as 'max_length: "
				    "BYTES'", *name, uadp_types[i].name);
		if (get_uint(c, maxl, "max_length", 1, UINT16_MAX, &len))
			return -EINVAL;
		rf->type = uadp_types[i].id;
		rf->max_len = (uint16_t)len;
		return 0;
	}
	if (!uadp_types[i].size)
		return perr(c, type_node, "field '%s' is a %s: linegate decodes RawData fields of "
			    "fixed-size types and Strings only (Boolean, SByte, Byte, Int16, UInt16, "
			    "Int32, UInt32, Int64, UInt64, Float, Double, DateTime, Guid, "
			    "StatusCode; String and ByteString with 'max_length'); configure the "
			    "publisher's DataSetWriter for the Variant or DataValue field encoding "
			    "and list the field by its name alone", *name, uadp_types[i].name);
	if (maxl)
		return perr(c, maxl, "'max_length' (a String's or ByteString's MaxStringLength) "
			    "does not apply to a %s field", uadp_types[i].name);
	rf->type = uadp_types[i].id;
	if (array_node) {
		unsigned long len;

		if (array_node->type == YAML_SEQUENCE_NODE)
			return perr(c, array_node, "field '%s': a matrix (ArrayDimensions of more "
				    "than one) is not decoded in RawData; give a one-dimensional "
				    "'array: LENGTH'", *name);
		if (get_uint(c, array_node, "array", 1, UINT16_MAX, &len))
			return -EINVAL;
		rf->max_len = (uint16_t)len;
	}
	return 0;
}

/*
 * fields: [name, ...]: the DataSet's field names, in the order the publisher sends them;
 * or, for a RawData publisher, typed: [{name: accel_x, type: Float, array: 64}, ...], every
 * one of them (a RawData DataSetMessage has no types and no field count of its own).
 */
static int parse_uadp_fields(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	const yaml_node_t *plain = NULL, *typed = NULL;
	size_t used = 0, bytes = 0;
	unsigned typed_idx = 0;

	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'fields' must be a list of the DataSet's field names, in the "
			    "publisher's order");
	d->uadp_nfields = 0;
	d->uadp_typed = false;
	memset(d->uadp_raw, 0, sizeof(d->uadp_raw));
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *f = node(c, *it);
		const char *name = scalar(f);
		size_t len;
		char buf[32];

		if (d->uadp_nfields == LG_UADP_MAX_NAMED_FIELDS)
			return perr(c, f, "at most %d 'fields'", LG_UADP_MAX_NAMED_FIELDS);
		if (f->type == YAML_MAPPING_NODE) {
			if (parse_uadp_typed(c, f, &name, &d->uadp_raw[d->uadp_nfields]))
				return -EINVAL;
			if (!typed) {
				typed = f;
				typed_idx = d->uadp_nfields;
			}
			bytes += raw_field_bytes(&d->uadp_raw[d->uadp_nfields]);
		} else if (!plain) {
			plain = f;
		}
		len = name ? strlen(name) : 0;
		if (!name || !len)
			return perr(c, f, "each of 'fields' must be a field name, or a typed field "
				    "{name: N, type: T[, array: LENGTH]}");
		for (const char *q = name; *q; q++)
			if ((unsigned char)*q < 0x20 || *q == '"' || *q == '\\')
				return perr(c, f, "field name %s holds a quote, a backslash or a "
					    "control character", shown(name, buf, sizeof(buf)));
		if (used + len + 1 > sizeof(d->uadp_fields))
			return perr(c, f, "the 'fields' names add up to more than %zu bytes",
				    sizeof(d->uadp_fields) - 1);
		for (unsigned i = 0; i < d->uadp_nfields; i++)
			if (!strcmp(lg_policy_uadp_field(d, i), name))
				return perr(c, f, "field %s is named twice", shown(name, buf,
										sizeof(buf)));
		memcpy(d->uadp_fields + used, name, len + 1);
		used += len + 1;
		d->uadp_nfields++;
	}
	if (typed && plain) {
		char b1[32], b2[32];

		return perr(c, plain, "field %s has no type, and field %s has one: a RawData "
			    "publisher's 'fields' must all be typed ({name: N, type: T}, from its "
			    "DataSetMetaData); a Variant or DataValue publisher's need none",
			    shown(scalar(plain), b1, sizeof(b1)),
			    shown(lg_policy_uadp_field(d, typed_idx), b2, sizeof(b2)));
	}
	if (typed && bytes > LG_UADP_RAW_MAX_BYTES)
		return perr(c, n, "the typed 'fields' take %zu bytes in a RawData DataSetMessage, "
			    "more than one UDP datagram holds (%d): check the 'array' lengths",
			    bytes, LG_UADP_RAW_MAX_BYTES);
	d->uadp_typed = typed != NULL;
	return 0;
}

/* channels: [name, ...]: the fields that become the device's window channels. */
static int parse_uadp_channels(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'channels' must be a list of names from 'fields'");
	d->uadp_channels = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *f = node(c, *it);
		const char *name = scalar(f);
		char buf[32];
		unsigned i;

		if (!d->uadp_nfields)
			return perr(c, n, "'channels' names fields: give the DataSet's 'fields' too");
		for (i = 0; name && i < d->uadp_nfields; i++)
			if (!strcmp(lg_policy_uadp_field(d, i), name))
				break;
		if (!name || i == d->uadp_nfields)
			return perr(c, f, "channel %s is not one of 'fields'",
				    name ? shown(name, buf, sizeof(buf)) : "(not a name)");
		if (d->uadp_channels & (1u << i))
			return perr(c, f, "channel %s is named twice", shown(name, buf, sizeof(buf)));
		d->uadp_channels |= 1u << i;
	}
	if (!d->uadp_channels)
		return perr(c, n, "'channels' must name at least one field");
	if (__builtin_popcount(d->uadp_channels) > LGF_MAX_CHANNELS)
		return perr(c, n, "at most %d channels", LGF_MAX_CHANNELS);
	return 0;
}

/* uadp: {publisher_id: N|"name", publisher_type: byte|uint16|uint32|uint64|string,
 *        writer_group: N, writer: N | writer_position: N,
 *        security: sign|none|sign_and_encrypt,
 *        security_policy: PubSub-Aes128-CTR|PubSub-Aes256-CTR,
 *        replay: sequence|nonce|timestamp|none, replay_window_ms: N, fields, channels}
 * publisher_id absent: the publisher sends none and is known by the device's source address;
 * writer_group absent: it sends no WriterGroupId; writer_position instead of writer: it sends
 * no PayloadHeader, and the DataSetMessage at that (1-based) position is this device's. */
static int parse_uadp(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	static const char *const types[] = { "byte", "uint16", "uint32", "uint64", "string" };
	static const unsigned long long maxv[] = { 255, 65535, 4294967295ull, ~0ull, 0 };
	/* In the order of enum lg_uadp_security and enum lg_uadp_replay. */
	static const char *const secs[] = { "sign", "none", "sign_and_encrypt", NULL };
	static const char *const replays[] = { "auto", "sequence", "nonce", "timestamp", "none",
					       NULL };
	static const char *const policies[] = { "PubSub-Aes128-CTR", "PubSub-Aes256-CTR", NULL };
	/* In the order of enum lg_uadp_transport. */
	static const char *const transports[] = { "udp", "mqtt", "any", NULL };
	const yaml_node_t *pub = NULL, *sec_node = NULL, *signed_node = NULL, *replay_node = NULL;
	const yaml_node_t *fields_node = NULL, *channels_node = NULL;
	const yaml_node_t *ptype = NULL, *w = NULL, *wpos = NULL;
	int type = -1, pol = -1;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'uadp' must be a mapping {publisher_id, writer_group, writer "
			    "or writer_position, security, ...}");
	d->uadp_security = LG_UADP_SEC_SIGN;
	d->uadp_replay = LG_UADP_REPLAY_AUTO;
	d->uadp_replay_ms = 10000;
	d->uadp_ahead_ms = 60000;
	d->uadp_enc_len = 0;
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		const char *val = scalar(v);
		unsigned long u;
		int err = 0, i = 0;

		if (name && !strcmp(name, "publisher_id")) {
			pub = v;
		} else if (name && !strcmp(name, "publisher_type")) {
			ptype = v;
			for (int t = 0; t < 5; t++)
				if (val && !strcmp(val, types[t]))
					type = t;
			if (type < 0)
				err = perr(c, v, "'publisher_type' must be byte, uint16, uint32, uint64 "
					   "or string");
		} else if (name && !strcmp(name, "writer_group")) {
			err = get_uint(c, v, "writer_group", 1, 65535, &u);
			d->uadp_writer_group = (uint16_t)u;
		} else if (name && !strcmp(name, "writer")) {
			err = get_uint(c, v, "writer", 1, 65535, &u);
			d->uadp_writer = (uint16_t)u;
			w = v;
		} else if (name && !strcmp(name, "writer_position")) {
			err = get_uint(c, v, "writer_position", 1, 65535, &u);
			d->uadp_writer = (uint16_t)u;
			wpos = v;
		} else if (name && !strcmp(name, "security")) {
			err = get_choice(c, v, "security", secs, "sign, none or sign_and_encrypt", &i);
			d->uadp_security = (uint8_t)i;
			sec_node = v;
		} else if (name && !strcmp(name, "signed")) {
			/* The older spelling of security: sign / none. */
			if (val && !strcmp(val, "true"))
				d->uadp_security = LG_UADP_SEC_SIGN;
			else if (val && !strcmp(val, "false"))
				d->uadp_security = LG_UADP_SEC_NONE;
			else
				err = perr(c, v, "'signed' must be true or false");
			signed_node = v;
		} else if (name && !strcmp(name, "security_policy")) {
			err = get_choice(c, v, "security_policy", policies,
					 "PubSub-Aes128-CTR or PubSub-Aes256-CTR", &pol);
		} else if (name && !strcmp(name, "replay")) {
			err = get_choice(c, v, "replay", replays + 1,
					 "sequence, nonce, timestamp or none", &i);
			d->uadp_replay = (uint8_t)(i + 1);
			replay_node = v;
		} else if (name && !strcmp(name, "fields")) {
			fields_node = v;
		} else if (name && !strcmp(name, "channels")) {
			channels_node = v;
		} else if (name && !strcmp(name, "transport")) {
			err = get_choice(c, v, "transport", transports, "udp, mqtt or any", &i);
			d->uadp_transport = (uint8_t)i;
		} else if (name && !strcmp(name, "replay_window_ms")) {
			err = get_uint(c, v, "replay_window_ms", 1, 3600000, &u);
			d->uadp_replay_ms = (uint32_t)u;
		} else if (name && !strcmp(name, "clock_ahead_ms")) {
			err = get_uint(c, v, "clock_ahead_ms", 0, 86400000, &u);
			d->uadp_ahead_ms = (uint32_t)u;
		} else {
			static const char *const f[] = { "publisher_id", "publisher_type",
							 "writer_group", "writer", "writer_position",
							 "security", "security_policy", "replay",
							 "replay_window_ms", "clock_ahead_ms",
							 "fields", "channels", "signed", "transport",
							 NULL };

			err = unknown(c, node(c, pr->key), "uadp field", f);
		}
		if (err)
			return err;
	}
	if (fields_node && parse_uadp_fields(c, fields_node, d))
		return -EINVAL;
	if (channels_node && parse_uadp_channels(c, channels_node, d))
		return -EINVAL;
	if (sec_node && signed_node)
		return perr(c, signed_node, "'signed' is the older spelling of 'security': give "
			    "one of them");
	if (pol >= 0)
		d->uadp_enc_len = pol ? 32 : 16;
	if (d->uadp_replay == LG_UADP_REPLAY_AUTO)
		d->uadp_replay = d->uadp_security == LG_UADP_SEC_NONE ? LG_UADP_REPLAY_SEQUENCE
								      : LG_UADP_REPLAY_NONCE;
	else if (d->uadp_replay == LG_UADP_REPLAY_NONCE && d->uadp_security == LG_UADP_SEC_NONE)
		return perr(c, replay_node, "'replay: nonce' needs signed messages (security: sign "
			    "or sign_and_encrypt): an unsigned nonce proves nothing");
	if (w && wpos)
		return perr(c, wpos, "'uadp' takes 'writer' (the DataSetWriterId of a publisher that "
			    "sends a PayloadHeader) or 'writer_position' (one that sends none), "
			    "not both");
	if (!w && !wpos)
		return perr(c, n, "'uadp' needs 'writer' (the DataSetWriterId) or 'writer_position' "
			    "(the DataSetMessage's place, 1 = first, for a publisher without "
			    "PayloadHeader)");
	d->uadp_by_position = wpos != NULL;
	if (!pub) {
		if (ptype)
			return perr(c, ptype, "'publisher_type' without 'publisher_id': a publisher "
				    "that sends no PublisherId is known by the device's 'source'");
		/* Known by the bound source address (parse_device requires one). */
		d->uadp_pub_type = LG_ADMIT_UADP_PUBID_NONE + 1;
		return 0;
	}
	if (type < 0)
		type = 1; /* UInt16, what most publishers use (open62541's tutorial among them) */
	if (type == 4) {
		if (get_str(c, pub, "publisher_id", d->uadp_pub_str, sizeof(d->uadp_pub_str)))
			return -EINVAL;
		if (!d->uadp_pub_str[0])
			return perr(c, pub, "a string 'publisher_id' must not be empty");
	} else {
		const char *sv = scalar(pub);
		char *end;

		errno = 0;
		d->uadp_pub_num = sv ? strtoull(sv, &end, 0) : 0;
		if (!sv || !*sv || *end || errno || sv[0] == '-' || d->uadp_pub_num > maxv[type])
			return perr(c, pub, "'publisher_id' must be a whole number that fits %s%s",
				    types[type], type < 3 ? " (publisher_type: uint32 or uint64 for "
				    "a larger one, string for a name)" : "");
	}
	/* enum lg_uadp_pubid_type: Byte 0 ... String 4, kept +1 here so 0 means "no UADP". */
	d->uadp_pub_type = (uint8_t)(type + 1);
	return 0;
}

/* Key k's entry in the device's 'keys' list (parse_keys() keeps their order), where an error
 * about that key points; the device when there is none. */
static const yaml_node_t *key_entry(struct pctx *c, const yaml_node_t *dev, unsigned k)
{
	for_each_pair(c, dev, pr) {
		const char *name = scalar(node(c, pr->key));
		const yaml_node_t *v = node(c, pr->value);

		if (name && !strcmp(name, "keys") && v->type == YAML_SEQUENCE_NODE &&
		    k < (size_t)(v->data.sequence.items.top - v->data.sequence.items.start))
			return node(c, v->data.sequence.items.start[k]);
	}
	return dev;
}

/* A group key of the other security policy than the device's: what to change either way. */
static int key_policy_err(struct pctx *c, const yaml_node_t *n, const struct lg_policy_device *d,
			  const struct lg_policy_key *key)
{
	const char *kp = key->enc_len == 32 ? "PubSub-Aes256-CTR" : "PubSub-Aes128-CTR",
		   *dp = d->uadp_enc_len == 32 ? "PubSub-Aes256-CTR" : "PubSub-Aes128-CTR";

	return perr(c, n, "device %u: key %u is a %s key, the device's security policy is %s: "
		    "give key %u a %s key file (%d hex digits), or set the device's "
		    "security_policy to %s", d->id, key->id, kp, dp, key->id, dp,
		    d->uadp_enc_len == 32 ? 136 : 104, kp);
}

/*
 * The keys against what the device speaks: LGF key ids are one byte; a UADP device that
 * encrypts needs group keys (SigningKey | EncryptingKey | KeyNonce) of one security policy.
 * Each error points at the key's entry.
 */
static int check_device_keys(struct pctx *c, const yaml_node_t *dev,
			     struct lg_policy_device *d)
{
	for (unsigned k = 0; k < d->nkeys; k++) {
		const struct lg_policy_key *key = &d->keys[k];
		const yaml_node_t *n = key_entry(c, dev, k);

		if (!d->uadp_pub_type && key->id > 255)
			return perr(c, n, "device %u: key id %u is more than 255 (an LGF key_id is "
				    "one byte; only a UADP device's SecurityTokenId is wider)", d->id,
				    key->id);
		if (!d->uadp_pub_type && key->enc_len)
			return perr(c, n, "device %u: key %u's file holds a UADP group key; an LGF "
				    "device's key file holds 64 hex digits", d->id, key->id);
		/* A declared security policy holds for every group key, signing only or not:
		 * the key decides how an encrypted message is opened. */
		if (d->uadp_enc_len && key->enc_len && key->enc_len != d->uadp_enc_len)
			return key_policy_err(c, n, d, key);
		if (d->uadp_security != LG_UADP_SEC_ENCRYPT)
			continue;
		if (!key->enc_len)
			return perr(c, n, "device %u: 'security: sign_and_encrypt' needs group keys: "
				    "key %u's file holds only a signing key (SigningKey | "
				    "EncryptingKey | KeyNonce: 104 hex digits for PubSub-Aes128-CTR, "
				    "136 for PubSub-Aes256-CTR)", d->id, key->id);
		if (!d->uadp_enc_len)
			d->uadp_enc_len = key->enc_len;
		if (key->enc_len != d->uadp_enc_len)
			return key_policy_err(c, n, d, key);
	}
	return 0;
}

int lg_policy_uadp_key(const struct lg_policy_device *d, struct lg_admit_uadp_key *k)
{
	struct lg_admit_uadp_hdr h = { 0 };

	if (!d->uadp_pub_type)
		return -ENOENT;
	h.pub_type = (uint8_t)(d->uadp_pub_type - 1);
	h.writer_group_id = d->uadp_writer_group;
	h.writer = d->uadp_writer;
	h.by_position = d->uadp_by_position;
	h.pub_num = d->uadp_pub_num;
	if (h.pub_type == LG_ADMIT_UADP_PUBID_STRING) {
		h.pub_str = (const uint8_t *)d->uadp_pub_str;
		h.pub_str_len = (uint8_t)strnlen(d->uadp_pub_str, LG_ADMIT_UADP_STR_MAX);
	}
	lg_admit_uadp_key_make(&h, d->family == AF_INET ? LG_ADMIT_AF_INET : LG_ADMIT_AF_INET6,
			       d->addr, k);
	return 0;
}

/* uadp_multicast: {groups: [ADDR, ...], interface: NAME}: the groups OPC UA publishers
 * send to (open62541's examples: 224.0.0.22), joined by the UADP socket. */
/* vlans: [ID, ...], each 0..4094 once (docs/admission.md, "VLANs"). */
static int parse_vlans(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'vlans' must be a list of VLAN ids (0..4094)");
	p->nvlans = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *v = node(c, *it);
		unsigned long id;
		int err;

		if (p->nvlans == LG_POLICY_MAX_VLANS)
			return perr(c, v, "at most %d VLAN ids", LG_POLICY_MAX_VLANS);
		/* 4095 is reserved (IEEE 802.1Q): no frame carries it. */
		err = get_uint(c, v, "vlans", 0, 4094, &id);
		if (err)
			return err;
		for (unsigned i = 0; i < p->nvlans; i++)
			if (p->vlans[i] == id)
				return perr(c, v, "VLAN %lu is listed twice", id);
		p->vlans[p->nvlans++] = (uint16_t)id;
	}
	return 0;
}

static int parse_mcast(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	static const char *const f[] = { "groups", "interface", NULL };

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'uadp_multicast' must be a mapping {groups: [ADDR, ...], "
			    "interface: NAME}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err = 0;

		if (name && !strcmp(name, "groups")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'groups' must be a list of multicast addresses");
			p->nmcast = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				yaml_node_t *g = node(c, *it);
				const char *s = scalar(g);
				struct lg_mcast_group *m = &p->mcast[p->nmcast];
				char buf[32];

				if (p->nmcast == LG_POLICY_MAX_MCAST)
					return perr(c, g, "at most %d multicast groups",
						    LG_POLICY_MAX_MCAST);
				if (s && inet_pton(AF_INET, s, m->addr) == 1 && m->addr[0] >= 224 &&
				    m->addr[0] <= 239)
					m->family = AF_INET;
				else if (s && inet_pton(AF_INET6, s, m->addr) == 1 &&
					 m->addr[0] == 0xff)
					m->family = AF_INET6;
				else
					return perr(c, g, "%s is not a multicast address (IPv4 "
						    "224.0.0.0/4, IPv6 ff00::/8)",
						    s ? shown(s, buf, sizeof(buf)) : "(not a string)");
				p->nmcast++;
			}
		} else if (name && !strcmp(name, "interface")) {
			const char *s = scalar(v);

			if (!s || !*s || strlen(s) >= sizeof(p->mcast_if) || strchr(s, '/'))
				err = perr(c, v, "'interface' must be a network interface name "
					   "(at most %zu characters)", sizeof(p->mcast_if) - 1);
			else
				snprintf(p->mcast_if, sizeof(p->mcast_if), "%s", s);
		} else {
			err = unknown(c, node(c, pr->key), "uadp_multicast field", f);
		}
		if (err)
			return err;
	}
	if (!p->nmcast)
		return perr(c, n, "'uadp_multicast' needs 'groups'");
	return 0;
}

/* Bad samples: a device's 'range: [min, max]', finite, min < max, inside the hard limit. */
static int parse_range(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	float v[2];

	if (n->type != YAML_SEQUENCE_NODE ||
	    n->data.sequence.items.top - n->data.sequence.items.start != 2)
		return perr(c, n, "'range' must be a list of two numbers, [min, max]");
	for (int i = 0; i < 2; i++) {
		const yaml_node_t *e = node(c, n->data.sequence.items.start[i]);

		if (get_float(c, e, i ? "range max" : "range min", &v[i]))
			return -EINVAL;
		if (!(fabsf(v[i]) <= LG_SAMPLE_LIMIT))
			return perr(c, e, "'range' must lie within -%g and %g (larger samples "
				    "would overflow the features)", (double)LG_SAMPLE_LIMIT,
				    (double)LG_SAMPLE_LIMIT);
	}
	if (!(v[0] < v[1]))
		return perr(c, n, "'range' [min, max] needs min < max, not [%g, %g]", (double)v[0],
			    (double)v[1]);
	d->has_range = true;
	d->range_min = v[0];
	d->range_max = v[1];
	return 0;
}

/*
 * meta (issue 12, docs/policy.md "Metadata"): {line, station, asset, sensor, units,
 * tags: {KEY: VALUE, ...}} of a device or a group. A value is a string of printable
 * characters (no control characters: outputs carry it in JSON, metric labels and InfluxDB
 * tags), at most LG_META_STR_MAX - 1 bytes; a tag key is a name, not one of the record's
 * own.
 */
static int get_meta_str(struct pctx *c, const yaml_node_t *n, const char *key, char *out)
{
	const char *s = scalar(n);
	bool plain = n->type == YAML_SCALAR_NODE &&
		     n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;

	if (!s || (plain && (!strcmp(s, "~") || !strcmp(s, "null"))))
		return perr(c, n, "'%s' must be a string", key);
	if (!*s)
		return perr(c, n, "'%s' is empty: leave it out instead", key);
	if (strlen(s) >= LG_META_STR_MAX)
		return perr(c, n, "'%s' is %zu bytes long, at most %d are taken (metadata is "
			    "carried in every record)", key, strlen(s), LG_META_STR_MAX - 1);
	for (const unsigned char *q = (const unsigned char *)s; *q; q++)
		if (*q < 0x20 || *q == 0x7f)
			return perr(c, n, "'%s' holds a control character (byte %u at offset %zu): "
				    "metadata is printable text", key, *q,
				    (size_t)(q - (const unsigned char *)s));
	/* InfluxDB's line protocol cannot end a tag value with one (1.6 refuses the whole
	 * batch as "invalid tag format"; a re-check trial lost a device's points so). */
	if (s[strlen(s) - 1] == '\\')
		return perr(c, n, "'%s' ends with a backslash, which InfluxDB's line protocol "
			    "cannot carry at the end of a value: drop it or add a character", key);
	strcpy(out, s);
	return 0;
}

/* Names a record, a metric or an InfluxDB point already uses: a tag may not take them. */
static const char *const meta_reserved[] = { "line", "station", "asset", "sensor", "units",
					     "device", "name", "channel", "time", "type",
					     "event", "measurement", "field", NULL };

static int parse_meta_tags(struct pctx *c, const yaml_node_t *n, struct lg_policy_meta *m)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'tags' must be a mapping {KEY: VALUE, ...}");
	for_each_pair(c, n, pr) {
		yaml_node_t *k = node(c, pr->key);
		const char *key = scalar(k);
		struct lg_policy_tag *t;
		char buf[40];
		size_t len;

		if (m->ntags == LG_META_MAX_TAGS)
			return perr(c, k, "at most %d tags (a device's and its group's together)",
				    LG_META_MAX_TAGS);
		len = key ? strlen(key) : 0;
		/* A letter first: InfluxDB 2.x keeps names starting with '_' for itself. */
		if (!len || len >= LG_META_KEY_MAX || !isalpha((unsigned char)key[0]) ||
		    strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
			    != len)
			return perr(c, k, "tag key %s must be a name of 1 to %d letters, digits, "
				    "'_', '.' or '-', starting with a letter",
				    shown(key, buf, sizeof(buf)), LG_META_KEY_MAX - 1);
		for (const char *const *r = meta_reserved; *r; r++)
			if (!strcmp(*r, key))
				return perr(c, k, "tag key '%s' is a name records already "
					    "use: pick another (reserved: line, station, asset, "
					    "sensor, units, device, name, channel, time, type, event, "
					    "measurement, field)", key);
		for (unsigned i = 0; i < m->ntags; i++)
			if (!strcmp(m->tags[i].key, key))
				return perr(c, k, "tag '%s' is given twice", key);
		t = &m->tags[m->ntags];
		strcpy(t->key, key);
		if (get_meta_str(c, node(c, pr->value), key, t->value))
			return -EINVAL;
		m->ntags++;
	}
	return 0;
}

static int parse_meta(struct pctx *c, const yaml_node_t *n, struct lg_policy_meta *m)
{
	static const char *const f[] = { "line", "station", "asset", "sensor", "units", "tags",
					 NULL };

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'meta' must be a mapping {line, station, asset, sensor, units, "
			    "tags}");
	memset(m, 0, sizeof(*m));
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		char *out = NULL;
		int err;

		if (name && !strcmp(name, "line"))
			out = m->line;
		else if (name && !strcmp(name, "station"))
			out = m->station;
		else if (name && !strcmp(name, "asset"))
			out = m->asset;
		else if (name && !strcmp(name, "sensor"))
			out = m->sensor;
		else if (name && !strcmp(name, "units"))
			out = m->units;
		if (out)
			err = get_meta_str(c, v, name, out);
		else if (name && !strcmp(name, "tags"))
			err = parse_meta_tags(c, v, m);
		else
			err = unknown(c, node(c, pr->key), "meta field", f);
		if (err)
			return err;
	}
	return 0;
}

/* A device's meta over its group's: what the device gives wins, tags by key. */
static int meta_inherit(struct pctx *c, const yaml_node_t *at, struct lg_policy_meta *d,
			const struct lg_policy_meta *g, const char *gname)
{
	char *dst[] = { d->line, d->station, d->asset, d->sensor, d->units };
	const char *src[] = { g->line, g->station, g->asset, g->sensor, g->units };

	for (unsigned i = 0; i < 5; i++)
		if (!dst[i][0])
			strcpy(dst[i], src[i]);
	for (unsigned i = 0; i < g->ntags; i++) {
		bool own = false;

		for (unsigned j = 0; j < d->ntags; j++)
			own |= !strcmp(d->tags[j].key, g->tags[i].key);
		if (own)
			continue;
		if (d->ntags == LG_META_MAX_TAGS)
			return perr(c, at, "this device and its group %s have more than %d tags "
				    "together", gname, LG_META_MAX_TAGS);
		d->tags[d->ntags++] = g->tags[i];
	}
	return 0;
}

static int parse_device(struct pctx *c, const yaml_node_t *n, struct lg_policy_device *d)
{
	bool have_id = false, have_src = false;
	const yaml_node_t *meta = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "a device must be a mapping");
	memset(d, 0, sizeof(*d));
	for_each_pair(c, n, p) {
		const char *name = scalar(node(c, p->key));
		yaml_node_t *v = node(c, p->value);
		unsigned long u;
		int err = 0;

		if (!name) {
			err = perr(c, node(c, p->key), "device fields are named by plain strings");
		} else if (!strcmp(name, "id")) {
			err = get_uint(c, v, "id", 1, UINT32_MAX, &u);
			d->id = (uint32_t)u;
			have_id = true;
		} else if (!strcmp(name, "name")) {
			err = get_str(c, v, "name", d->name, sizeof(d->name));
			/* Names go into JSON, MQTT topics and metric labels unescaped. */
			for (const char *q = d->name; !err && *q; q++)
				if (!isalnum((unsigned char)*q) && !strchr("._-", *q))
					err = perr(c, v, "a device name may hold only letters, digits, "
						   "'.', '_' and '-'");
			/* Every reply and log hides runs of hex digits as long as a secret's
			 * (lg_redact_secrets): a name that holds one could not be shown. */
			if (!err && lg_hex_run(d->name) >= LG_SECRET_HEX_RUN)
				err = perr(c, v, "a device name may not hold %d or more hex digits "
					   "in a row (it could be a key, and is hidden wherever shown)",
					   LG_SECRET_HEX_RUN);
		} else if (!strcmp(name, "source")) {
			const char *s = scalar(v);

			if (s && inet_pton(AF_INET, s, d->addr) == 1)
				d->family = AF_INET;
			else if (s && inet_pton(AF_INET6, s, d->addr) == 1)
				d->family = AF_INET6;
			else
				err = perr(c, v, "'source' must be an IPv4 or IPv6 address");
			if (!err && !source_can_send(d->family, d->addr))
				err = perr(c, v, "'source' %s is not an address a device sends from "
					   "(unspecified, broadcast or multicast)", s);
			/* ::ffff:a.b.c.d is how a dual-stack socket names an IPv4 sender, but
			 * no frame carries it: every frame would be spoofed_source (trial K) */
			if (!err && d->family == AF_INET6 &&
			    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)d->addr)) {
				char v4[INET_ADDRSTRLEN];

				inet_ntop(AF_INET, d->addr + 12, v4, sizeof(v4));
				err = perr(c, v, "'source' %s is an IPv4 address written as IPv6: "
					   "IPv4 frames carry it as %s, so write that (as it is, "
					   "every frame would be dropped as spoofed_source)", s, v4);
			}
			have_src = true;
		} else if (!strcmp(name, "port")) {
			err = get_uint(c, v, "port", 0, 65535, &u);
			d->port = (uint16_t)u;
		} else if (!strcmp(name, "mac")) {
			const char *s = scalar(v);
			unsigned b[6];
			char tail;

			if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
					 &b[4], &b[5], &tail) != 6 || strlen(s) != 17)
				err = perr(c, v, "'mac' must look like 02:00:00:00:00:01");
			for (int i = 0; !err && i < 6; i++)
				d->mac[i] = (uint8_t)b[i];
			d->has_mac = true;
		} else if (!strcmp(name, "rate")) {
			err = get_uint(c, v, "rate", 0, 10000000, &u);
			d->rate = (uint32_t)u;
		} else if (!strcmp(name, "sample_rate")) {
			err = get_uint(c, v, "sample_rate", 1, 10000000, &u);
			d->sample_rate = (uint32_t)u;
		} else if (!strcmp(name, "score")) {
			bool b = true;

			err = get_bool(c, v, "score", &b);
			d->unscored = !b;
		} else if (!strcmp(name, "burst")) {
			err = get_uint(c, v, "burst", 1, 10000000, &u);
			d->burst = (uint32_t)u;
		} else if (!strcmp(name, "group")) {
			const char *s = scalar(v);
			char gbuf[32];

			d->group = 0;
			for (size_t g = 0; s && g < c->p->ngroups; g++)
				if (!strcmp(c->p->groups[g].name, s))
					d->group = (uint16_t)(g + 1);
			if (!d->group)
				err = perr(c, v, "group %s is not defined under 'groups'",
					   shown(s, gbuf, sizeof(gbuf)));
		} else if (!strcmp(name, "keys")) {
			err = parse_keys(c, v, d);
		} else if (!strcmp(name, "uadp")) {
			err = parse_uadp(c, v, d);
		} else if (!strcmp(name, "range")) {
			err = parse_range(c, v, d);
		} else if (!strcmp(name, "meta")) {
			err = parse_meta(c, v, &d->meta);
			meta = v;
		} else {
			static const char *const f[] = { "id", "name", "source", "port", "mac",
							 "rate", "burst", "group", "keys", "uadp",
							 "range", "sample_rate", "meta", "score",
							 NULL };

			err = unknown(c, node(c, p->key), "device field", f);
		}
		if (err)
			return err;
	}
	if (!have_id)
		return perr(c, n, "a device needs an 'id'");
	/* Over MQTT the broker is the peer: a device that speaks only there has no address. */
	if (!have_src && !(d->uadp_pub_type && d->uadp_transport == LG_UADP_TRANSPORT_MQTT))
		return perr(c, n, "device %u needs a bound 'source' address", d->id);
	if (!d->nkeys)
		return perr(c, n, "device %u needs 'keys' (every device has at least one; a UADP "
			    "device with security: none keeps it for when it signs)", d->id);
	if (check_device_keys(c, n, d))
		return -EINVAL;
	if (!d->name[0])
		snprintf(d->name, sizeof(d->name), "device-%u", d->id);
	if (d->group && meta_inherit(c, meta ? meta : n, &d->meta,
				     &c->p->groups[d->group - 1].meta,
				     c->p->groups[d->group - 1].name))
		return -EINVAL;
	if (d->rate && !d->burst)
		d->burst = d->rate / 10 > 16 ? d->rate / 10 : 16; /* 100 ms of frames, at least 16 */
	if (d->burst && !d->rate)
		return perr(c, n, "device %u has a 'burst' but no 'rate'", d->id);
	return 0;
}

static int cmp_dev(const void *a, const void *b)
{
	const struct lg_policy_device *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * detection.incidents: {confirm: K, of: N, resolve_after: M, hysteresis: H, update_ms: U}
 * (incidents). K <= N <= LG_INCIDENT_MAX_OF, 0 < H <= 1.
 */
static int parse_incidents(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	struct lg_policy_incidents *in = &p->incidents;
	const yaml_node_t *confirm = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'incidents' must be a mapping such as {confirm: 2, of: 3, "
			    "resolve_after: 10, hysteresis: 0.8}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "confirm")) {
			err = get_uint(c, v, "confirm", 1, LG_INCIDENT_MAX_OF, &u);
			in->confirm = (uint16_t)u;
			confirm = v;
		} else if (name && !strcmp(name, "of")) {
			err = get_uint(c, v, "of", 1, LG_INCIDENT_MAX_OF, &u);
			in->of = (uint16_t)u;
		} else if (name && !strcmp(name, "resolve_after")) {
			err = get_uint(c, v, "resolve_after", 1, 65535, &u);
			in->resolve_after = (uint16_t)u;
		} else if (name && !strcmp(name, "hysteresis")) {
			err = get_float(c, v, "hysteresis", &in->hysteresis);
			if (!err && !(in->hysteresis > 0 && in->hysteresis <= 1))
				err = perr(c, v, "'hysteresis' must be above 0 and at most 1 (a "
					   "window is normal when its score < threshold x "
					   "hysteresis; 1 = no hysteresis)");
		} else if (name && !strcmp(name, "update_ms")) {
			err = get_uint(c, v, "update_ms", 100, 86400000, &u);
			in->update_ms = (uint32_t)u;
		} else {
			static const char *const f[] = { "confirm", "of", "resolve_after",
							 "hysteresis", "update_ms", NULL };

			err = unknown(c, node(c, pr->key), "incidents field", f);
		}
		if (err)
			return err;
	}
	if (in->confirm > in->of)
		return perr(c, confirm ? confirm : n, "'confirm' %u is more than 'of' %u: an "
			    "incident opens when confirm of the last 'of' windows alerted, so "
			    "confirm must be at most of", in->confirm, in->of);
	return 0;
}

/* detection.drift.retrain: {record_seconds, min_windows, cooldown_seconds} (linegated) */
static int parse_retrain(struct pctx *c, const yaml_node_t *n, struct lg_policy_retrain *r)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'retrain' must be a mapping (record_seconds, min_windows, "
			    "cooldown_seconds)");
	c->retrain = n;
	r->record_seconds = 600;
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "record_seconds")) {
			err = get_uint(c, v, "record_seconds", 10, 86400, &u);
			r->record_seconds = (uint32_t)u;
		} else if (name && !strcmp(name, "min_windows")) {
			err = get_uint(c, v, "min_windows", 50, 1000000, &u);
			r->min_windows = (uint32_t)u;
		} else if (name && !strcmp(name, "cooldown_seconds")) {
			err = get_uint(c, v, "cooldown_seconds", 0, 30 * 86400, &u);
			r->cooldown_seconds = (uint32_t)u;
		} else {
			static const char *const f[] = { "record_seconds", "min_windows",
							 "cooldown_seconds", NULL };

			err = unknown(c, node(c, pr->key), "retrain field", f);
		}
		if (err)
			return err;
	}
	return 0;
}

/* detection.drift (drift monitors, dataplane/drift.c) */
static int parse_drift(struct pctx *c, const yaml_node_t *n, struct lg_policy_drift *d)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'drift' must be a mapping (psi_windows, psi_threshold, "
			    "ph_delta, ph_lambda, enabled, retrain)");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		const char *val = scalar(v);
		unsigned long u = 0;
		int err = 0;

		if (name && !strcmp(name, "enabled")) {
			if (!val || (strcmp(val, "true") && strcmp(val, "false")))
				return perr(c, v, "'enabled' must be true or false");
			d->enabled = !strcmp(val, "true");
		} else if (name && !strcmp(name, "psi_windows")) {
			err = get_uint(c, v, "psi_windows", 10, 1000000, &u);
			d->psi_windows = (uint32_t)u;
		} else if (name && !strcmp(name, "psi_threshold")) {
			err = get_float(c, v, "psi_threshold", &d->psi_threshold);
			if (!err && !(d->psi_threshold > 0 && d->psi_threshold <= 10))
				return perr(c, v, "'psi_threshold' must be above 0 and at most 10 "
					    "(0.1: a moderate shift, 0.25: a major one)");
		} else if (name && !strcmp(name, "ph_delta")) {
			err = get_float(c, v, "ph_delta", &d->ph_delta);
			if (!err && !(d->ph_delta >= 0 && d->ph_delta <= 10))
				return perr(c, v, "'ph_delta' must be from 0 to 10 (the change "
					    "of the mean of ln(score / threshold) tolerated)");
		} else if (name && !strcmp(name, "ph_lambda")) {
			err = get_float(c, v, "ph_lambda", &d->ph_lambda);
			if (!err && !(d->ph_lambda > 0 && d->ph_lambda <= 1e6))
				return perr(c, v, "'ph_lambda' must be above 0 and at most 1e6");
		} else if (name && !strcmp(name, "retrain")) {
			err = parse_retrain(c, v, &d->retrain);
		} else {
			static const char *const f[] = { "enabled", "psi_windows", "psi_threshold",
							 "ph_delta", "ph_lambda", "retrain", NULL };

			err = unknown(c, node(c, pr->key), "drift field", f);
		}
		if (err)
			return err;
	}
	return 0;
}

static int parse_detection(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'detection' must be a mapping");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "window")) {
			err = get_uint(c, v, "window", 8, 65536, &u);
			p->window = (uint32_t)u;
		} else if (name && !strcmp(name, "batch")) {
			err = get_uint(c, v, "batch", 1, 4096, &u);
			p->batch = (uint32_t)u;
		} else if (name && !strcmp(name, "deadline_ms")) {
			err = get_uint(c, v, "deadline_ms", 1, 60000, &u);
			p->deadline_ms = (uint32_t)u;
		} else if (name && !strcmp(name, "model")) {
			err = get_path(c, v, "model", p->model, sizeof(p->model));
			p->model_line = (uint32_t)node(c, pr->key)->start_mark.line + 1;
			p->model_col = (uint32_t)node(c, pr->key)->start_mark.column + 1;
		} else if (name && !strcmp(name, "threshold")) {
			err = get_float(c, v, "threshold", &p->threshold);
		} else if (name && !strcmp(name, "bad_samples")) {
			static const char *const bs[] = { "drop", "mask", NULL };
			int k = 0;

			err = get_choice(c, v, "bad_samples", bs, "drop or mask", &k);
			p->bad_samples = (uint8_t)k;
		} else if (name && !strcmp(name, "gemm")) {
			/* The indices are enum lg_model_gemm's (model.h). xsmm-bf16 runs with its
			 * guard (docs/model-engine.md "bf16 guard"); where the CPU lacks
			 * AVX512-BF16 the model load refuses it, as it refuses xsmm without
			 * libxsmm, in the deep check too (control/check.c). */
			static const char *const gm[] = { "auto", "openblas", "xsmm", "xsmm-bf16",
							  NULL };
			int k = 0;

			err = get_choice(c, v, "gemm", gm, "auto, openblas, xsmm or xsmm-bf16", &k);
			p->gemm = (uint8_t)k;
		} else if (name && !strcmp(name, "incidents")) {
			err = parse_incidents(c, v, p);
		} else if (name && !strcmp(name, "drift")) {
			err = parse_drift(c, v, &p->drift);
		} else {
			static const char *const f[] = { "window", "batch", "deadline_ms", "model",
							 "threshold", "bad_samples", "gemm", "incidents",
							 "drift", NULL };

			err = unknown(c, node(c, pr->key), "detection field", f);
		}
		if (err)
			return err;
	}
	return 0;
}

static int parse_groups(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'groups' must map group names to {audit: true|false, "
			    "meta: {...}}");
	for_each_pair(c, n, pr) {
		yaml_node_t *k = node(c, pr->key), *v = node(c, pr->value);
		struct lg_policy_group *g;
		char gbuf[32];
		int err;

		if (p->ngroups == LG_POLICY_MAX_GROUPS)
			return perr(c, k, "at most %d groups", LG_POLICY_MAX_GROUPS);
		g = &p->groups[p->ngroups];
		err = get_str(c, k, "group name", g->name, sizeof(g->name));
		if (err)
			return err;
		for (size_t i = 0; i < p->ngroups; i++)
			if (!strcmp(p->groups[i].name, g->name))
				return perr(c, k, "group %s is defined twice",
					    shown(g->name, gbuf, sizeof(gbuf)));
		if (v->type != YAML_MAPPING_NODE)
			return perr(c, v, "group %s must be a mapping such as {audit: true}",
				    shown(g->name, gbuf, sizeof(gbuf)));
		for_each_pair(c, v, gp) {
			const char *name = scalar(node(c, gp->key));
			const char *val = scalar(node(c, gp->value));

			static const char *const f[] = { "audit", "meta", NULL };

			if (name && !strcmp(name, "meta")) {
				err = parse_meta(c, node(c, gp->value), &g->meta);
				if (err)
					return err;
				continue;
			}
			if (!name || strcmp(name, "audit"))
				return unknown(c, node(c, gp->key), "group field", f);
			if (val && !strcmp(val, "true"))
				g->audit = true;
			else if (val && !strcmp(val, "false"))
				g->audit = false;
			else
				return perr(c, node(c, gp->value), "'audit' must be true or false");
		}
		p->ngroups++;
	}
	return 0;
}

/*
 * opcua_mqtt.password_file: as a key file, a regular file readable by its owner only; it
 * holds the broker password and an optional newline. Errors never quote what it holds.
 */
static int read_password_file(struct pctx *c, const yaml_node_t *n, const char *path,
			      char *out, size_t len)
{
	const char *how = shown_path(path);
	ssize_t got;
	int fd, ret = 0;

	fd = open_secret(c, n, path, "password file");
	if (fd < 0)
		return fd;
	got = read(fd, out, len);
	if (got < 0) {
		ret = perr(c, n, "password file %s: %s", how, strerror(errno));
		goto out;
	}
	if (got && out[got - 1] == '\n')
		got--;
	if ((size_t)got >= len || !got || memchr(out, '\0', (size_t)got)) {
		ret = perr(c, n, "password file %s must hold 1 to %zu bytes (no NUL) and an optional "
			   "newline", how, len - 1);
		goto out;
	}
	out[got] = '\0';
out:
	if (ret)
		sodium_memzero(out, len);
	close(fd);
	return ret;
}

/* A file the policy names for TLS: it must be a regular file we can read; a private key must
 * also be readable by its owner only, as a key file. */
static int check_tls_file(struct pctx *c, const yaml_node_t *n, const char *what,
			  const char *path, bool secret)
{
	const char *how = shown_path(path);
	struct stat st;
	int fd;

	if (secret) {
		fd = open_secret(c, n, path, what);
		if (fd < 0)
			return fd;
		close(fd);
		return 0;
	}
	if (stat(path, &st) || access(path, R_OK))
		return perr(c, n, "%s %s: %s", what, how, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return perr(c, n, "%s %s is not a regular file", what, how);
	return 0;
}

/* A broker section's tls: {ca_file, cert_file, key_file} */
static int parse_broker_tls(struct pctx *c, const yaml_node_t *n, char *ca, char *cert_path,
			    char *key_path)
{
	const yaml_node_t *cert = NULL, *key = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'tls' must be a mapping {ca_file, cert_file, key_file}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err;

		if (name && !strcmp(name, "ca_file")) {
			err = get_path(c, v, "ca_file", ca, LG_PATH_MAX);
			if (!err)
				err = check_tls_file(c, v, "CA file", ca, false);
		} else if (name && !strcmp(name, "cert_file")) {
			cert = v;
			err = get_path(c, v, "cert_file", cert_path, LG_PATH_MAX);
			if (!err)
				err = check_tls_file(c, v, "certificate file", cert_path, false);
		} else if (name && !strcmp(name, "key_file")) {
			key = v;
			err = get_path(c, v, "key_file", key_path, LG_PATH_MAX);
			if (!err)
				err = check_tls_file(c, v, "key file", key_path, true);
		} else {
			static const char *const f[] = { "ca_file", "cert_file", "key_file", NULL };

			err = unknown(c, node(c, pr->key), "tls field", f);
		}
		if (err)
			return err;
	}
	if (!ca[0])
		return perr(c, n, "'tls' needs a 'ca_file' (the CA that signs the broker's "
			    "certificate)");
	if (!cert != !key)
		return perr(c, cert ? cert : key, "'cert_file' and 'key_file' go together");
	return 0;
}

/*
 * A section naming an MQTT broker (output.mqtt, opcua_mqtt): one loop for the keys every
 * broker section has (host, port, client_id) and, where the section has room for them,
 * username, password_file and tls; the section's own keys go to own(). The caller sets the
 * defaults before.
 */
struct broker_section {
	const char *name;  /* "mqtt", "opcua_mqtt": the error texts say it */
	const char *shape; /* "{host, port, topic, ...}" */
	char *host;
	size_t host_len;
	uint16_t *port;
	char *client_id;
	size_t client_id_len;
	/* auth and TLS: NULL where the section has none (its keys are then unknown) */
	char *username;
	size_t username_len;
	char *password;
	size_t password_len;
	char *tls_ca, *tls_cert, *tls_key; /* LG_PATH_MAX each */
	/* A key of the section's own: 0 or the error, 1 when name is none of them. */
	int (*own)(struct pctx *c, const char *name, yaml_node_t *v, void *arg);
	void *arg;
	const char *const *keys; /* all of the section's keys, for an unknown one */
};

static int parse_broker(struct pctx *c, const yaml_node_t *n, const struct broker_section *b)
{
	const yaml_node_t *pw = NULL;
	bool have_host = false;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'%s' must be a mapping %s", b->name, b->shape);
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		char path[LG_PATH_MAX];
		unsigned long u;
		int err = 1;

		if (!name) {
			/* not a key of any section: said below */
		} else if (!strcmp(name, "host")) {
			err = get_str(c, v, "host", b->host, b->host_len);
			have_host = true;
		} else if (!strcmp(name, "port")) {
			err = get_uint(c, v, "port", 1, 65535, &u);
			*b->port = (uint16_t)u;
		} else if (!strcmp(name, "client_id")) {
			err = get_str(c, v, "client_id", b->client_id, b->client_id_len);
			/* libmosquitto refuses an empty client id */
			if (!err && !b->client_id[0])
				err = perr(c, v, "'client_id' must not be empty");
		} else if (b->username && !strcmp(name, "username")) {
			err = get_str(c, v, "username", b->username, b->username_len);
		} else if (b->password && !strcmp(name, "password_file")) {
			pw = v;
			err = get_path(c, v, "password_file", path, sizeof(path));
			if (!err)
				err = read_password_file(c, v, path, b->password, b->password_len);
		} else if (b->tls_ca && !strcmp(name, "tls")) {
			err = parse_broker_tls(c, v, b->tls_ca, b->tls_cert, b->tls_key);
		} else {
			err = b->own(c, name, v, b->arg);
		}
		if (err == 1) {
			char what[32];

			snprintf(what, sizeof(what), "%s field", b->name);
			err = unknown(c, node(c, pr->key), what, b->keys);
		}
		if (err)
			return err;
	}
	if (!have_host || !b->host[0])
		return perr(c, n, "'%s' needs a 'host'", b->name);
	if (pw && !b->username[0])
		return perr(c, pw, "'password_file' needs a 'username'");
	return 0;
}

/*
 * output.mqtt (issue 12): its own keys, the broker's (host, port, client_id, username,
 * password_file, tls) being parse_broker's.
 */
const char *const lg_mqtt_kind_names[LG_MQTT_KINDS] = {
	[LG_MQTT_ALERTS] = "alerts",	   [LG_MQTT_INCIDENTS] = "incidents",
	[LG_MQTT_SCORES] = "scores",	   [LG_MQTT_EVENTS] = "events",
	[LG_MQTT_STATUS] = "status",
};

struct mqtt_keys {
	struct lg_policy_mqtt *m;
	bool qos_set[LG_MQTT_KINDS]; /* incidents and events follow qos_alerts unless set */
};

/* qos_<kind> (0..2) or retain_<kind> (true, false): 0 or the error, 1 when neither. */
static int mqtt_kind_key(struct pctx *c, const char *name, yaml_node_t *v, struct mqtt_keys *k)
{
	const char *val = scalar(v);
	unsigned long u;

	for (int i = 0; i < LG_MQTT_KINDS; i++) {
		const char *kind = lg_mqtt_kind_names[i];

		if (!strncmp(name, "qos_", 4) && !strcmp(name + 4, kind)) {
			int err = get_uint(c, v, name, 0, 2, &u);

			k->m->qos[i] = (uint8_t)u;
			k->qos_set[i] = true;
			return err;
		}
		if (!strncmp(name, "retain_", 7) && !strcmp(name + 7, kind)) {
			if (!val || (strcmp(val, "true") && strcmp(val, "false")))
				return perr(c, v, "'%s' must be true or false", name);
			k->m->retain[i] = !strcmp(val, "true");
			return 0;
		}
	}
	return 1;
}

/* output.mqtt.outbox and output.nats.outbox: {dir, max_bytes} */
static int parse_outbox(struct pctx *c, const yaml_node_t *n, char *dir, size_t dirlen,
			uint64_t *max_bytes)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'outbox' must be a mapping {dir, max_bytes}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u;
		int err;

		if (name && !strcmp(name, "dir")) {
			err = get_path(c, v, "dir", dir, dirlen);
			if (!err && (!dir[0] || !strcmp(dir, "-")))
				err = perr(c, v, "'dir' must name a folder");
		} else if (name && !strcmp(name, "max_bytes")) {
			err = get_uint(c, v, "max_bytes", 65536, 1ul << 40, &u);
			*max_bytes = u;
		} else {
			static const char *const f[] = { "dir", "max_bytes", NULL };

			err = unknown(c, node(c, pr->key), "outbox field", f);
		}
		if (err)
			return err;
	}
	if (!dir[0])
		return perr(c, n, "'outbox' needs a 'dir' (the folder unacknowledged records are "
			    "kept in)");
	return 0;
}

static int mqtt_key(struct pctx *c, const char *name, yaml_node_t *v, void *arg)
{
	static const char *const protocols[] = { "5", "3.1.1", NULL };
	struct mqtt_keys *k = arg;
	struct lg_policy_mqtt *m = k->m;
	const char *val = scalar(v);
	unsigned long u;
	int err, i;

	if (!strcmp(name, "topic")) {
		err = get_str(c, v, "topic", m->topic, sizeof(m->topic));
		if (!err && (!m->topic[0] || strpbrk(m->topic, "#+")))
			err = perr(c, v, "'topic' is a prefix without wildcards (# +)");
	} else if (!strcmp(name, "scores")) {
		err = 0;
		if (val && (!strcmp(val, "true") || !strcmp(val, "false")))
			m->scores = !strcmp(val, "true");
		else
			err = perr(c, v, "'scores' must be true or false");
	} else if (!strcmp(name, "protocol")) {
		err = get_choice(c, v, "protocol", protocols, "5 or 3.1.1", &i);
		m->protocol = i ? 4 : 5;
	} else if (!strcmp(name, "device_offline_seconds")) {
		err = get_uint(c, v, "device_offline_seconds", 0, 86400, &u);
		m->device_offline_s = (uint32_t)u;
	} else if (!strcmp(name, "outbox")) {
		err = parse_outbox(c, v, m->outbox_dir, sizeof(m->outbox_dir),
				   &m->outbox_max_bytes);
	} else {
		err = mqtt_kind_key(c, name, v, k);
	}
	return err;
}

/*
 * output.jsonl: a path ("-" = stdout), or {path, max_bytes, keep}: a file rotated by size
 * (PATH.1 ... PATH.keep) before a line would take it past max_bytes.
 */
static int parse_jsonl(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	const yaml_node_t *keep_n = NULL, *max_n = NULL;

	if (n->type == YAML_SCALAR_NODE)
		return get_path(c, n, "jsonl", p->jsonl, sizeof(p->jsonl));
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'jsonl' must be a path, or a mapping {path, max_bytes, keep}");
	p->jsonl[0] = '\0';
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "path")) {
			err = get_path(c, v, "path", p->jsonl, sizeof(p->jsonl));
		} else if (name && !strcmp(name, "max_bytes")) {
			/* A line is at most about 1 KiB: a file holds a few at least. */
			err = get_uint(c, v, "max_bytes", 4096, 1ul << 40, &u);
			p->jsonl_max_bytes = u;
			max_n = v;
		} else if (name && !strcmp(name, "keep")) {
			err = get_uint(c, v, "keep", 1, 1000, &u);
			p->jsonl_keep = (unsigned)u;
			keep_n = v;
		} else {
			static const char *const f[] = { "path", "max_bytes", "keep", NULL };

			err = unknown(c, node(c, pr->key), "jsonl field", f);
		}
		if (err)
			return err;
	}
	if (!p->jsonl[0])
		return perr(c, n, "'jsonl' needs a 'path' (a file, or - for stdout)");
	if (keep_n && !max_n)
		return perr(c, keep_n, "'keep' needs 'max_bytes' (files are rotated by size)");
	if (max_n && !strcmp(p->jsonl, "-"))
		return perr(c, max_n, "'max_bytes': stdout cannot be rotated; name a file in "
			    "'path'");
	if (max_n && !keep_n)
		p->jsonl_keep = 5;
	return 0;
}

/* output.mqtt: {host, port, client_id, topic, qos_alerts, qos_scores, scores} */

/* output.mqtt: {host, port, client_id, topic, protocol, username, password_file, tls, qos_*,
 * retain_*, scores, device_offline_seconds, outbox} */
static int parse_mqtt(struct pctx *c, const yaml_node_t *n, struct lg_policy_mqtt *m)
{
	static const char *const keys[] = {
		"host", "port", "client_id", "topic", "protocol", "username", "password_file",
		"tls", "qos_alerts", "qos_incidents", "qos_scores", "qos_events", "qos_status",
		"retain_alerts", "retain_incidents", "retain_scores", "retain_events",
		"retain_status", "scores", "device_offline_seconds", "outbox", NULL
	};
	struct mqtt_keys k = { .m = m };
	const struct broker_section b = {
		.name = "mqtt", .shape = "{host, port, topic, ...}",
		.host = m->host, .host_len = sizeof(m->host), .port = &m->port,
		.client_id = m->client_id, .client_id_len = sizeof(m->client_id),
		.username = m->username, .username_len = sizeof(m->username),
		.password = m->password, .password_len = sizeof(m->password),
		.tls_ca = m->tls_ca, .tls_cert = m->tls_cert, .tls_key = m->tls_key,
		.own = mqtt_key, .arg = &k, .keys = keys,
	};
	int err;

	m->port = 1883;
	m->protocol = 5;
	m->qos[LG_MQTT_ALERTS] = 1;
	m->qos[LG_MQTT_STATUS] = 1;
	m->retain[LG_MQTT_STATUS] = true;
	m->scores = true;
	m->device_offline_s = 30;
	m->outbox_max_bytes = 256u << 20;
	strcpy(m->client_id, "linegate");
	strcpy(m->topic, "linegate");
	err = parse_broker(c, n, &b);
	/* Incidents and events went at the alerts' QoS before they had their own keys. */
	if (!k.qos_set[LG_MQTT_INCIDENTS])
		m->qos[LG_MQTT_INCIDENTS] = m->qos[LG_MQTT_ALERTS];
	if (!k.qos_set[LG_MQTT_EVENTS])
		m->qos[LG_MQTT_EVENTS] = m->qos[LG_MQTT_ALERTS];
	return err;
}

/* opcua_mqtt.topics: [filter, ...], MQTT subscription filters (wildcards allowed). */
static int parse_opcua_mqtt_topics(struct pctx *c, const yaml_node_t *n,
				   struct lg_policy_opcua_mqtt *m)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'topics' must be a list of MQTT topic filters");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *t = node(c, *it);
		char *dst;

		if (m->ntopics == LG_OPCUA_MQTT_MAX_TOPICS)
			return perr(c, t, "at most %d 'topics'", LG_OPCUA_MQTT_MAX_TOPICS);
		dst = m->topics[m->ntopics];
		if (get_str(c, t, "topics", dst, sizeof(m->topics[0])))
			return -EINVAL;
		if (!dst[0])
			return perr(c, t, "a topic filter must not be empty");
		m->ntopics++;
	}
	if (!m->ntopics)
		return perr(c, n, "'topics' must name at least one topic filter");
	return 0;
}

/* opcua_mqtt's own keys: topics, qos */
struct opcua_mqtt_keys {
	struct lg_policy_opcua_mqtt *m;
	const yaml_node_t *topics;
};

static int opcua_mqtt_key(struct pctx *c, const char *name, yaml_node_t *v, void *arg)
{
	struct opcua_mqtt_keys *k = arg;
	unsigned long u;
	int err;

	if (!strcmp(name, "topics")) {
		k->topics = v;
		return parse_opcua_mqtt_topics(c, v, k->m);
	}
	if (strcmp(name, "qos"))
		return 1;
	err = get_uint(c, v, "qos", 0, 1, &u);
	k->m->qos = (uint8_t)u;
	return err;
}

/*
 * opcua_mqtt: {host, port, topics, client_id, qos, username, password_file, tls}: OPC UA
 * PubSub NetworkMessages taken from a broker (docs/policy.md).
 */
static int parse_opcua_mqtt(struct pctx *c, const yaml_node_t *n, struct lg_policy_opcua_mqtt *m)
{
	static const char *const keys[] = { "host", "port", "topics", "client_id", "qos",
					    "username", "password_file", "tls", NULL };
	struct opcua_mqtt_keys k = { .m = m };
	const struct broker_section b = {
		.name = "opcua_mqtt", .shape = "{host, port, topics, ...}",
		.host = m->host, .host_len = sizeof(m->host), .port = &m->port,
		.client_id = m->client_id, .client_id_len = sizeof(m->client_id),
		.username = m->username, .username_len = sizeof(m->username),
		.password = m->password, .password_len = sizeof(m->password),
		.tls_ca = m->tls_ca, .tls_cert = m->tls_cert, .tls_key = m->tls_key,
		.own = opcua_mqtt_key, .arg = &k, .keys = keys,
	};
	int err;

	m->port = 1883;
	m->qos = 1;
	strcpy(m->client_id, "linegate-opcua");
	err = parse_broker(c, n, &b);
	if (!err && !k.topics)
		err = perr(c, n, "'opcua_mqtt' needs 'topics' to subscribe to");
	return err;
}

static bool check_cores = true;

void lg_policy_check_cores(bool on)
{
	check_cores = on;
}

/* backend.<name>: one typed key of a backend's section as "key=value" in p->backend.opts
 * (--backend's syntax). A value must not hold the ',' that separates options: where DPDK
 * wants one (a vdev's own arguments, an lcore list), ';' stands for it. */
static int backend_opt(struct pctx *c, const yaml_node_t *v, struct lg_policy_backend *b,
		       const char *key, const char *val)
{
	size_t u = strlen(b->opts);
	int n;

	n = snprintf(b->opts + u, sizeof(b->opts) - u, "%s%s%s%s", u ? "," : "", key,
		     val ? "=" : "", val ? val : "");
	if (n < 0 || (size_t)n >= sizeof(b->opts) - u)
		return perr(c, v, "the backend's options are longer than %zu characters in all",
			    sizeof(b->opts) - 1);
	for (char *s = b->opts + u + (u ? 1 : 0); *s; s++)
		if (*s == ',')
			*s = ';';
	return 0;
}

static int backend_bool(struct pctx *c, const yaml_node_t *v, const char *key, bool *out)
{
	const char *s = scalar(v);

	if (!s || (strcmp(s, "true") && strcmp(s, "false")))
		return perr(c, v, "'%s' must be true or false", key);
	*out = !strcmp(s, "true");
	return 0;
}

/* A whole number as an option: key=N after the range check. */
static int backend_uint(struct pctx *c, const yaml_node_t *v, struct lg_policy_backend *b,
			const char *key, const char *opt, unsigned long min, unsigned long max)
{
	unsigned long u;
	char num[24];
	int err = get_uint(c, v, key, min, max, &u);

	if (err)
		return err;
	snprintf(num, sizeof(num), "%lu", u);
	return backend_opt(c, v, b, opt, num);
}

/* A string or a list of strings, each one option 'opt' (repeatable). */
static int backend_strs(struct pctx *c, const yaml_node_t *v, struct lg_policy_backend *b,
			const char *key, const char *opt, bool list)
{
	const yaml_node_item_t *it = NULL, *top = NULL;

	if (v->type == YAML_SEQUENCE_NODE && list) {
		it = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
		if (it == top)
			return perr(c, v, "'%s' lists nothing (leave it out for none)", key);
	}
	do {
		const yaml_node_t *e = it ? node(c, *it) : v;
		const char *s = scalar(e);

		if (!s || !*s)
			return perr(c, e, "'%s' must be %s", key,
				    list ? "a string or a list of strings" : "a string");
		if (strlen(s) > 255)
			return perr(c, e, "'%s' is longer than 255 characters", key);
		if (strchr(s, ';'))
			return perr(c, e, "'%s' holds a ';', which the backend's options cannot "
				    "carry", key);
		if (backend_opt(c, e, b, opt, s))
			return -EINVAL;
	} while (it && ++it < top);
	return 0;
}

/* backend.dpdk.vdevs: the line's ports. A net_pcap vdev reading a file is a replay, which
 * belongs on the command line: there it neither reads nor writes the line's state. */
static int backend_vdevs(struct pctx *c, const yaml_node_t *v)
{
	const yaml_node_item_t *it = NULL, *top = NULL;

	if (v->type == YAML_SEQUENCE_NODE) {
		it = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	}
	for (; !it || it < top; it++) {
		const yaml_node_t *e = it ? node(c, *it) : v;
		const char *s = scalar(e);

		if (s && !strncmp(s, "net_pcap", 8) && strstr(s, "rx_pcap=") &&
		    !strstr(s, "infinite_rx=1"))
			return perr(c, e, "a net_pcap vdev reading a file is a replay, not the line: "
				    "give it on the command line (linegate --backend "
				    "dpdk:vdev=...), not in the policy");
		if (!it)
			break;
	}
	return 0;
}

/* backend.dpdk: the EAL and port (dataplane/backend/dpdk.c's options). */
static int parse_backend_dpdk(struct pctx *c, const yaml_node_t *n, struct lg_policy_backend *b)
{
	static const char *const f[] = { "port", "pci", "vdevs", "lcores", "memory_mb",
					 "hugepages", "mbufs", "rx_descriptors", "burst",
					 "checksum", "poll_sleep_us", "log_level", "eal_args",
					 NULL };

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'dpdk' must be a mapping {pci, vdevs, lcores, memory_mb, ...}");
	for_each_pair(c, n, pr) {
		const char *k = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		bool on;
		int err;

		if (!k) {
			err = unknown(c, node(c, pr->key), "backend.dpdk field", f);
		} else if (!strcmp(k, "port")) {
			err = backend_uint(c, v, b, k, "port", 0, 1023);
		} else if (!strcmp(k, "pci")) {
			err = backend_strs(c, v, b, k, "pci", true);
		} else if (!strcmp(k, "vdevs")) {
			err = backend_vdevs(c, v);
			if (!err)
				err = backend_strs(c, v, b, k, "vdev", true);
		} else if (!strcmp(k, "lcores")) {
			err = backend_strs(c, v, b, k, "lcores", false);
		} else if (!strcmp(k, "memory_mb")) {
			err = backend_uint(c, v, b, k, "mem", 64, 1ul << 20);
		} else if (!strcmp(k, "hugepages")) {
			err = backend_bool(c, v, k, &on);
			if (!err && !on)
				err = backend_opt(c, v, b, "nohuge", NULL);
		} else if (!strcmp(k, "mbufs")) {
			err = backend_uint(c, v, b, k, "mbufs", 64, 1ul << 24);
		} else if (!strcmp(k, "rx_descriptors")) {
			err = backend_uint(c, v, b, k, "rxd", 16, 32768);
		} else if (!strcmp(k, "burst")) {
			err = backend_uint(c, v, b, k, "burst", 1, 64);
		} else if (!strcmp(k, "checksum")) {
			err = backend_bool(c, v, k, &on);
			if (!err)
				err = backend_opt(c, v, b, "csum", on ? "on" : "off");
		} else if (!strcmp(k, "poll_sleep_us")) {
			err = backend_uint(c, v, b, k, "sleep", 0, 100000);
		} else if (!strcmp(k, "log_level")) {
			err = backend_uint(c, v, b, k, "log", 1, 8);
		} else if (!strcmp(k, "eal_args")) {
			char all[256] = "";

			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'eal_args' must be a list of EAL arguments");
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				const yaml_node_t *e = node(c, *it);
				const char *s = scalar(e);
				size_t u = strlen(all);

				if (!s || !*s || strpbrk(s, " \t,;"))
					return perr(c, e, "an EAL argument is one word without "
						    "spaces, ',' or ';' (--opt=value, not '--opt "
						    "value')");
				if (u + strlen(s) + 2 > sizeof(all))
					return perr(c, e, "'eal_args' are longer than %zu characters "
						    "in all", sizeof(all) - 1);
				snprintf(all + u, sizeof(all) - u, "%s%s", u ? " " : "", s);
			}
			err = all[0] ? backend_opt(c, v, b, "eal", all) : 0;
		} else {
			err = unknown(c, node(c, pr->key), "backend.dpdk field", f);
		}
		if (err)
			return err;
	}
	return 0;
}

/* backend: {name, workers, uring: {busy_poll_us}, afxdp: {frames, checksum, busy_poll_us},
 * dpdk: {...}}: only the named backend's section may be given. */
static int parse_backend(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	static const char *const f[] = { "name", "workers", "uring", "afxdp", "dpdk", NULL };
	static const char *const names[] = { "uring", "afxdp", "dpdk", NULL };
	struct lg_policy_backend *b = &p->backend;
	const yaml_node_t *section = NULL, *section_key = NULL;
	unsigned long u;
	int which = -1;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'backend' must be a mapping {name, workers, dpdk, ...}");
	b->line_no = (uint32_t)n->start_mark.line + 1;
	b->col_no = (uint32_t)n->start_mark.column + 1;
	for_each_pair(c, n, pr) {
		const char *k = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err = 0;

		if (k && !strcmp(k, "name")) {
			err = get_choice(c, v, "name", names, "uring, afxdp or dpdk (a pcap replay "
					 "is chosen on the command line: --backend pcap:...)",
					 &which);
			if (!err)
				snprintf(b->name, sizeof(b->name), "%s", names[which]);
		} else if (k && !strcmp(k, "workers")) {
			err = get_uint(c, v, "workers", 1, LG_POLICY_MAX_CORES, &u);
			b->workers = (uint16_t)u;
		} else if (k && (!strcmp(k, "uring") || !strcmp(k, "afxdp") ||
				 !strcmp(k, "dpdk"))) {
			if (section)
				return perr(c, node(c, pr->key), "'backend' has options for two "
					    "backends ('%s' and '%s'): give only the named one's",
					    scalar(section_key), k);
			section = v;
			section_key = node(c, pr->key);
		} else {
			err = unknown(c, node(c, pr->key), "backend field", f);
		}
		if (err)
			return err;
	}
	if (section && !b->name[0])
		return perr(c, section_key, "options for '%s' without 'name: %s' (the backend "
			    "they are for)", scalar(section_key), scalar(section_key));
	if (section && strcmp(scalar(section_key), b->name))
		return perr(c, section_key, "options for '%s' but 'name' is %s: give the named "
			    "backend's options", scalar(section_key), b->name);
	if (!section)
		return 0;
	if (!strcmp(b->name, "dpdk"))
		return parse_backend_dpdk(c, section, b);
	if (section->type != YAML_MAPPING_NODE)
		return perr(c, section, "'%s' must be a mapping", b->name);
	for_each_pair(c, section, pr) {
		static const char *const fu[] = { "busy_poll_us", NULL };
		static const char *const fa[] = { "busy_poll_us", "frames", "checksum", NULL };
		const char *k = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		bool afxdp = !strcmp(b->name, "afxdp"), on;
		int err;

		if (k && !strcmp(k, "busy_poll_us")) {
			err = backend_uint(c, v, b, k, "busy_poll", 0, 1000000);
		} else if (afxdp && k && !strcmp(k, "frames")) {
			err = get_uint(c, v, k, 64, 65536, &u);
			if (!err && (u & (u - 1)))
				err = perr(c, v, "'frames' is %lu, must be a power of two", u);
			if (!err)
				err = backend_uint(c, v, b, k, "frames", 64, 65536);
		} else if (afxdp && k && !strcmp(k, "checksum")) {
			err = backend_bool(c, v, k, &on);
			if (!err)
				err = backend_opt(c, v, b, "csum", on ? "on" : "off");
		} else {
			char what[32];

			snprintf(what, sizeof(what), "backend.%s field", b->name);
			err = unknown(c, node(c, pr->key), what, afxdp ? fa : fu);
		}
		if (err)
			return err;
	}
	return 0;
}

/* workers: {cores: [N, ...]} */
static int parse_workers(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'workers' must be a mapping {cores}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);

		static const char *const f[] = { "cores", NULL };

		if (!name || strcmp(name, "cores"))
			return unknown(c, node(c, pr->key), "workers field", f);
		if (v->type != YAML_SEQUENCE_NODE)
			return perr(c, v, "'cores' must be a list of CPU numbers");
		p->ncores = 0;
		cpu_set_t allowed;

		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			unsigned long u;
			int err;

			if (p->ncores == LG_POLICY_MAX_CORES)
				return perr(c, node(c, *it), "at most %d cores", LG_POLICY_MAX_CORES);
			err = get_uint(c, node(c, *it), "a core", 0, 1023, &u);
			if (err)
				return err;
			/* The same check the data plane makes when it pins: validate, apply and
			 * start give one answer. */
			if (check_cores && sched_getaffinity(0, sizeof(allowed), &allowed) == 0 &&
			    !CPU_ISSET(u, &allowed))
				return perr(c, node(c, *it), "core %lu is not one this machine lets "
					    "linegate run on (%d allowed: see taskset -cp $$ or nproc)",
					    u, CPU_COUNT(&allowed));
			p->cores[p->ncores++] = (uint16_t)u;
		}
		if (!p->ncores)
			return perr(c, v, "'cores' lists no core (leave 'workers' out for none)");
	}
	return 0;
}

/* models: {trusted_keys: [hex, ...], registry: path} */
static int parse_models(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'models' must be a mapping {trusted_keys, registry}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err = 0;

		if (name && !strcmp(name, "registry")) {
			err = get_path(c, v, "registry", p->registry, sizeof(p->registry));
		} else if (name && !strcmp(name, "trusted_keys")) {
			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'trusted_keys' must be a list of Ed25519 public keys");
			p->nmodel_keys = 0;
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				yaml_node_t *k = node(c, *it);
				const char *hex = scalar(k);

				if (p->nmodel_keys == LG_POLICY_MAX_MODEL_KEYS)
					return perr(c, k, "at most %d trusted keys",
						    LG_POLICY_MAX_MODEL_KEYS);
				if (!hex || strlen(hex) != 64)
					return perr(c, k, "a trusted key is an Ed25519 public key: 64 hex digits");
				if (hex_decode(hex, p->model_keys[p->nmodel_keys], 32))
					return perr(c, k, "a trusted key must be hex digits only");
				c->model_key[p->nmodel_keys] = k;
				p->nmodel_keys++;
			}
		} else {
			static const char *const f[] = { "trusted_keys", "registry", NULL };

			err = unknown(c, node(c, pr->key), "models field", f);
		}
		if (err)
			return err;
	}
	return 0;
}

/* A device's UADP identity with its place in the file, for finding two that are equal. */
struct uadp_ident {
	struct lg_admit_uadp_key key;
	size_t at;
};

static int cmp_ident(const void *x, const void *y)
{
	const struct uadp_ident *a = x, *b = y;
	int r = memcmp(&a->key, &b->key, sizeof(a->key));

	return r ? r : (a->at > b->at) - (a->at < b->at);
}

/*
 * No two devices with one UADP identity, whatever its kind: compared as the keys the data
 * plane looks up (lg_policy_uadp_key), sorted, so that 4096 devices cost no more than a sort.
 */
static int uadp_unique(struct pctx *c, const yaml_node_t *root, const struct lg_policy *p)
{
	struct uadp_ident *v = calloc(p->ndevices ? p->ndevices : 1, sizeof(*v));
	size_t n = 0;
	int err = 0;

	if (!v)
		return perr(c, root, "out of memory");
	for (size_t i = 0; i < p->ndevices; i++)
		if (!lg_policy_uadp_key(&p->devices[i], &v[n].key))
			v[n++].at = i;
	qsort(v, n, sizeof(*v), cmp_ident);
	for (size_t i = 1; i < n && !err; i++)
		if (!memcmp(&v[i - 1].key, &v[i].key, sizeof(v[i].key)))
			err = perr(c, root, "devices %u and %u have the same UADP identity%s",
				   p->devices[v[i - 1].at].id, p->devices[v[i].at].id,
				   v[i].key.pub_type == LG_ADMIT_UADP_PUBID_NONE
					   ? " (no publisher_id: the same source address, "
					     "writer_group and writer or writer_position; the "
					     "source port is not part of it)"
					   : "");
	free(v);
	return err;
}

struct key_ref {
	const struct lg_policy_key *key;
	size_t dev;
	unsigned k;
};

static int cmp_key_ref_bytes(const void *x, const void *y)
{
	const struct key_ref *a = x, *b = y;
	int r = memcmp(a->key->bytes, b->key->bytes, sizeof(a->key->bytes));

	return r ? r : (a->dev > b->dev) - (a->dev < b->dev);
}

int lg_policy_shared_key(const struct lg_policy *p, char *buf, size_t len)
{
	size_t cap = p->ndevices ? 2 * p->ndevices : 1, n = 0;
	struct key_ref *v = calloc(cap, sizeof(*v));
	int found = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < p->ndevices; i++)
		for (unsigned k = 0; k < p->devices[i].nkeys && k < 2; k++)
			v[n++] = (struct key_ref){ &p->devices[i].keys[k], i, k };
	qsort(v, n, sizeof(*v), cmp_key_ref_bytes);
	for (size_t i = 1; i < n && !found; i++) {
		const struct key_ref *a = &v[i - 1], *b = &v[i];
		const struct lg_policy_device *da = &p->devices[a->dev], *db = &p->devices[b->dev];

		if (a->dev == b->dev ||
		    memcmp(a->key->bytes, b->key->bytes, sizeof(a->key->bytes)) ||
		    (da->uadp_pub_type && db->uadp_pub_type))
			continue;
		found = 1;
		if (buf && len)
			snprintf(buf, len, "devices %u (%s) and %u (%s) hold one key (their keys %u "
				 "and %u): a key is one device's identity, and whoever holds it "
				 "could send as either; give each device a key of its own "
				 "(docs/policy.md, \"Key files\")",
				 da->id, da->name, db->id, db->name, da->keys[a->k].id,
				 db->keys[b->k].id);
	}
	sodium_memzero(v, cap * sizeof(*v));
	free(v);
	return found;
}

int lg_policy_trusts_demo_key(const struct lg_policy *p, char *buf, size_t len)
{
	static const char hex[] = LG_DEMO_SIGNING_PUB;
	uint8_t demo[32];

	for (size_t i = 0; i < sizeof(demo); i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		demo[i] = (uint8_t)v;
	}
	for (size_t k = 0; k < p->nmodel_keys; k++) {
		if (memcmp(p->model_keys[k], demo, sizeof(demo)))
			continue;
		if (buf && len)
			snprintf(buf, len, "models.trusted_keys holds the public demo signing key "
				 "%.8s... whose secret half is published with linegate's source "
				 "(control/defaults/demo-signing.key in its repository): anyone can sign a model or "
				 "bundle this policy accepts; make a key of your own (linegatectl "
				 "keygen), sign your models with it and trust only that one "
				 "(docs/model-registry.md)", hex);
		return 1;
	}
	return 0;
}

/* recording.devices / recording.groups: a list of names the policy defines. */
static int parse_rec_names(struct pctx *c, const yaml_node_t *n, const struct lg_policy *p,
			   bool groups, char (*out)[LG_NAME_MAX], unsigned *count)
{
	const char *what = groups ? "recording.groups" : "recording.devices";

	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'%s' must be a list of %s names", what,
			    groups ? "group" : "device");
	*count = 0;
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		yaml_node_t *v = node(c, *it);
		const char *s = scalar(v);
		char buf[32];
		size_t k = 0;

		if (*count == LG_REC_MAX_NAMES)
			return perr(c, v, "'%s' names at most %d", what, LG_REC_MAX_NAMES);
		if (!s || !*s || strlen(s) >= LG_NAME_MAX)
			return perr(c, v, "'%s' must hold names", what);
		if (groups)
			while (k < p->ngroups && strcmp(p->groups[k].name, s))
				k++;
		else
			while (k < p->ndevices && strcmp(p->devices[k].name, s))
				k++;
		if (k == (groups ? p->ngroups : p->ndevices))
			return perr(c, v, "%s: no %s named %s in this policy", what,
				    groups ? "group" : "device", shown(s, buf, sizeof(buf)));
		strcpy(out[(*count)++], s);
	}
	return 0;
}

/* recording: {enabled, dir, prefix, devices, groups, max_file_bytes, max_file_seconds,
 * max_total_bytes, min_free_bytes} (docs/recording.md) */
static int parse_recording(struct pctx *c, const yaml_node_t *n, struct lg_policy *p)
{
	struct lg_policy_recording *r = &p->recording;
	bool have_dir = false;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'recording' must be a mapping (docs/recording.md)");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u = 0;
		int err;

		if (name && !strcmp(name, "enabled")) {
			const char *s = scalar(v);

			r->enabled = s && !strcmp(s, "true");
			err = s && (r->enabled || !strcmp(s, "false")) ? 0 :
			      perr(c, v, "'enabled' must be true or false");
		} else if (name && !strcmp(name, "dir")) {
			err = get_path(c, v, "dir", r->dir, sizeof(r->dir));
			if (!err && (!r->dir[0] || !strcmp(r->dir, "-")))
				err = perr(c, v, "'dir' must name a folder");
			have_dir = true;
		} else if (name && !strcmp(name, "prefix")) {
			err = get_str(c, v, "prefix", r->prefix, sizeof(r->prefix));
			if (!err && (!r->prefix[0] || strchr(r->prefix, '/')))
				err = perr(c, v, "'prefix' must be a file name start without '/'");
		} else if (name && !strcmp(name, "devices")) {
			err = parse_rec_names(c, v, p, false, r->devices, &r->ndevices);
		} else if (name && !strcmp(name, "groups")) {
			err = parse_rec_names(c, v, p, true, r->groups, &r->ngroups);
		} else if (name && !strcmp(name, "max_file_bytes")) {
			err = get_uint(c, v, "max_file_bytes", 4096, 1ul << 40, &u);
			r->max_file_bytes = u;
		} else if (name && !strcmp(name, "max_file_seconds")) {
			err = get_uint(c, v, "max_file_seconds", 1, 7ul * 86400, &u);
			r->max_file_seconds = u;
		} else if (name && !strcmp(name, "max_total_bytes")) {
			err = get_uint(c, v, "max_total_bytes", 4096, 1ul << 50, &u);
			r->max_total_bytes = u;
		} else if (name && !strcmp(name, "min_free_bytes")) {
			err = get_uint(c, v, "min_free_bytes", 0, 1ul << 50, &u);
			r->min_free_bytes = u;
		} else {
			static const char *const f[] = { "enabled", "dir", "prefix", "devices",
							 "groups", "max_file_bytes",
							 "max_file_seconds", "max_total_bytes",
							 "min_free_bytes", NULL };

			err = unknown(c, node(c, pr->key), "recording field", f);
		}
		if (err)
			return err;
	}
	if (r->max_total_bytes < r->max_file_bytes)
		return perr(c, n, "recording: max_total_bytes (%llu) must be at least max_file_bytes "
			    "(%llu): a file is never cut to fit", (unsigned long long)r->max_total_bytes,
			    (unsigned long long)r->max_file_bytes);
	if (r->enabled && !have_dir)
		return perr(c, n, "recording: enabled needs 'dir', the folder for the files");
	return 0;
}

static int parse_nats(struct pctx *c, const yaml_node_t *n, struct lg_policy_nats *m);
static int nats_device_names(struct pctx *c, const struct lg_policy *p);

/*
 * output.influx (issue 12, docs/policy.md "InfluxDB line protocol"): {url, database |
 * bucket + org, token_file | username + password_file, measurement_prefix, decimation,
 * scores, features, batch_lines, flush_ms, max_buffer_lines, timeout_ms}. The names of
 * the features a point may carry are the data plane's (lg_feature_names, features.c; the
 * unit test holds the two lists equal): the policy library does not link the features.
 */
static const char *const influx_features[] = {
	"mean", "rms", "peak", "crest", "skewness", "kurtosis",
	"band0", "band1", "band2", "band3", "band4", "band5", "band6", "band7",
	"order1", "order2_db", "order3_db", "order4_10_db", NULL,
};
_Static_assert(sizeof(influx_features) / sizeof(influx_features[0]) == LG_FEAT_N + 1,
	       "output.influx.features lists every feature");

/* A list of feature names, or all: output.influx.features and output.nats.features. */
static int parse_feature_list(struct pctx *c, const yaml_node_t *n, uint32_t *mask)
{
	const char *s = scalar(n);

	*mask = 0;
	if (s && !strcmp(s, "all")) {
		*mask = (1u << LG_FEAT_N) - 1;
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return perr(c, n, "'features' must be a list of feature names, or all");
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *f = node(c, *it);
		const char *name = scalar(f);
		unsigned j = 0;

		while (influx_features[j] && (!name || strcmp(influx_features[j], name)))
			j++;
		if (!influx_features[j])
			return unknown(c, f, "feature", influx_features);
		if (*mask & (1u << j))
			return perr(c, f, "feature '%s' is listed twice", name);
		*mask |= 1u << j;
	}
	return 0;
}

static int get_bool(struct pctx *c, const yaml_node_t *n, const char *key, bool *out)
{
	const char *s = scalar(n);

	if (s && (!strcmp(s, "true") || !strcmp(s, "false"))) {
		*out = !strcmp(s, "true");
		return 0;
	}
	return perr(c, n, "'%s' must be true or false", key);
}

/* A query value or measurement name: printable, no '&', '#', '?' or spaces to confuse. */
static int get_influx_name(struct pctx *c, const yaml_node_t *n, const char *key, char *out,
			   size_t len)
{
	int err = get_str(c, n, key, out, len);

	if (!err && (!out[0] || strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "0123456789_.-/") != strlen(out)))
		err = perr(c, n, "'%s' must be 1 to %zu letters, digits, '_', '.', '-' or '/'",
			   key, len - 1);
	return err;
}

static int parse_influx(struct pctx *c, const yaml_node_t *n, struct lg_policy_influx *m)
{
	static const char *const f[] = { "url", "database", "bucket", "org", "token_file",
					 "username", "password_file", "measurement_prefix",
					 "decimation", "scores", "features", "batch_lines",
					 "flush_ms", "max_buffer_lines", "timeout_ms", NULL };
	const yaml_node_t *pw = NULL, *tok = NULL, *bucket = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'influx' must be a mapping {url, database, ...}");
	memset(m, 0, sizeof(*m));
	strcpy(m->prefix, "linegate");
	m->decimation = 1;
	m->scores = true;
	m->batch_lines = 1000;
	m->flush_ms = 1000;
	m->max_buffer_lines = 100000;
	m->timeout_ms = 5000;
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		char path[LG_PATH_MAX];
		unsigned long u;
		int err;

		if (!name) {
			err = unknown(c, node(c, pr->key), "influx field", f);
		} else if (!strcmp(name, "url")) {
			err = get_str(c, v, "url", m->url, sizeof(m->url));
			if (!err && strncmp(m->url, "http://", 7) && strncmp(m->url, "https://", 8))
				err = perr(c, v, "'url' must start with http:// or https:// (the "
					   "write endpoint, such as http://127.0.0.1:8086/write)");
			if (!err && (strpbrk(m->url, " \t#") || strchr(m->url, '@')))
				err = perr(c, v, "'url' holds a space, '#' or '@' (credentials "
					   "go in token_file or username and password_file)");
		} else if (!strcmp(name, "database")) {
			err = get_influx_name(c, v, "database", m->database, sizeof(m->database));
		} else if (!strcmp(name, "bucket")) {
			err = get_influx_name(c, v, "bucket", m->bucket, sizeof(m->bucket));
			bucket = v;
		} else if (!strcmp(name, "org")) {
			err = get_influx_name(c, v, "org", m->org, sizeof(m->org));
		} else if (!strcmp(name, "token_file")) {
			tok = v;
			err = get_path(c, v, "token_file", path, sizeof(path));
			if (!err)
				err = read_password_file(c, v, path, m->token, sizeof(m->token));
		} else if (!strcmp(name, "username")) {
			err = get_str(c, v, "username", m->username, sizeof(m->username));
		} else if (!strcmp(name, "password_file")) {
			pw = v;
			err = get_path(c, v, "password_file", path, sizeof(path));
			if (!err)
				err = read_password_file(c, v, path, m->password,
							 sizeof(m->password));
		} else if (!strcmp(name, "measurement_prefix")) {
			err = get_influx_name(c, v, "measurement_prefix", m->prefix,
					      sizeof(m->prefix) - 16);
		} else if (!strcmp(name, "decimation")) {
			err = get_uint(c, v, "decimation", 1, 1000000, &u);
			m->decimation = (uint32_t)u;
		} else if (!strcmp(name, "scores")) {
			err = get_bool(c, v, "scores", &m->scores);
		} else if (!strcmp(name, "features")) {
			err = parse_feature_list(c, v, &m->features);
		} else if (!strcmp(name, "batch_lines")) {
			err = get_uint(c, v, "batch_lines", 1, 100000, &u);
			m->batch_lines = (uint32_t)u;
		} else if (!strcmp(name, "flush_ms")) {
			err = get_uint(c, v, "flush_ms", 10, 600000, &u);
			m->flush_ms = (uint32_t)u;
		} else if (!strcmp(name, "max_buffer_lines")) {
			err = get_uint(c, v, "max_buffer_lines", 1, 10000000, &u);
			m->max_buffer_lines = (uint32_t)u;
		} else if (!strcmp(name, "timeout_ms")) {
			err = get_uint(c, v, "timeout_ms", 100, 60000, &u);
			m->timeout_ms = (uint32_t)u;
		} else {
			err = unknown(c, node(c, pr->key), "influx field", f);
		}
		if (err)
			return err;
	}
	if (!m->url[0])
		return perr(c, n, "'influx' needs a 'url' (the write endpoint: InfluxDB 1.x "
			    "http://HOST:8086/write, 2.x http://HOST:8086/api/v2/write)");
	if (pw && !m->username[0])
		return perr(c, pw, "'password_file' needs a 'username'");
	if (m->username[0] && !m->password[0])
		return perr(c, n, "'username' needs a 'password_file'");
	if (tok && m->username[0])
		return perr(c, tok, "give 'token_file' (InfluxDB 2.x) or 'username' and "
			    "'password_file' (1.x), not both");
	if (bucket && m->database[0])
		return perr(c, bucket, "give 'database' (InfluxDB 1.x) or 'bucket' and 'org' "
			    "(2.x), not both");
	if (m->max_buffer_lines < m->batch_lines)
		return perr(c, n, "'max_buffer_lines' (%u) must hold at least one batch "
			    "('batch_lines' %u)", m->max_buffer_lines, m->batch_lines);
	return 0;
}

static int parse_root(struct pctx *c, const yaml_node_t *root, struct lg_policy *p)
{
	bool have_version = false;

	if (!root || root->type != YAML_MAPPING_NODE)
		return perr(c, root, "the policy must be a mapping with 'version' and 'devices'");
	/* Groups first, wherever they stand in the file: devices refer to them by name. */
	for_each_pair(c, root, pr) {
		const char *name = scalar(node(c, pr->key));

		if (name && !strcmp(name, "groups")) {
			int err = parse_groups(c, node(c, pr->value), p);

			if (err)
				return err;
		}
	}
	for_each_pair(c, root, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u;
		int err = 0;

		if (!name) {
			err = perr(c, node(c, pr->key), "top-level keys are plain strings");
		} else if (!strcmp(name, "version")) {
			err = get_uint(c, v, "version", 1, 1, &u);
			have_version = true;
		} else if (!strcmp(name, "port")) {
			err = get_uint(c, v, "port", 1, 65535, &u);
			p->port = (uint16_t)u;
		} else if (!strcmp(name, "groups") || !strcmp(name, "recording")) {
			/* groups: parsed above; recording: below, once the devices are known */
		} else if (!strcmp(name, "models")) {
			err = parse_models(c, v, p);
		} else if (!strcmp(name, "workers")) {
			err = parse_workers(c, v, p);
		} else if (!strcmp(name, "backend")) {
			err = parse_backend(c, v, p);
		} else if (!strcmp(name, "uadp_port")) {
			err = get_uint(c, v, "uadp_port", 0, 65535, &u);
			p->uadp_port = (uint16_t)u;
		} else if (!strcmp(name, "uadp_multicast")) {
			err = parse_mcast(c, v, p);
		} else if (!strcmp(name, "not_ours")) {
			const char *s = scalar(v);

			if (s && !strcmp(s, "pass"))
				p->not_ours = LG_ADMIT_NOT_OURS_PASS;
			else if (s && !strcmp(s, "drop"))
				p->not_ours = LG_ADMIT_NOT_OURS_DROP;
			else
				err = perr(c, v, "'not_ours' must be pass or drop");
		} else if (!strcmp(name, "fragments")) {
			const char *s = scalar(v);

			if (s && !strcmp(s, "reassemble"))
				p->fragments = LG_ADMIT_FRAGMENTS_REASSEMBLE;
			else if (s && !strcmp(s, "drop"))
				p->fragments = LG_ADMIT_FRAGMENTS_DROP;
			else
				err = perr(c, v, "'fragments' must be drop or reassemble");
		} else if (!strcmp(name, "vlans")) {
			err = parse_vlans(c, v, p);
		} else if (!strcmp(name, "detection")) {
			err = parse_detection(c, v, p);
		} else if (!strcmp(name, "opcua_mqtt")) {
			err = parse_opcua_mqtt(c, v, &p->opcua_mqtt);
		} else if (!strcmp(name, "output")) {
			const yaml_node_t *mqtt = NULL;

			if (v->type != YAML_MAPPING_NODE)
				return perr(c, v, "'output' must be a mapping");
			for_each_pair(c, v, o) {
				static const char *const out_f[] = { "jsonl", "mqtt", "nats",
								     "influx", NULL };
				const char *on = scalar(node(c, o->key));

				if (on && !strcmp(on, "jsonl"))
					err = parse_jsonl(c, node(c, o->value), p);
				else if (on && !strcmp(on, "mqtt"))
					err = parse_mqtt(c, mqtt = node(c, o->value), &p->mqtt);
				else if (on && !strcmp(on, "nats"))
					err = parse_nats(c, node(c, o->value), &p->nats);
				else if (on && !strcmp(on, "influx"))
					err = parse_influx(c, node(c, o->value), &p->influx);
				else
					err = unknown(c, node(c, o->key), "output field", out_f);
				if (err)
					return err;
			}
			/* One outbox, one output: each keeps its own cursor (outbox.h). */
			if (mqtt && p->mqtt.outbox_dir[0] && p->nats.nurls &&
			    !strcmp(p->mqtt.outbox_dir, p->nats.outbox_dir))
				return perr(c, mqtt, "output.mqtt.outbox.dir is output.nats.outbox.dir: "
					    "give each output a folder of its own");
		} else if (!strcmp(name, "devices")) {
			size_t cnt;

			if (v->type != YAML_SEQUENCE_NODE)
				return perr(c, v, "'devices' must be a list");
			cnt = v->data.sequence.items.top - v->data.sequence.items.start;
			if (cnt > LG_POLICY_MAX_DEVICES)
				return perr(c, v, "at most %d devices", LG_POLICY_MAX_DEVICES);
			free(p->devices);
			p->devices = calloc(cnt ? cnt : 1, sizeof(*p->devices));
			if (!p->devices)
				return -ENOMEM;
			c->ndev_alloc = cnt;
			p->ndevices = 0;
			for (size_t i = 0; i < cnt; i++) {
				yaml_node_t *dn = node(c, v->data.sequence.items.start[i]);

				err = parse_device(c, dn, &p->devices[i]);
				if (err)
					return err;
				for (size_t j = 0; j < i; j++) {
					if (p->devices[j].id == p->devices[i].id)
						return perr(c, dn, "device id %u is enrolled twice",
							    p->devices[i].id);
					/* A name is a topic, a metric label and a key file's name:
					 * one device each. */
					if (!strcmp(p->devices[j].name, p->devices[i].name))
						return perr(c, dn, "devices %u and %u have the same name "
							    "'%s'", p->devices[j].id, p->devices[i].id,
							    p->devices[i].name);
				}
				p->ndevices++;
			}
		} else {
			static const char *const f[] = { "version",   "port",	   "uadp_port",
							 "not_ours",  "fragments", "vlans",
							 "groups",
							 "workers",   "detection", "models",
							 "output",    "devices",   "opcua_mqtt",
							 "uadp_multicast", "recording",
							 "backend", NULL };

			err = unknown(c, node(c, pr->key), "top-level key", f);
		}
		if (err)
			return err;
	}
	for_each_pair(c, root, pr) {
		const char *name = scalar(node(c, pr->key));

		if (name && !strcmp(name, "recording")) {
			int err = parse_recording(c, node(c, pr->value), p);

			if (err)
				return err;
		}
	}
	if (!have_version)
		return perr(c, root, "the policy needs 'version: 1'");
	for (size_t i = 0; i < p->nmodel_keys; i++)
		for (size_t j = 0; j < p->ndevices; j++)
			for (unsigned k = 0; k < p->devices[j].nkeys; k++)
				if (!memcmp(p->devices[j].keys[k].bytes, p->model_keys[i], 32))
					return perr(c, c->model_key[i], "this trusted key is the secret "
						    "key of device %u, key %u: a trusted key is a model "
						    "signer's public key (linegatectl keygen writes it to "
						    "PREFIX.pub). That device key is now in this file: "
						    "rotate it (linegatectl devices rotate-key %u)",
						    p->devices[j].id, p->devices[j].keys[k].id,
						    p->devices[j].id);
	if (c->retrain && !p->recording.dir[0])
		return perr(c, c->retrain, "'retrain' records the device whose data drifted: give "
			    "the recording folder, 'recording: {dir: FOLDER}' (docs/recording.md; "
			    "'enabled: false' records nothing until drift)");
	if (c->retrain && !p->registry[0])
		return perr(c, c->retrain, "'retrain' leaves its candidates in the model registry: "
			    "give 'models: {registry: FOLDER}' (docs/model-registry.md)");
	if (p->nmcast && !p->uadp_port)
		return perr(c, root, "'uadp_multicast' needs 'uadp_port': the groups are joined by "
			    "the UADP socket");
	if (p->uadp_port && p->uadp_port == p->port)
		return perr(c, root, "'uadp_port' and 'port' must differ");
	if (uadp_unique(c, root, p))
		return -EINVAL;
	if (nats_device_names(c, p))
		return -EINVAL;
	if (p->ndevices)
		qsort(p->devices, p->ndevices, sizeof(*p->devices), cmp_dev);
	return 0;
}

/* Relative paths in a policy are relative to the policy file's folder. */
static void policy_dir(char *dir, size_t len, const char *name)
{
	char *slash;

	snprintf(dir, len, "%s", name);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, len, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
}

static int perr_pos(struct pctx *c, size_t line, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int perr_pos(struct pctx *c, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	perr_at(c, line, col, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * output.nats (docs/fleet.md). A NATS subject token: letters, digits, '_' and '-' (no
 * space, '.', '*' or '>'); the prefix may be several tokens joined by '.'.
 */
static bool nats_token_ok(const char *s, bool dotted)
{
	size_t tok = 0;

	for (; *s; s++) {
		if (*s == '.' && dotted && tok) {
			tok = 0;
			continue;
		}
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
			return false;
		tok++;
	}
	return tok > 0;
}

static int get_nats_token(struct pctx *c, const yaml_node_t *v, const char *key, char *out,
			  size_t len, bool dotted)
{
	int err = get_str(c, v, key, out, len);

	if (!err && !nats_token_ok(out, dotted))
		err = perr(c, v, "'%s' must be %s of letters, digits, '_' and '-' (a NATS subject "
			   "token has no space, '.', '*' or '>')", key,
			   dotted ? "tokens joined by '.'," : "one token");
	return err;
}

/* output.nats.urls: a URL or a list of them, nats://HOST:PORT or tls://HOST:PORT. */
static int parse_nats_urls(struct pctx *c, const yaml_node_t *n, struct lg_policy_nats *m)
{
	const yaml_node_t *one = n;
	size_t cnt = 1;

	if (n->type == YAML_SEQUENCE_NODE) {
		cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
		if (!cnt || cnt > LG_NATS_MAX_URLS)
			return perr(c, n, "'urls' holds 1 to %d server URLs", LG_NATS_MAX_URLS);
	}
	for (size_t i = 0; i < cnt; i++) {
		char *u = m->urls[i];
		int err;

		if (n->type == YAML_SEQUENCE_NODE)
			one = node(c, n->data.sequence.items.start[i]);
		err = get_str(c, one, "urls", u, sizeof(m->urls[i]));
		if (err)
			return err;
		if ((strncmp(u, "nats://", 7) && strncmp(u, "tls://", 6)) || strpbrk(u, " \t,") ||
		    !lg_nats_url_shape_ok(u))
			return perr(c, one, "a NATS server URL is nats://HOST:PORT or "
				    "tls://HOST:PORT (one, or a list of them)");
	}
	m->nurls = (uint8_t)cnt;
	return 0;
}

/* output.nats.tls: {ca_file, cert_file, key_file} */
static int parse_nats_tls(struct pctx *c, const yaml_node_t *n, struct lg_policy_nats *m)
{
	const yaml_node_t *cert = NULL, *key = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'tls' must be a mapping {ca_file, cert_file, key_file}");
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		int err;

		if (name && !strcmp(name, "ca_file")) {
			err = get_path(c, v, "ca_file", m->tls_ca, sizeof(m->tls_ca));
			if (!err)
				err = check_tls_file(c, v, "CA file", m->tls_ca, false);
		} else if (name && !strcmp(name, "cert_file")) {
			cert = v;
			err = get_path(c, v, "cert_file", m->tls_cert, sizeof(m->tls_cert));
			if (!err)
				err = check_tls_file(c, v, "certificate file", m->tls_cert, false);
		} else if (name && !strcmp(name, "key_file")) {
			key = v;
			err = get_path(c, v, "key_file", m->tls_key, sizeof(m->tls_key));
			if (!err)
				err = check_tls_file(c, v, "key file", m->tls_key, true);
		} else {
			static const char *const f[] = { "ca_file", "cert_file", "key_file", NULL };

			err = unknown(c, node(c, pr->key), "tls field", f);
		}
		if (err)
			return err;
	}
	if (!m->tls_ca[0])
		return perr(c, n, "'tls' needs a 'ca_file' (the CA that signs the servers' "
			    "certificates)");
	if (!cert != !key)
		return perr(c, cert ? cert : key, "'cert_file' and 'key_file' go together");
	return 0;
}

/* output.nats.nkey_file: a secret file holding one NATS user seed ("SU...", nkey.h). The
 * seed is checked here and read again by the output at connect; never quoted. */
static int check_nkey_file(struct pctx *c, const yaml_node_t *n, const char *path)
{
	char buf[256], why[200], pub[LG_NKEY_PUB_LEN + 1];
	uint8_t raw[LG_NKEY_RAW_LEN];
	ssize_t got;
	int fd = open_secret(c, n, path, "nkey file"), ret = 0;

	if (fd < 0)
		return fd;
	got = read(fd, buf, sizeof(buf));
	if (got < 0)
		ret = perr(c, n, "nkey file %s: %s", shown_path(path), strerror(errno));
	else if ((size_t)got == sizeof(buf) ||
		 lg_nkey_parse_seed(buf, (size_t)got, raw, pub, why, sizeof(why)))
		ret = perr(c, n, "nkey file %s: %s", shown_path(path),
			   (size_t)got == sizeof(buf) ? "not an nkey seed (longer than one)" : why);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(raw, sizeof(raw));
	close(fd);
	return ret;
}

/* output.nats.creds_file: a secret file with a user JWT and its seed, as nsc writes it. */
static int check_creds_file(struct pctx *c, const yaml_node_t *n, const char *path)
{
	char buf[8192];
	ssize_t got;
	int fd = open_secret(c, n, path, "creds file"), ret = 0;

	if (fd < 0)
		return fd;
	got = read(fd, buf, sizeof(buf) - 1);
	if (got < 0) {
		ret = perr(c, n, "creds file %s: %s", shown_path(path), strerror(errno));
	} else {
		buf[got] = '\0';
		if (!strstr(buf, "-----BEGIN NATS USER JWT-----") ||
		    !strstr(buf, "-----BEGIN USER NKEY SEED-----"))
			ret = perr(c, n, "creds file %s is not a NATS .creds file (it needs a "
				   "'BEGIN NATS USER JWT' and a 'BEGIN USER NKEY SEED' section; for "
				   "an nkey alone use 'nkey_file')", shown_path(path));
	}
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return ret;
}

/* output.nats: {urls, subject_prefix, plant, line, outbox, score_every, features,
 * feature_every, tls, nkey_file, creds_file} */
static int parse_nats(struct pctx *c, const yaml_node_t *n, struct lg_policy_nats *m)
{
	const yaml_node_t *cred = NULL;

	if (n->type != YAML_MAPPING_NODE)
		return perr(c, n, "'nats' must be a mapping {urls, plant, line, outbox, ...}");
	memset(m, 0, sizeof(*m));
	strcpy(m->subject_prefix, "linegate");
	m->outbox_max_bytes = 256u << 20;
	m->feature_every = 1;
	m->line_no = (uint32_t)n->start_mark.line + 1;
	m->col_no = (uint32_t)n->start_mark.column + 1;
	for_each_pair(c, n, pr) {
		const char *name = scalar(node(c, pr->key));
		yaml_node_t *v = node(c, pr->value);
		unsigned long u;
		int err;

		if (name && !strcmp(name, "urls")) {
			err = parse_nats_urls(c, v, m);
		} else if (name && !strcmp(name, "subject_prefix")) {
			err = get_nats_token(c, v, "subject_prefix", m->subject_prefix,
					     sizeof(m->subject_prefix), true);
		} else if (name && !strcmp(name, "plant")) {
			err = get_nats_token(c, v, "plant", m->plant, sizeof(m->plant), false);
		} else if (name && !strcmp(name, "line")) {
			err = get_nats_token(c, v, "line", m->line, sizeof(m->line), false);
		} else if (name && !strcmp(name, "outbox")) {
			err = parse_outbox(c, v, m->outbox_dir, sizeof(m->outbox_dir),
					   &m->outbox_max_bytes);
		} else if (name && !strcmp(name, "score_every")) {
			err = get_uint(c, v, "score_every", 0, 1000000, &u);
			m->score_every = (uint32_t)u;
		} else if (name && !strcmp(name, "features")) {
			err = parse_feature_list(c, v, &m->features);
		} else if (name && !strcmp(name, "feature_every")) {
			err = get_uint(c, v, "feature_every", 1, 1000000, &u);
			m->feature_every = (uint32_t)u;
		} else if (name && !strcmp(name, "tls")) {
			err = parse_nats_tls(c, v, m);
		} else if (name && !strcmp(name, "nkey_file")) {
			err = get_path(c, v, "nkey_file", m->nkey_file, sizeof(m->nkey_file));
			if (!err)
				err = check_nkey_file(c, v, m->nkey_file);
			cred = v;
		} else if (name && !strcmp(name, "creds_file")) {
			err = get_path(c, v, "creds_file", m->creds_file, sizeof(m->creds_file));
			if (!err)
				err = check_creds_file(c, v, m->creds_file);
			cred = v;
		} else {
			static const char *const f[] = { "urls", "subject_prefix", "plant", "line",
							 "outbox", "score_every", "features",
							 "feature_every", "tls", "nkey_file",
							 "creds_file", NULL };

			err = unknown(c, node(c, pr->key), "nats field", f);
		}
		if (err)
			return err;
	}
	if (m->nkey_file[0] && m->creds_file[0])
		return perr(c, cred, "'nkey_file' and 'creds_file' are two ways to log in: give "
			    "one");
	if (!m->nurls)
		return perr(c, n, "'nats' needs 'urls' (nats://HOST:PORT, one or a list)");
	/* a tls:// URL without a CA connected in plain text (re-check trial 13): TLS is
	 * asked for, so it needs the CA to check the server by */
	for (int i = 0; i < m->nurls && !m->tls_ca[0]; i++)
		if (!strncmp(m->urls[i], "tls://", 6))
			return perr(c, n, "'nats': %s asks for TLS: give 'tls: {ca_file: FILE}' (the "
				    "CA of the servers' certificates), or use nats://", m->urls[i]);
	if (!m->plant[0] || !m->line[0])
		return perr(c, n, "'nats' needs 'plant' and 'line' (subjects are "
			    "<subject_prefix>.<plant>.<line>.<kind>.<device>)");
	if (!m->outbox_dir[0])
		return perr(c, n, "'nats' needs 'outbox: {dir: FOLDER}' (records wait there for "
			    "the server's acknowledgement)");
	return 0;
}

/* Device names are the last token of a NATS subject: no '.' when output.nats is set. */
static int nats_device_names(struct pctx *c, const struct lg_policy *p)
{
	if (!p->nats.nurls)
		return 0;
	for (size_t i = 0; i < p->ndevices; i++)
		if (strchr(p->devices[i].name, '.'))
			return perr_pos(c, p->nats.line_no, p->nats.col_no,
					"device '%s' cannot be a NATS subject token (it holds a "
					"'.'): rename it, output.nats publishes on "
					"<prefix>.<plant>.<line>.<kind>.<device>",
					p->devices[i].name);
	return 0;
}

/* What YAML 1.1 lets a file hold (libyaml refuses the rest, but at "1:1"). */
static bool yaml_printable(uint32_t cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd || (cp >= 0x20 && cp <= 0x7e) || cp == 0x85 ||
	       (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	       (cp >= 0x10000 && cp <= 0x10ffff);
}

/*
 * First pass, over the bytes: the size limit, NUL bytes, invalid UTF-8 and characters
 * YAML does not allow, each at its line and column (counted in characters, with line
 * breaks as libyaml counts them, so that both passes agree on positions).
 */
static int scan_text(struct pctx *c, const unsigned char *s, size_t len)
{
	size_t line = 1, col = 1;

	for (size_t i = 0; i < len;) {
		unsigned char b = s[i];
		uint32_t cp;
		size_t n;

		if (i >= LG_POLICY_MAX_BYTES)
			return perr_pos(c, line, col, "the policy is longer than the limit of "
					"%u bytes (16 MiB)", LG_POLICY_MAX_BYTES);
		if (b < 0x80) {
			cp = b;
			n = 1;
		} else if ((b & 0xe0) == 0xc0) {
			cp = b & 0x1f;
			n = 2;
		} else if ((b & 0xf0) == 0xe0) {
			cp = b & 0x0f;
			n = 3;
		} else if ((b & 0xf8) == 0xf0) {
			cp = b & 0x07;
			n = 4;
		} else {
			return perr_pos(c, line, col, "invalid UTF-8: byte 0x%02x cannot start a "
					"character (a policy is UTF-8 text)", b);
		}
		for (size_t k = 1; k < n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return perr_pos(c, line, col, "invalid UTF-8: the character that "
						"starts with byte 0x%02x is cut short", b);
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
			return perr_pos(c, line, col, "invalid UTF-8: an overlong encoding");
		if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return perr_pos(c, line, col, "invalid UTF-8: U+%04X is not a character",
					cp);
		if (!cp)
			return perr_pos(c, line, col, "a NUL byte: a policy is text (is this the "
					"right file?)");
		if (!yaml_printable(cp))
			return perr_pos(c, line, col, "control character U+%04X is not allowed in "
					"YAML", cp);
		i += n;
		if (cp == '\n' || (cp == '\r' && (i >= len || s[i] != '\n')) || cp == 0x85 ||
		    cp == 0x2028 || cp == 0x2029) {
			line++;
			col = 1;
		} else if (cp != '\r') {
			col++;
		}
	}
	return 0;
}

/* The event pass's state: the open mappings and lists, and what was counted. */
struct open_node {
	bool mapping;
	bool want_key;         /* mapping: the next node is a key */
	bool devices;          /* the root mapping's 'devices' list */
	bool root_key_devices; /* root mapping: the key just read was 'devices' */
	size_t count;          /* items so far (lists) */
};

struct event_pass {
	struct open_node st[LG_POLICY_MAX_DEPTH];
	size_t depth, nodes, docs;
};

static int yaml_problem(struct pctx *c, const yaml_parser_t *ps)
{
	const char *what = ps->problem ? ps->problem : "YAML syntax error";

	if (ps->error == YAML_MEMORY_ERROR) {
		snprintf(c->err, c->errlen, "%s: out of memory", c->name);
		return -ENOMEM;
	}
	return perr_mark(c, ps->problem_mark, "%s", what);
}

/* A scalar, a mapping or a list starts: count it, and open it if it is a collection. */
static int event_node(struct pctx *c, struct event_pass *e, const yaml_event_t *ev)
{
	struct open_node *up = e->depth ? &e->st[e->depth - 1] : NULL;
	bool is_key = false, scalar = ev->type == YAML_SCALAR_EVENT;
	yaml_mark_t at = ev->start_mark;

	if (++e->nodes > LG_POLICY_MAX_NODES)
		return perr_mark(c, at, "more than %u values, mappings and lists: the limit of a "
				 "policy", LG_POLICY_MAX_NODES);
	if (up && up->mapping) {
		is_key = up->want_key;
		up->want_key = !up->want_key;
	}
	if (is_key && !scalar)
		return perr_mark(c, at, "a key must be a plain string, not a mapping or a list");
	if (up && up->devices && ++up->count > LG_POLICY_MAX_DEVICES)
		return perr_mark(c, at, "device number %zu: a policy enrolls at most %d devices "
				 "(the XDP device table's capacity)", up->count,
				 LG_POLICY_MAX_DEVICES);
	if (scalar) {
		const char *v = (const char *)ev->data.scalar.value;

		if (ev->data.scalar.length > LG_POLICY_MAX_SCALAR)
			return perr_mark(c, at, "a value of %zu bytes: the limit is %u",
					 ev->data.scalar.length, LG_POLICY_MAX_SCALAR);
		if (e->depth == 1 && is_key)
			up->root_key_devices = !strcmp(v, "devices");
		return 0;
	}
	if (e->depth == LG_POLICY_MAX_DEPTH)
		return perr_mark(c, at, "mappings and lists nested deeper than %d levels",
				 LG_POLICY_MAX_DEPTH);
	/* The list that is the root mapping's 'devices' value counts devices. */
	e->st[e->depth] = (struct open_node){
		.mapping = ev->type == YAML_MAPPING_START_EVENT,
		.want_key = true,
		.devices = e->depth == 1 && up->root_key_devices &&
			   ev->type == YAML_SEQUENCE_START_EVENT,
	};
	e->depth++;
	return 0;
}

/*
 * Second pass, over libyaml's events (no tree yet): nesting, sizes, node count, aliases,
 * complex keys, a second document and too many devices, each refused where it starts.
 * Memory stays bounded by the longest scalar; libyaml's scanner never gets deeper than
 * LG_POLICY_MAX_DEPTH + its 1024-character look-ahead (it is quadratic in the nesting).
 */
static int scan_events(struct pctx *c, const char *text, size_t len)
{
	struct event_pass e = { .depth = 0 };
	yaml_parser_t ps;
	bool done = false;
	int ret = 0;

	if (!yaml_parser_initialize(&ps))
		return -ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	while (!done && !ret) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&ps, &ev)) {
			ret = yaml_problem(c, &ps);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++e.docs > 1)
				ret = perr_mark(c, ev.start_mark, "a second YAML document "
						"('---'): a policy is one document, and nothing "
						"after it may be ignored");
			break;
		case YAML_ALIAS_EVENT:
			ret = perr_mark(c, ev.start_mark, "an alias (*): a policy does not use "
					"anchors and aliases, write the value out");
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ret = event_node(c, &e, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (e.depth)
				e.depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&ps);
	return ret;
}

static int cmp_key_ref(const void *a, const void *b)
{
	const yaml_node_t *x = *(const yaml_node_t *const *)a, *y = *(const yaml_node_t *const *)b;
	int r = strcmp((const char *)x->data.scalar.value, (const char *)y->data.scalar.value);

	if (r)
		return r;
	if (x->start_mark.index != y->start_mark.index)
		return x->start_mark.index < y->start_mark.index ? -1 : 1;
	return 0;
}

/*
 * YAML keeps the last of two equal keys and says nothing: a second 'devices:' would replace
 * the first. Refused at the earliest repeat in the file, naming where the first one is.
 * Sorting each mapping's keys keeps this O(n log n) for a mapping of any size.
 */
static int check_duplicates(struct pctx *c, yaml_document_t *doc)
{
	const yaml_node_t *first = NULL, *dup = NULL;
	const yaml_node_t **keys = NULL;
	size_t cap = 0;

	for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++) {
		size_t cnt;

		if (n->type != YAML_MAPPING_NODE)
			continue;
		cnt = n->data.mapping.pairs.top - n->data.mapping.pairs.start;
		if (cnt < 2)
			continue;
		if (cnt > cap) {
			const yaml_node_t **k = realloc(keys, cnt * sizeof(*keys));

			if (!k) {
				free(keys);
				return -ENOMEM;
			}
			keys = k;
			cap = cnt;
		}
		for (size_t i = 0; i < cnt; i++)
			keys[i] = yaml_document_get_node(doc, n->data.mapping.pairs.start[i].key);
		/* Keys are scalars: the event pass refused the rest. */
		qsort(keys, cnt, sizeof(*keys), cmp_key_ref);
		for (size_t i = 1; i < cnt; i++) {
			size_t j = i - 1;

			if (strcmp((const char *)keys[i]->data.scalar.value,
				   (const char *)keys[j]->data.scalar.value))
				continue;
			while (j && !strcmp((const char *)keys[j - 1]->data.scalar.value,
					    (const char *)keys[i]->data.scalar.value))
				j--;
			if (!dup || keys[i]->start_mark.index < dup->start_mark.index) {
				dup = keys[i];
				first = keys[j];
			}
		}
	}
	free(keys);
	if (dup) {
		char buf[32];

		return perr(c, dup, "key %s is given twice in one mapping (first on line %zu): "
			    "YAML would silently keep only the last one",
			    shown((const char *)dup->data.scalar.value, buf, sizeof(buf)),
			    first->start_mark.line + 1);
	}
	return 0;
}

int lg_policy_parse(const char *text, size_t len, const char *name, struct lg_policy *out,
		    char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct lg_policy p = {
		.port = 4739, .window = 256, .batch = 16, .deadline_ms = 50, .jsonl = "-",
		.not_ours = LG_ADMIT_NOT_OURS_PASS,
		/* incidents: docs/policy.md says why these */
		.incidents = { .confirm = 2, .of = 3, .resolve_after = 10, .hysteresis = 0.8f,
			       .update_ms = 10000 },
		/* recording: off; bounds of docs/recording.md */
		.recording = { .prefix = "linegate", .max_file_bytes = 64ull << 20,
			       .max_file_seconds = 3600, .max_total_bytes = 1ull << 30,
			       .min_free_bytes = 256ull << 20 },
		.drift = { .enabled = true, .psi_windows = 1000, .psi_threshold = 0.25f,
			   .ph_delta = 0.5f, .ph_lambda = 50,
			   .retrain = { .min_windows = 200, .cooldown_seconds = 3600 } },
	};
	struct pctx c = { .doc = &doc, .p = &p, .name = name, .err = err, .errlen = errlen };
	int ret;

	if (strlen(name) >= sizeof(c.dir)) {
		snprintf(err, errlen, "%.64s...: the policy's file name is longer than %zu characters",
			 name, sizeof(c.dir) - 1);
		return -ENAMETOOLONG;
	}
	policy_dir(c.dir, sizeof(c.dir), name);
	ret = scan_text(&c, (const unsigned char *)text, len);
	if (!ret)
		ret = scan_events(&c, text, len);
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = yaml_problem(&c, &parser);
		yaml_parser_delete(&parser);
		return ret;
	}
	ret = check_duplicates(&c, &doc);
	if (!ret)
		ret = parse_root(&c, yaml_document_get_root_node(&doc), &p);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (ret) {
		if (p.devices)
			sodium_memzero(p.devices, c.ndev_alloc * sizeof(*p.devices));
		free(p.devices);
		return ret;
	}
	SHA256((const unsigned char *)text, len, p.hash);
	*out = p;
	return 0;
}

int lg_policy_load(const char *path, struct lg_policy *out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	size_t len = 0, cap = LG_POLICY_MAX_BYTES + 1;
	struct stat st;
	char *text;
	int ret;

	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return ret;
	}
	/* One byte past the limit is enough to refuse it: a huge file is never read whole. */
	if ((size_t)st.st_size < cap)
		cap = (size_t)st.st_size + 1;
	text = malloc(cap);
	if (!text) {
		close(fd);
		return -ENOMEM;
	}
	while (len < cap) {
		ssize_t r = read(fd, text + len, cap - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			goto out;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	ret = lg_policy_parse(text, len, path, out, err, errlen);
out:
	free(text);
	close(fd);
	return ret;
}

void lg_policy_free(struct lg_policy *p)
{
	if (!p)
		return;
	sodium_memzero(p->opcua_mqtt.password, sizeof(p->opcua_mqtt.password));
	sodium_memzero(p->mqtt.password, sizeof(p->mqtt.password));
	if (p->devices)
		sodium_memzero(p->devices, p->ndevices * sizeof(*p->devices));
	free(p->devices);
	p->devices = NULL;
	p->ndevices = 0;
}

const struct lg_policy_device *lg_policy_find(const struct lg_policy *p, uint32_t id)
{
	size_t lo = 0, hi = p->ndevices;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->devices[mid].id == id)
			return &p->devices[mid];
		if (p->devices[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
