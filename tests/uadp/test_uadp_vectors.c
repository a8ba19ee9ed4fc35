// SPDX-License-Identifier: MIT
/*
 * Known-answer test of the UADP decoder: decode every vector of
 * tests/fixtures/uadp/vectors.json (built by gen_vectors.py from the
 * specification, not from our C code) and compare every decoded field, the
 * device keys, the numeric values, the signature verdict and the rejection
 * reason. Then cut every valid vector at every byte and flip every bit of the
 * signed ones: each must be rejected by the decoder or by the signature check.
 */
#include <linegate/hmac.h>

#include "vectors.h"
#include "../lgt_cli.h"

int failures;

static uint8_t doc_key[32];
static size_t doc_key_len;
/* The key of the vector under test: the document's, or the vector's own "key". */
static const uint8_t *key;
static size_t key_len;

static void check_field(const char *name, const char *what, const uint8_t *buf,
			const struct lg_uadp_field *f, json_object *e)
{
	json_object *raw = jget(e, "raw"), *f64 = jget(e, "f64"), *bytes = jget(e, "bytes");
	json_object *guid = jget(e, "guid"), *dv = jget(e, "dv");
	const uint8_t *p;
	uint32_t len;
	uint64_t r;
	double d;

	CHECK(f->type == jint(e, "type"), "%s %s: type %u", name, what, f->type);
	CHECK(f->is_array == jint(e, "is_array"), "%s %s: is_array %u", name, what, f->is_array);
	CHECK(f->count == jint(e, "count"), "%s %s: count %u", name, what, f->count);
	CHECK(f->max_len == jint(e, "max_len"), "%s %s: max_len %u", name, what, f->max_len);
	CHECK(f->index == jint(e, "index"), "%s %s: index %u", name, what, f->index);
	CHECK(f->ndims == jint(e, "ndims"), "%s %s: ndims %u", name, what, f->ndims);
	CHECK(f->dv_mask == jint(e, "dv_mask"), "%s %s: dv_mask %#x", name, what, f->dv_mask);
	if (jget(e, "len"))
		CHECK(f->len == jint(e, "len"), "%s %s: len %u want %lld", name, what, f->len,
		      (long long)jint(e, "len"));
	if (jint(e, "data_off") < 0)
		CHECK(!f->data, "%s %s: a null value has data", name, what);
	else
		CHECK(f->data - buf == jint(e, "data_off"), "%s %s: data at %td, want %lld", name,
		      what, f->data - buf, (long long)jint(e, "data_off"));
	if (dv) {
		CHECK(f->status == (uint32_t)jint(dv, "status"), "%s %s: status %#x", name, what,
		      f->status);
		CHECK(f->source_ts == (int64_t)ju64(dv, "source_ts") &&
			      f->server_ts == (int64_t)ju64(dv, "server_ts"),
		      "%s %s: DataValue timestamps", name, what);
		CHECK(f->source_ps == jint(dv, "source_ps") &&
			      f->server_ps == jint(dv, "server_ps"),
		      "%s %s: DataValue picoseconds", name, what);
	}
	for (uint32_t i = 0; bytes && i < f->count && i < json_object_array_length(bytes); i++) {
		const char *h = json_object_get_string(json_object_array_get_idx(bytes, i));
		size_t hl = h ? strlen(h) / 2 : 0;

		CHECK(lg_uadp_field_get_bytes(f, i, &p, &len) == 0, "%s %s[%u]: get_bytes", name,
		      what, i);
		CHECK(h ? (p && len == hl) : (!p && !len), "%s %s[%u]: bytes", name, what, i);
		for (size_t j = 0; h && p && len == hl && j < hl; j++) {
			unsigned int v;

			sscanf(h + 2 * j, "%2x", &v);
			CHECK(p[j] == v, "%s %s[%u]: byte %zu", name, what, i, j);
		}
	}
	if (!bytes && f->count)
		CHECK(lg_uadp_field_get_bytes(f, 0, &p, &len) == -LG_UADP_NOT_NUMERIC,
		      "%s %s: bytes of a non-string", name, what);
	for (uint32_t i = 0; guid && i < f->count && i < json_object_array_length(guid); i++) {
		const char *h = json_object_get_string(json_object_array_get_idx(guid, i));

		for (size_t j = 0; j < 16; j++) {
			unsigned int v;

			sscanf(h + 2 * j, "%2x", &v);
			CHECK(f->data[16 * i + j] == v, "%s %s[%u]: Guid byte %zu", name, what, i,
			      j);
		}
	}
	if (!f64 && f->count)
		CHECK(lg_uadp_field_get_f64(f, 0, &d) == -LG_UADP_NOT_NUMERIC,
		      "%s %s: a non-numeric field read as a number", name, what);
	if (f->count != json_object_array_length(raw)) {
		if (f->count && f->type != LG_UADP_T_NULL)
			CHECK(lg_uadp_field_get_raw(f, 0, &r) == -LG_UADP_NOT_NUMERIC,
			      "%s %s: raw read of a variable-length field", name, what);
		return;
	}
	for (uint32_t i = 0; i < f->count; i++) {
		uint64_t want = strtoull(json_object_get_string(json_object_array_get_idx(raw, i)),
					 NULL, 10);

		CHECK(lg_uadp_field_get_raw(f, i, &r) == 0 && r == want,
		      "%s %s[%u]: raw %#llx want %#llx", name, what, i, (unsigned long long)r,
		      (unsigned long long)want);
		if (!f64)
			continue;
		CHECK(lg_uadp_field_get_f64(f, i, &d) == 0 &&
			      d == json_object_get_double(json_object_array_get_idx(f64, i)),
		      "%s %s[%u]: %.17g", name, what, i, d);
	}
	CHECK(lg_uadp_field_get_raw(f, f->count, &r) == -LG_UADP_BAD_ARG,
	      "%s %s: index past count accepted", name, what);
}

static void check_dsm(const char *name, unsigned int k, const struct lg_uadp_msg *m,
		      json_object *e)
{
	const struct lg_uadp_dsm *d = &m->dsm[k];
	json_object *fields = jget(e, "fields");
	char what[64];

	CHECK(d->writer_id == jint(e, "writer_id"), "%s dsm%u: writer_id %u", name, k,
	      d->writer_id);
	CHECK(d->position == jint(e, "position"), "%s dsm%u: position %u", name, k, d->position);
	CHECK(d->flags1 == jint(e, "flags1"), "%s dsm%u: flags1 %#x", name, k, d->flags1);
	CHECK(d->flags2 == jint(e, "flags2"), "%s dsm%u: flags2 %#x", name, k, d->flags2);
	CHECK(d->seq == jint(e, "seq"), "%s dsm%u: seq %u", name, k, d->seq);
	CHECK(d->status == jint(e, "status"), "%s dsm%u: status %u", name, k, d->status);
	CHECK(d->timestamp == jint(e, "timestamp"), "%s dsm%u: timestamp %lld", name, k,
	      (long long)d->timestamp);
	CHECK(d->picoseconds == jint(e, "picoseconds"), "%s dsm%u: picoseconds", name, k);
	CHECK(d->cfg_major == (uint32_t)jint(e, "cfg_major"), "%s dsm%u: cfg_major %u", name, k,
	      d->cfg_major);
	CHECK(d->cfg_minor == (uint32_t)jint(e, "cfg_minor"), "%s dsm%u: cfg_minor %u", name, k,
	      d->cfg_minor);
	CHECK(d->size == jint(e, "size"), "%s dsm%u: size %u", name, k, d->size);
	CHECK(d->start - m->buf == jint(e, "offset"), "%s dsm%u: offset %td", name, k,
	      d->start - m->buf);
	CHECK(d->field_count == json_object_array_length(fields), "%s dsm%u: field_count %u",
	      name, k, d->field_count);
	for (unsigned int i = 0; i < d->field_count && i < json_object_array_length(fields); i++) {
		snprintf(what, sizeof(what), "dsm%u.field%u", k, i);
		check_field(name, what, m->buf, &m->fields[d->first_field + i],
			    json_object_array_get_idx(fields, i));
	}
}

static void check_hex(const char *name, const char *what, const uint8_t *p, size_t n,
		      json_object *e, const char *k)
{
	size_t len;
	uint8_t *want = jhex(e, k, &len);

	CHECK(len == n && (!n || (p && !memcmp(p, want, n))), "%s: %s differs", name, what);
	free(want);
}

static void check_msg(const char *name, const struct lg_uadp_msg *m, json_object *e)
{
	json_object *dsms = jget(e, "dsms"), *prom = jget(e, "promoted"), *s;
	char what[32];

	CHECK(m->len == jint(e, "len"), "%s: len", name);
	CHECK(m->flags == jint(e, "flags"), "%s: flags %#x", name, m->flags);
	CHECK(m->ext1 == jint(e, "ext1"), "%s: ext1 %#x", name, m->ext1);
	CHECK(m->ext2 == jint(e, "ext2"), "%s: ext2 %#x", name, m->ext2);
	CHECK(lg_uadp_pub_type(m) == jint(e, "pub_type"), "%s: pub_type", name);
	CHECK(m->pub_num == ju64(e, "pub_num"), "%s: pub_num %llu", name,
	      (unsigned long long)m->pub_num);
	s = jget(e, "pub_str");
	if (s)
		check_hex(name, "pub_str", m->pub_str, m->pub_str_len, e, "pub_str");
	else
		CHECK(!m->pub_str && !m->pub_str_len, "%s: unexpected pub_str", name);
	if (jget(e, "dataset_class_id"))
		check_hex(name, "dataset_class_id", m->dataset_class_id, 16, e, "dataset_class_id");
	else
		CHECK(!m->dataset_class_id, "%s: unexpected dataset_class_id", name);
	CHECK(m->group_flags == jint(e, "group_flags"), "%s: group_flags", name);
	CHECK(m->writer_group_id == jint(e, "writer_group_id"), "%s: writer_group_id", name);
	CHECK(m->group_version == (uint32_t)jint(e, "group_version"), "%s: group_version", name);
	CHECK(m->nm_number == jint(e, "nm_number"), "%s: nm_number", name);
	CHECK(m->group_seq == jint(e, "group_seq"), "%s: group_seq", name);
	CHECK(m->timestamp == jint(e, "timestamp"), "%s: timestamp", name);
	CHECK(m->picoseconds == jint(e, "picoseconds"), "%s: picoseconds", name);
	CHECK(m->promoted_size == jint(e, "promoted_size"), "%s: promoted_size", name);
	CHECK(m->promoted_count == json_object_array_length(prom), "%s: promoted_count", name);
	for (unsigned int i = 0; i < m->promoted_count && i < json_object_array_length(prom); i++) {
		snprintf(what, sizeof(what), "promoted%u", i);
		check_field(name, what, m->buf, &m->promoted[i],
			    json_object_array_get_idx(prom, i));
	}
	CHECK(m->sec_flags == jint(e, "sec_flags"), "%s: sec_flags", name);
	CHECK(m->token_id == (uint32_t)jint(e, "token_id"), "%s: token_id", name);
	check_hex(name, "nonce", m->nonce, m->nonce_len, e, "nonce");
	CHECK(m->footer_size == jint(e, "footer_size"), "%s: footer_size", name);
	check_hex(name, "footer", m->footer, m->footer_size, e, "footer");
	CHECK(m->sig_off == jint(e, "sig_off"), "%s: sig_off %u", name, m->sig_off);
	CHECK(m->sig_len == jint(e, "sig_len"), "%s: sig_len %u", name, m->sig_len);
	CHECK(m->dsm_count == json_object_array_length(dsms), "%s: dsm_count %u", name,
	      m->dsm_count);
	for (unsigned int k = 0; k < m->dsm_count && k < json_object_array_length(dsms); k++)
		check_dsm(name, k, m, json_object_array_get_idx(dsms, k));
}

static void check_keys_values(const char *name, const struct lg_uadp_msg *m, json_object *v)
{
	json_object *keys = jget(v, "device_keys"), *vals = jget(v, "values");
	struct lg_admit_uadp_key dk;
	double out[64];
	int n;

	if (!keys) {
		const char *want = json_object_get_string(jget(v, "device_key_error"));

		n = lg_uadp_device_key(m, 0, &dk);
		CHECK(want && !strcmp(lg_uadp_strerror(n), want), "%s: device key gave %s", name,
		      lg_uadp_strerror(n));
	}
	for (unsigned int k = 0; keys && k < m->dsm_count; k++) {
		json_object *e = json_object_array_get_idx(keys, k);
		struct lg_admit_uadp_key want = { 0 };
		size_t sl = 0;
		uint8_t *s = NULL;

		want.pub_type = (uint8_t)jint(e, "pub_type");
		want.writer_group_id = (uint16_t)jint(e, "writer_group_id");
		want.writer_id = (uint16_t)jint(e, "writer_id");
		if (json_object_get_string(jget(e, "pub_str"))) {
			s = jhex(e, "pub_str", &sl);
			want.pub_str_len = (uint8_t)sl;
			memcpy(want.pub_str, s, sl);
			free(s);
		} else {
			want.pub_num = ju64(e, "pub_num");
		}
		memset(&dk, 0xa5, sizeof(dk));
		CHECK(lg_uadp_device_key(m, k, &dk) == 0 && !memcmp(&dk, &want, sizeof(dk)),
		      "%s: device key of dsm%u", name, k);
	}
	CHECK(lg_uadp_device_key(m, m->dsm_count, &dk) == -LG_UADP_BAD_ARG,
	      "%s: device key past dsm_count", name);
	for (unsigned int k = 0; vals && k < m->dsm_count; k++) {
		json_object *e = json_object_array_get_idx(vals, k);
		size_t want = json_object_array_length(e);

		n = lg_uadp_dsm_values(m, k, out, 64);
		CHECK(n >= 0 && (size_t)n == want, "%s: dsm%u gave %d values, want %zu", name, k, n,
		      want);
		for (int i = 0; n > 0 && (size_t)n == want && i < n; i++)
			CHECK(out[i] == json_object_get_double(json_object_array_get_idx(e, i)),
			      "%s: dsm%u value %d = %.17g", name, k, i, out[i]);
		if (want > 0)
			CHECK(lg_uadp_dsm_values(m, k, out, want - 1) == -LG_UADP_CAPACITY,
			      "%s: dsm%u values did not report a short output", name, k);
	}
}

/* Both verification paths must give the same verdict. */
static int verify_both(const struct lg_uadp_msg *m, const uint8_t *k, size_t kl)
{
	struct lg_mac *h = NULL;
	int a, b;

	a = lg_uadp_verify(m, k, kl);
	if (lg_mac_new(&h, k, kl))
		return -LG_UADP_CRYPTO;
	b = lg_uadp_verify_hmac(m, h);
	/* Twice with the same prepared key: re-initialisation must keep the key. */
	if (b == lg_uadp_verify_hmac(m, h) && a == b) {
		lg_mac_free(h);
		return a;
	}
	lg_mac_free(h);
	return -LG_UADP_NREASONS;
}

/* Every proper prefix must fail to decode, or decode but fail the signature check. */
static void check_prefixes(const char *name, const uint8_t *buf, size_t len,
			   const struct lg_uadp_layouts *lay, struct lg_uadp_msg *m)
{
	for (size_t l = 0; l < len; l++) {
		uint8_t *p = malloc(l ? l : 1);
		int err;

		memcpy(p, buf, l);
		err = lg_uadp_decode(m, p, l, lay);
		if (!err)
			err = m->sig_len ? verify_both(m, key, key_len) : 0;
		CHECK(err < 0, "%s: prefix of %zu bytes accepted", name, l);
		free(p);
	}
}

static void check_bitflips(const char *name, const uint8_t *buf, size_t len,
			   const struct lg_uadp_layouts *lay, struct lg_uadp_msg *m)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len * 8; i++) {
		int err;

		memcpy(p, buf, len);
		p[i / 8] ^= (uint8_t)(1u << (i % 8));
		err = lg_uadp_decode(m, p, len, lay);
		if (!err)
			err = verify_both(m, key, key_len);
		CHECK(err < 0, "%s: bit %zu flipped and still accepted", name, i);
	}
	free(p);
}

/*
 * An encrypted vector: the decoder stops after the SecurityHeader; verify with the signing
 * key, decrypt with the vector's keys into *clear and leave the clear view in *m.
 */
static int decrypt_vector(const char *name, struct lg_uadp_msg *m, json_object *v,
			  const uint8_t *buf, size_t len, const struct lg_uadp_layouts *lay,
			  uint8_t **clear)
{
	json_object *ks = jget(v, "keys");
	struct lg_uadp_keys *k = NULL;
	size_t sl, el, nl;
	uint8_t *s = jhex(ks, "sign", &sl), *e = jhex(ks, "enc", &el), *n = jhex(ks, "nonce", &nl);
	int err, ok = 0;

	CHECK(m->encrypted && !m->decrypted && m->dsm_count == 0, "%s: encrypted view", name);
	CHECK(m->payload_off == jint(jget(v, "expect"), "payload_off"), "%s: payload_off %u",
	      name, m->payload_off);
	err = lg_uadp_keys_new(&k, s, sl, e, el, n, nl);
	CHECK(!err, "%s: keys %s", name, lg_uadp_strerror(err));
	*clear = malloc(len ? len : 1);
	if (!err && *clear) {
		CHECK(lg_uadp_verify_keys(m, k) == 0, "%s: signature", name);
		err = lg_uadp_decrypt(m, k, *clear, len, lay);
		CHECK(!err && m->buf == *clear && m->decrypted, "%s: decrypt %s", name,
		      lg_uadp_strerror(err));
		ok = !err;
	}
	(void)buf;
	lg_uadp_keys_free(k);
	free(s);
	free(e);
	free(n);
	return ok;
}

static const char usage[] =
	"Usage: test_uadp_vectors [options] VECTORS\n"
	"\n"
	"Known-answer test of the UADP decoder: every vector decoded and every field, device\n"
	"key, value, signature verdict and rejection reason compared; then every valid vector\n"
	"cut at every byte and every bit of the signed ones flipped, each of which must be\n"
	"rejected by the decoder or the signature check.\n"
	"\n"
	"Arguments:\n"
	"  VECTORS       tests/fixtures/uadp/vectors.json (made by gen_vectors.py)\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"uadp vectors: N decoded and compared, M rejected as expected\" on stdout;\n"
	"failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_uadp_msg m;
	json_object *doc, *vecs;
	uint8_t *k;
	size_t nvec, nok = 0, nerr = 0;

	/* from here on argv[1] is the first argument */
	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	doc = load_vectors(argv[1]);
	if (!doc)
		return 1;
	k = jhex(doc, "key", &doc_key_len);
	memcpy(doc_key, k, doc_key_len < sizeof(doc_key) ? doc_key_len : sizeof(doc_key));
	free(k);
	vecs = jget(doc, "vectors");
	nvec = json_object_array_length(vecs);
	CHECK(nvec >= 40, "only %zu vectors", nvec);

	for (size_t i = 0; i < nvec; i++) {
		json_object *v = json_object_array_get_idx(vecs, i);
		const char *name = json_object_get_string(jget(v, "name"));
		const char *want_err = json_object_get_string(jget(v, "error"));
		const char *want_ver = json_object_get_string(jget(v, "verify"));
		struct vec_layouts vl;
		const struct lg_uadp_layouts *lay = vec_layouts(v, &vl);
		size_t len;
		uint8_t *buf = jhex(v, "hex", &len), *vkey = NULL, *clear = NULL;
		int err = lg_uadp_decode(&m, buf, len, lay);

		key = doc_key;
		key_len = doc_key_len;
		if (jget(v, "key")) {
			vkey = jhex(v, "key", &key_len);
			key = vkey;
		}

		if (want_err) {
			nerr++;
			CHECK(err < 0 && !strcmp(lg_uadp_strerror(err), want_err),
			      "%s: decode gave %s, want %s", name, lg_uadp_strerror(err), want_err);
			free(vkey);
			free(buf);
			continue;
		}
		CHECK(err == 0, "%s: decode failed: %s", name, lg_uadp_strerror(err));
		if (err) {
			free(vkey);
			free(buf);
			continue;
		}
		nok++;
		if (want_ver) {
			uint8_t *vk = (uint8_t *)key;
			size_t vkl = key_len;

			if (jget(v, "verify_key"))
				vk = jhex(v, "verify_key", &vkl);
			err = verify_both(&m, vk, vkl);
			CHECK(!strcmp(lg_uadp_strerror(err), want_ver),
			      "%s: verify gave %s, want %s", name, lg_uadp_strerror(err), want_ver);
			if (vk != key)
				free(vk);
		}
		if (jget(v, "keys") && !decrypt_vector(name, &m, v, buf, len, lay, &clear)) {
			free(vkey);
			free(buf);
			continue;
		}
		if (jget(v, "expect")) {
			check_msg(name, &m, jget(v, "expect"));
			check_keys_values(name, &m, v);
		}
		if (jget(v, "expect")) {
			if (!jget(v, "prefixes_decode"))
				check_prefixes(name, buf, len, lay, &m);
			if (jint(jget(v, "expect"), "sig_len"))
				check_bitflips(name, buf, len, lay, &m);
		}
		free(clear);
		clear = NULL;
		free(vkey);
		free(buf);
	}

	/* Argument checks. */
	CHECK(lg_uadp_decode(NULL, NULL, 0, NULL) == -LG_UADP_BAD_ARG, "NULL msg accepted");
	CHECK(lg_uadp_decode(&m, NULL, 5, NULL) == -LG_UADP_BAD_ARG, "NULL buffer accepted");
	CHECK(lg_uadp_verify(&m, NULL, 0) == -LG_UADP_BAD_ARG, "NULL key accepted");
	CHECK(!strcmp(lg_uadp_strerror(-LG_UADP_NREASONS), "unknown"), "strerror range");
	for (int r = 0; r < LG_UADP_NREASONS; r++)
		CHECK(strcmp(lg_uadp_strerror(r), "unknown"), "reason %d has no name", r);

	json_object_put(doc);
	if (failures) {
		fprintf(stderr, "%d failures\n", failures);
		return 1;
	}
	printf("uadp vectors: %zu decoded and compared, %zu rejected as expected\n", nok, nerr);
	return 0;
}
