// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the UADP decoder. For every input it decodes, touches
 * every element the decoded view points at, maps every DataSetMessage to a
 * device key, extracts the values, checks the signature when there is one, and
 * re-encodes: the re-encoded message must decode to the same view. An encrypted
 * message is decrypted with the keys of tests/fixtures/opcua (those of
 * open62541's pubsub_publish_encrypted example) whether or not its signature
 * verifies, decoded, and re-encrypted. A mismatch aborts, so the fuzzer reports
 * logic errors as well as memory errors.
 *
 * Built with -fsanitize=fuzzer,address,undefined when meson -Dfuzzers=true and
 * CC=clang (docs/fuzzing.md); fuzz_main.c replays files through it otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linegate/uadp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The RawData layout of writer 301, as in tests/fixtures/uadp/gen_vectors.py. */
static const struct lg_uadp_raw_field raw_fields[] = {
	{ .type = LG_UADP_T_UINT16 }, { .type = LG_UADP_T_FLOAT },
	{ .type = LG_UADP_T_INT32, .max_len = 4 }, { .type = LG_UADP_T_DOUBLE },
	{ .type = LG_UADP_T_BOOLEAN },
};
static const struct lg_uadp_layout raw_layout = { .writer_id = 301, .nfields = 5,
						  .fields = raw_fields };
static const struct lg_uadp_layouts layouts = { .v = &raw_layout, .n = 1 };

/*
 * The vectors' key, SHA-256("linegate uadp test key 1"), so that seeds with valid
 * signatures exercise the success path too.
 */
static const uint8_t key[32] = {
	0x79, 0x11, 0x8f, 0xb1, 0x6b, 0xc2, 0xdf, 0x71, 0x70, 0x93, 0x16, 0x9a, 0xa6, 0x99, 0xc8,
	0x10, 0x0b, 0x8b, 0xf7, 0xc3, 0x05, 0x78, 0x85, 0xc7, 0x73, 0x75, 0x6e, 0xb8, 0xd8, 0xba,
	0x02, 0x9f,
};

static volatile uint8_t sink;

static void field_check(const struct lg_uadp_field *f)
{
	const uint8_t *p;
	uint32_t len;
	uint64_t v;
	double d;

	for (uint32_t i = 0; i < f->len; i++)
		sink ^= f->data[i];
	for (uint32_t i = 0; i < 4u * f->ndims; i++)
		sink ^= f->dims[i];
	for (uint32_t i = 0; i < f->count; i++) {
		if (lg_uadp_type_numeric(f->type) && lg_uadp_field_get_f64(f, i, &d))
			abort();
		if (lg_uadp_type_size(f->type) && f->type != LG_UADP_T_GUID &&
		    lg_uadp_field_get_raw(f, i, &v))
			abort();
		if (f->type == LG_UADP_T_STRING || f->type == LG_UADP_T_BYTESTRING ||
		    f->type == LG_UADP_T_XMLELEMENT) {
			if (lg_uadp_field_get_bytes(f, i, &p, &len))
				abort();
			if (p && (p < f->data || len > f->len || p + len > f->data + f->len))
				abort();
		}
	}
}

static int field_eq(const struct lg_uadp_field *a, const struct lg_uadp_field *b)
{
	return a->type == b->type && a->count == b->count && a->is_array == b->is_array &&
	       a->max_len == b->max_len && a->len == b->len && a->index == b->index &&
	       !a->data == !b->data && (!a->len || !memcmp(a->data, b->data, a->len)) &&
	       a->ndims == b->ndims && (!a->ndims || !memcmp(a->dims, b->dims, 4u * a->ndims)) &&
	       a->dv_mask == b->dv_mask && a->status == b->status &&
	       a->source_ts == b->source_ts && a->server_ts == b->server_ts &&
	       a->source_ps == b->source_ps && a->server_ps == b->server_ps;
}

static int msg_eq(const struct lg_uadp_msg *a, const struct lg_uadp_msg *b)
{
	if (a->flags != b->flags || a->ext1 != b->ext1 || a->ext2 != b->ext2 ||
	    a->pub_num != b->pub_num || a->pub_str_len != b->pub_str_len ||
	    (a->pub_str_len && memcmp(a->pub_str, b->pub_str, a->pub_str_len)) ||
	    !a->dataset_class_id != !b->dataset_class_id ||
	    (a->dataset_class_id && memcmp(a->dataset_class_id, b->dataset_class_id, 16)) ||
	    a->group_flags != b->group_flags || a->writer_group_id != b->writer_group_id ||
	    a->group_version != b->group_version || a->nm_number != b->nm_number ||
	    a->group_seq != b->group_seq || a->timestamp != b->timestamp ||
	    a->picoseconds != b->picoseconds || a->promoted_count != b->promoted_count ||
	    a->sec_flags != b->sec_flags || a->token_id != b->token_id ||
	    a->nonce_len != b->nonce_len ||
	    (a->nonce_len && memcmp(a->nonce, b->nonce, a->nonce_len)) ||
	    a->footer_size != b->footer_size ||
	    (a->footer_size && memcmp(a->footer, b->footer, a->footer_size)) ||
	    a->sig_len != b->sig_len || a->dsm_count != b->dsm_count || a->nfields != b->nfields)
		return 0;
	for (unsigned int i = 0; i < a->promoted_count; i++)
		if (!field_eq(&a->promoted[i], &b->promoted[i]))
			return 0;
	for (unsigned int i = 0; i < a->dsm_count; i++) {
		const struct lg_uadp_dsm *x = &a->dsm[i], *y = &b->dsm[i];

		if (x->writer_id != y->writer_id || x->flags1 != y->flags1 ||
		    x->flags2 != y->flags2 || x->seq != y->seq || x->status != y->status ||
		    x->timestamp != y->timestamp || x->picoseconds != y->picoseconds ||
		    x->cfg_major != y->cfg_major || x->cfg_minor != y->cfg_minor ||
		    x->field_count != y->field_count || x->first_field != y->first_field ||
		    x->position != y->position)
			return 0;
	}
	for (unsigned int i = 0; i < a->nfields; i++)
		if (!field_eq(&a->fields[i], &b->fields[i]))
			return 0;
	return 1;
}

/* Signing key 32 zero bytes, encrypting key 16 zero bytes, KeyNonce 4 zero bytes. */
static struct lg_uadp_keys *fuzz_keys(void)
{
	static const uint8_t zero[32];
	static struct lg_uadp_keys *k;

	if (!k && lg_uadp_keys_new(&k, zero, 32, zero, 16, zero, 4))
		abort();
	return k;
}

static void check_view(const struct lg_uadp_msg *m, size_t size)
{
	static double vals[4096];
	struct lg_admit_uadp_key dk;
	int n, err;

	/* Everything the view points at must lie inside the input. */
	for (unsigned int i = 0; i < m->nfields; i++)
		field_check(&m->fields[i]);
	for (unsigned int i = 0; i < m->promoted_count; i++)
		field_check(&m->promoted[i]);
	if (m->sig_off > size || m->sig_len > size - m->sig_off ||
	    (m->sig_len && m->sig_off + m->sig_len != size) || m->payload_off > m->sig_off)
		abort();
	for (unsigned int i = 0; i < m->dsm_count; i++) {
		err = lg_uadp_device_key(m, i, &dk);
		if (err && err != -LG_UADP_NO_IDENTITY && err != -LG_UADP_CAPACITY)
			abort();
		n = lg_uadp_dsm_values(m, i, vals, sizeof(vals) / sizeof(vals[0]));
		if (n < 0 && n != -LG_UADP_CAPACITY)
			abort();
	}
}

/* An encrypted message: decrypt, check, re-encrypt with its own nonce, compare. */
static void fuzz_encrypted(struct lg_uadp_msg *m, size_t size)
{
	static struct lg_uadp_msg m2;
	struct lg_uadp_keys *k = fuzz_keys();
	uint8_t *clear, *out, *clear2;
	int n, err;

	if (m->dsm_count || !m->sig_len)
		abort();
	err = lg_uadp_verify_keys(m, k);
	if (err != 0 && err != -LG_UADP_BAD_SIGNATURE)
		abort();
	clear = malloc(size + 1);
	out = malloc(size + 1);
	clear2 = malloc(size + 1);
	if (!clear || !out || !clear2)
		goto out;
	err = lg_uadp_decrypt(m, k, clear, size, &layouts);
	if (err)
		goto out;
	if (m->buf != clear || !m->decrypted)
		abort();
	check_view(m, size);
	n = lg_uadp_encode_keys(m, &layouts, k, out, size + 1);
	if (n < 0 || (size_t)n > size)
		abort();
	if (lg_uadp_decode(&m2, out, (size_t)n, &layouts) || !m2.encrypted || m2.dsm_count ||
	    lg_uadp_verify_keys(&m2, k) ||
	    lg_uadp_decrypt(&m2, k, clear2, (size_t)n, &layouts) || !msg_eq(m, &m2))
		abort();
out:
	free(clear);
	free(out);
	free(clear2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lg_uadp_msg m, m2;
	uint8_t *out;
	int n, err;

	if (lg_uadp_decode(&m, data, size, &layouts))
		return 0;
	if (m.encrypted) {
		fuzz_encrypted(&m, size);
		return 0;
	}
	check_view(&m, size);
	err = lg_uadp_verify(&m, key, sizeof(key));
	if (err != 0 && err != -LG_UADP_NOT_SIGNED && err != -LG_UADP_BAD_SIGNATURE)
		abort();

	/* Re-encoding never grows a message: padding and null arrays only shrink. */
	out = malloc(size + 1);
	if (!out)
		return 0;
	n = lg_uadp_encode(&m, &layouts, key, sizeof(key), out, size + 1);
	if (n < 0 || (size_t)n > size)
		abort();
	if (lg_uadp_decode(&m2, out, (size_t)n, &layouts) || !msg_eq(&m, &m2))
		abort();
	if (m2.sig_len && lg_uadp_verify(&m2, key, sizeof(key)))
		abort();
	free(out);
	return 0;
}
