// SPDX-License-Identifier: MIT
/*
 * Real publishers: every message of tests/fixtures/uadp/captures.json was captured from
 * open62541 (tests/fixtures/opcua/README.md) and decoded by gen_captures.py's independent decoder. Here the
 * C decoder must report the same values; encrypted messages are decoded in steps (header,
 * signature, decryption) and their DateTime must lie within a second of the capture's time
 * stamp, which proves the AES-CTR counter block. Re-encoding a decoded message, with its own
 * nonce for the encrypted ones, must give back the captured bytes exactly. Signed and
 * encrypted messages cut at every byte or with any bit flipped must be refused, a wrong
 * signing key must be refused by the signature, a wrong encrypting key must not crash.
 */
#include <linegate/hmac.h>

#include "vectors.h"
#include "../lgt_cli.h"

int failures;

static struct lg_uadp_msg m, m2;

struct cap {
	const char *name;
	uint8_t *buf;
	size_t len;
	struct lg_uadp_keys *k;
	uint8_t sign[32], enc[32], knonce[4];
	size_t enc_len;
	struct lg_uadp_raw_field lf[16];
	struct lg_uadp_layout lay;
	struct lg_uadp_layouts lays;
	const struct lg_uadp_layouts *layouts;
};

static void hex_into(json_object *o, const char *k, uint8_t *out, size_t cap, size_t *n)
{
	size_t len;
	uint8_t *b = jhex(o, k, &len);

	*n = len < cap ? len : cap;
	memcpy(out, b, *n);
	free(b);
}

static void check_field(const char *name, const char *what, const struct lg_uadp_field *f,
			json_object *e)
{
	json_object *raw = jget(e, "raw"), *bytes = jget(e, "bytes");
	const uint8_t *p;
	uint32_t len;
	uint64_t r;
	double d;

	CHECK(f->index == jint(e, "index"), "%s %s: index %u", name, what, f->index);
	CHECK(f->type == jint(e, "type"), "%s %s: type %u", name, what, f->type);
	CHECK(f->is_array == jint(e, "is_array"), "%s %s: is_array", name, what);
	CHECK(f->count == jint(e, "count"), "%s %s: count %u", name, what, f->count);
	CHECK(f->ndims == jint(e, "ndims"), "%s %s: ndims", name, what);
	CHECK(f->dv_mask == jint(e, "dv_mask"), "%s %s: dv_mask %#x", name, what, f->dv_mask);
	CHECK(f->status == (uint32_t)jint(e, "status"), "%s %s: status", name, what);
	CHECK(f->source_ts == (int64_t)ju64(e, "source_ts"), "%s %s: source_ts", name, what);
	for (uint32_t i = 0; raw && i < f->count && i < json_object_array_length(raw); i++) {
		uint64_t want = strtoull(json_object_get_string(json_object_array_get_idx(raw, i)),
					 NULL, 10);

		CHECK(lg_uadp_field_get_raw(f, i, &r) == 0 && r == want,
		      "%s %s[%u]: raw %#llx want %#llx", name, what, i, (unsigned long long)r,
		      (unsigned long long)want);
	}
	if (!lg_uadp_type_numeric(f->type) && f->count)
		CHECK(lg_uadp_field_get_f64(f, 0, &d) == -LG_UADP_NOT_NUMERIC,
		      "%s %s: non-numeric read as a number", name, what);
	for (uint32_t i = 0; bytes && i < f->count && i < json_object_array_length(bytes); i++) {
		const char *h = json_object_get_string(json_object_array_get_idx(bytes, i));

		CHECK(lg_uadp_field_get_bytes(f, i, &p, &len) == 0, "%s %s[%u]: bytes", name, what,
		      i);
		if (!h) {
			CHECK(!p && !len, "%s %s[%u]: want null", name, what, i);
			continue;
		}
		CHECK(len == strlen(h) / 2, "%s %s[%u]: %u bytes", name, what, i, len);
		for (uint32_t j = 0; len == strlen(h) / 2 && j < len; j++) {
			unsigned int v;

			sscanf(h + 2 * j, "%2x", &v);
			CHECK(p[j] == v, "%s %s[%u]: byte %u", name, what, i, j);
		}
	}
}

/* The clock of the publisher's DateTime field against the capture's time stamp. */
static void check_time(const char *name, const struct lg_uadp_field *f, int64_t us)
{
	uint64_t ticks;
	double unix_s;

	if (f->type != LG_UADP_T_DATETIME || f->index != 0 || lg_uadp_field_get_raw(f, 0, &ticks))
		return;
	unix_s = ((double)(int64_t)ticks - 116444736000000000.0) / 1e7;
	CHECK(unix_s - (double)us / 1e6 < 1.0 && (double)us / 1e6 - unix_s < 1.0,
	      "%s: DateTime %.6f is not within a second of the capture time %.6f", name, unix_s,
	      (double)us / 1e6);
}

static void check_view(const char *name, const struct lg_uadp_msg *v, json_object *e)
{
	json_object *dsms = jget(e, "dsms");
	char what[48];

	CHECK(v->flags == jint(e, "flags"), "%s: flags", name);
	CHECK(v->pub_num == ju64(e, "pub_num"), "%s: pub_num", name);
	CHECK(v->writer_group_id == jint(e, "writer_group_id"), "%s: writer_group_id", name);
	CHECK(v->group_seq == jint(e, "group_seq"), "%s: group_seq", name);
	CHECK(v->sec_flags == jint(e, "sec_flags"), "%s: sec_flags", name);
	CHECK(v->token_id == (uint32_t)jint(e, "token_id"), "%s: token_id", name);
	CHECK(v->payload_off == jint(e, "payload_off"), "%s: payload_off %u", name,
	      v->payload_off);
	CHECK(v->dsm_count == json_object_array_length(dsms), "%s: %u DSMs", name, v->dsm_count);
	for (unsigned int i = 0; i < v->dsm_count && i < json_object_array_length(dsms); i++) {
		const struct lg_uadp_dsm *d = &v->dsm[i];
		json_object *de = json_object_array_get_idx(dsms, i), *fs = jget(de, "fields");

		CHECK(d->position == jint(de, "position"), "%s dsm%u: position %u", name, i,
		      d->position);
		CHECK(d->writer_id == jint(de, "writer_id"), "%s dsm%u: writer_id", name, i);
		CHECK(d->flags1 == jint(de, "flags1"), "%s dsm%u: flags1", name, i);
		CHECK(d->flags2 == jint(de, "flags2"), "%s dsm%u: flags2", name, i);
		CHECK(d->seq == jint(de, "seq"), "%s dsm%u: seq", name, i);
		CHECK(d->timestamp == (int64_t)ju64(de, "timestamp"), "%s dsm%u: timestamp", name,
		      i);
		CHECK(d->field_count == json_object_array_length(fs), "%s dsm%u: %u fields", name,
		      i, d->field_count);
		for (unsigned int j = 0; j < d->field_count && j < json_object_array_length(fs);
		     j++) {
			snprintf(what, sizeof(what), "dsm%u.field%u", i, j);
			check_field(name, what, &v->fields[d->first_field + j],
				    json_object_array_get_idx(fs, j));
			check_time(name, &v->fields[d->first_field + j],
				   (int64_t)ju64(e, "time_us"));
		}
	}
}

/*
 * Decode, verify and decrypt as a receiver does; 0 when the message is taken. A receiver
 * that holds keys for the group takes signed messages only: a flipped SecurityFlags or
 * ExtendedFlags1 bit that makes a message look unsigned is a downgrade, refused.
 */
static int receive(struct cap *c, const uint8_t *buf, size_t len, uint8_t *clear)
{
	int err = lg_uadp_decode(&m2, buf, len, c->layouts);

	if (err)
		return err;
	if (c->k && !m2.sig_len)
		return -LG_UADP_NOT_SIGNED;
	if (m2.sig_len && (!c->k || (err = lg_uadp_verify_keys(&m2, c->k))))
		return err ? err : -LG_UADP_NOT_SIGNED;
	if (m2.encrypted)
		return lg_uadp_decrypt(&m2, c->k, clear, len, c->layouts);
	return 0;
}

static void hostile(struct cap *c)
{
	uint8_t *cut = NULL, *clear = malloc(c->len), *flip = malloc(c->len);
	uint8_t wrong[32];
	struct lg_uadp_keys *wk = NULL;

	if (!clear || !flip)
		goto out;
	/* Cut at every byte: a fresh allocation each time, so ASan sees any over-read. */
	for (size_t n = 0; n < c->len; n++) {
		cut = malloc(n ? n : 1);
		if (!cut)
			goto out;
		memcpy(cut, c->buf, n);
		CHECK(receive(c, cut, n, clear) != 0, "%s: cut at %zu bytes accepted", c->name, n);
		free(cut);
	}
	memcpy(flip, c->buf, c->len);
	for (size_t i = 0; i < c->len * 8; i++) {
		flip[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK(receive(c, flip, c->len, clear) != 0, "%s: bit %zu flipped accepted", c->name,
		      i);
		flip[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* A wrong signing key is refused by the signature. */
	memcpy(wrong, c->sign, 32);
	wrong[5] ^= 0x40;
	CHECK(lg_uadp_keys_new(&wk, wrong, 32, c->enc_len ? c->enc : NULL, c->enc_len,
			       c->enc_len ? c->knonce : NULL, c->enc_len ? 4 : 0) == 0,
	      "%s: keys", c->name);
	CHECK(lg_uadp_decode(&m2, c->buf, c->len, c->layouts) == 0 &&
		      lg_uadp_verify_keys(&m2, wk) == -LG_UADP_BAD_SIGNATURE,
	      "%s: wrong signing key accepted", c->name);
	lg_uadp_keys_free(wk);
	wk = NULL;
	/* The right signing key and a wrong encrypting key: garbage in clear, never a crash. */
	if (c->enc_len) {
		memcpy(wrong, c->enc, c->enc_len);
		wrong[0] ^= 1;
		CHECK(lg_uadp_keys_new(&wk, c->sign, 32, wrong, c->enc_len, c->knonce, 4) == 0,
		      "%s: keys", c->name);
		CHECK(lg_uadp_decode(&m2, c->buf, c->len, c->layouts) == 0 &&
			      lg_uadp_verify_keys(&m2, wk) == 0,
		      "%s: signature with the right signing key", c->name);
		(void)lg_uadp_decrypt(&m2, wk, clear, c->len, c->layouts);
		lg_uadp_keys_free(wk);
	}
out:
	free(clear);
	free(flip);
}

static void one(json_object *e, int do_hostile)
{
	struct cap c = { .name = json_object_get_string(jget(e, "name")) };
	json_object *keys = jget(e, "keys"), *lay = jget(e, "layout");
	uint8_t *clear, *out;
	size_t n;
	int len, err;

	c.buf = jhex(e, "hex", &c.len);
	clear = malloc(c.len);
	out = malloc(c.len + 64);
	if (!c.buf || !clear || !out)
		goto out;
	if (lay) {
		for (size_t i = 0; i < json_object_array_length(lay) && i < 16; i++) {
			json_object *f = json_object_array_get_idx(lay, i);

			c.lf[i] = (struct lg_uadp_raw_field){
				.type = (uint8_t)jint(f, "type"),
				.max_len = (uint16_t)jint(f, "max_len"),
			};
		}
		c.lay = (struct lg_uadp_layout){ .writer_id = 17,
						 .nfields = (uint16_t)json_object_array_length(lay),
						 .fields = c.lf };
		c.lays = (struct lg_uadp_layouts){ .v = &c.lay, .n = 1 };
		c.layouts = &c.lays;
	}
	if (keys) {
		hex_into(keys, "sign", c.sign, 32, &n);
		hex_into(keys, "enc", c.enc, 32, &c.enc_len);
		hex_into(keys, "nonce", c.knonce, 4, &n);
		err = lg_uadp_keys_new(&c.k, c.sign, 32, c.enc, c.enc_len, c.knonce, 4);
		CHECK(!err, "%s: keys_new %s", c.name, lg_uadp_strerror(err));
	}

	err = lg_uadp_decode(&m, c.buf, c.len, c.layouts);
	CHECK(err == 0, "%s: decode %s", c.name, lg_uadp_strerror(err));
	if (err)
		goto out;
	if (m.sec_flags & LG_UADP_S_SIGNED)
		CHECK(c.k && lg_uadp_verify_keys(&m, c.k) == 0, "%s: signature", c.name);
	if (m.sec_flags & LG_UADP_S_ENCRYPTED) {
		struct lg_admit_uadp_key dk;

		CHECK(m.encrypted && !m.decrypted && m.dsm_count == 0 && m.nfields == 0,
		      "%s: encrypted view", c.name);
		CHECK(lg_uadp_device_key(&m, 0, &dk) == 0 && dk.writer_id == m.dsm[0].writer_id,
		      "%s: device key before decryption", c.name);
		CHECK(lg_uadp_decrypt(&m, NULL, clear, c.len, c.layouts) ==
			      -LG_UADP_ENCRYPTED_NO_KEY,
		      "%s: decrypt without key", c.name);
		CHECK(lg_uadp_decrypt(&m, c.k, clear, c.len - 1, c.layouts) == -LG_UADP_BAD_ARG,
		      "%s: decrypt into a short buffer", c.name);
		err = lg_uadp_decrypt(&m, c.k, clear, c.len, c.layouts);
		CHECK(err == 0 && m.buf == clear && m.decrypted, "%s: decrypt %s", c.name,
		      lg_uadp_strerror(err));
		if (err)
			goto out;
	}
	check_view(c.name, &m, e);

	/* Parity with open62541 on the wire: the same bytes, signature and all. */
	if (c.k)
		len = lg_uadp_encode_keys(&m, c.layouts, c.k, out, c.len + 64);
	else
		len = lg_uadp_encode(&m, c.layouts, NULL, 0, out, c.len + 64);
	CHECK(len == (int)c.len && !memcmp(out, c.buf, c.len),
	      "%s: re-encoding differs from the capture (%d vs %zu bytes)", c.name, len, c.len);

	if (do_hostile && (m.sec_flags & LG_UADP_S_SIGNED))
		hostile(&c);
out:
	lg_uadp_keys_free(c.k);
	free(c.buf);
	free(clear);
	free(out);
}

/* Refusals that need a real encrypted message to start from. */
static void refusals(json_object *e)
{
	json_object *keys = jget(e, "keys");
	struct lg_uadp_keys *k = NULL, *sign_only = NULL;
	uint8_t sign[32], enc[32], kn[4], *buf, *clear, *shortn;
	size_t len, n, enc_len;

	buf = jhex(e, "hex", &len);
	clear = malloc(len);
	shortn = malloc(len);
	hex_into(keys, "sign", sign, 32, &n);
	hex_into(keys, "enc", enc, 32, &enc_len);
	hex_into(keys, "nonce", kn, 4, &n);
	CHECK(lg_uadp_keys_new(&k, sign, 32, enc, 24, kn, 4) == -LG_UADP_BAD_POLICY && !k,
	      "24-byte encrypting key accepted");
	CHECK(lg_uadp_keys_new(&k, sign, 16, enc, enc_len, kn, 4) == -LG_UADP_BAD_POLICY,
	      "16-byte signing key accepted");
	CHECK(lg_uadp_keys_new(&k, sign, 32, enc, enc_len, kn, 8) == -LG_UADP_BAD_POLICY,
	      "8-byte KeyNonce accepted");
	CHECK(lg_uadp_keys_new(&sign_only, sign, 32, NULL, 0, NULL, 0) == 0, "signing-only keys");
	CHECK(lg_uadp_keys_new(&k, sign, 32, enc, enc_len, kn, 4) == 0, "keys");
	CHECK(lg_uadp_decode(&m, buf, len, NULL) == 0 &&
		      lg_uadp_decrypt(&m, sign_only, clear, len, NULL) == -LG_UADP_BAD_POLICY,
	      "decrypt with signing-only keys");
	/* The same message with a 4-byte MessageNonce (as open62541 < 1.4 sent): bad_nonce. */
	n = (size_t)jint(e, "payload_off") - 9; /* NonceLength byte */
	if (buf[n] == 8) {
		memcpy(shortn, buf, n);
		shortn[n] = 4;
		memcpy(shortn + n + 1, buf + n + 1, 4);
		memcpy(shortn + n + 5, buf + n + 9, len - n - 9);
		CHECK(lg_uadp_decode(&m, shortn, len - 4, NULL) == 0 &&
			      lg_uadp_decrypt(&m, k, clear, len, NULL) == -LG_UADP_BAD_NONCE,
		      "4-byte MessageNonce decrypted");
	} else {
		CHECK(0, "NonceLength not where expected");
	}
	/* In place, in a writable buffer: the same clear bytes as into a copy. */
	memcpy(shortn, buf, len);
	CHECK(lg_uadp_decode(&m, buf, len, NULL) == 0 &&
		      lg_uadp_decrypt(&m, k, clear, len, NULL) == 0 &&
		      lg_uadp_decode(&m2, shortn, len, NULL) == 0 &&
		      lg_uadp_verify_keys(&m2, k) == 0 &&
		      lg_uadp_decrypt(&m2, k, shortn, len, NULL) == 0 && m2.buf == shortn &&
		      m2.dsm_count == 1 && !memcmp(clear, shortn, len),
	      "decrypt in place");
	/* Encrypted but not signed: refused by the decoder. */
	memcpy(shortn, buf, len);
	shortn[n - 5] = LG_UADP_S_ENCRYPTED;
	CHECK(lg_uadp_decode(&m, shortn, len - 32, NULL) == -LG_UADP_NOT_SIGNED,
	      "encrypted unsigned accepted");
	CHECK(lg_uadp_drop_reason(-LG_UADP_ENCRYPTED_NO_KEY) == LG_DROP_UADP_ENCRYPTED_NO_KEY &&
		      lg_uadp_drop_reason(-LG_UADP_BAD_SIGNATURE) == LG_DROP_BAD_TAG &&
		      lg_uadp_drop_reason(-LG_UADP_EVENT) == LG_DROP_UADP_EVENT &&
		      lg_uadp_drop_reason(-1000) == LG_DROP_UNSUPPORTED,
	      "drop reasons");
	for (int r = 1; r < LG_UADP_NREASONS; r++)
		CHECK(lg_uadp_drop_reason(-r) != LG_OK && lg_uadp_drop_reason(-r) < LG_REASON_MAX,
		      "reason %s maps to %d", lg_uadp_strerror(r), lg_uadp_drop_reason(-r));
	lg_uadp_keys_free(k);
	lg_uadp_keys_free(sign_only);
	lg_uadp_keys_free(NULL);
	free(buf);
	free(clear);
	free(shortn);
}

static const char usage[] =
	"Usage: test_uadp_captures [options] CAPTURES_JSON\n"
	"\n"
	"UADP decoder against real open62541 captures (tests/fixtures/uadp/captures.json):\n"
	"values, decryption, byte-exact re-encoding, cut and flipped messages refused.\n"
	"\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	json_object *doc, *vs;
	size_t nv, per_file = 0;
	const char *last = "";

	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	doc = load_vectors(argv[1]);
	if (!doc)
		return 1;
	vs = jget(doc, "vectors");
	nv = json_object_array_length(vs);
	CHECK(nv >= 40, "only %zu captured messages", nv);
	for (size_t i = 0; i < nv; i++) {
		json_object *e = json_object_array_get_idx(vs, i);
		const char *file = json_object_get_string(jget(e, "file"));

		/* Cutting and flipping every bit is quadratic: the first two of each file. */
		per_file = strcmp(file, last) ? 0 : per_file + 1;
		last = file;
		one(e, per_file < 2);
		if (!strcmp(file, "opcua/encrypted128.pcap") && per_file == 0)
			refusals(e);
	}
	json_object_put(doc);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	else
		printf("test_uadp_captures: %zu captured messages OK\n", nv);
	return failures ? 1 : 0;
}
