// SPDX-License-Identifier: MIT
/* LGF v1 parser, tag check and encoder against tests/fixtures/lgf/vectors.json. */
#include <linegate/frame.h>

#include <errno.h>
#include <json-c/json.h>
#include <math.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	if (n > cap)
		return 0;
	for (size_t i = 0; i < n; i++)
		sscanf(s + 2 * i, "%2hhx", &out[i]);
	return n;
}

static long long geti(json_object *v, const char *k)
{
	json_object *o;

	return json_object_object_get_ex(v, k, &o) ? (long long)json_object_get_uint64(o) : -1;
}

static float sample(const struct lg_frame *f, size_t i)
{
	if (f->sample_format == LGF_FMT_I16) {
		int16_t v;

		memcpy(&v, f->samples + 2 * i, 2);
		return v * f->scale;
	}
	float v;

	memcpy(&v, f->samples + 4 * i, 4);
	return v;
}

static const char usage[] =
	"Usage: test_lgf [options]\n"
	"\n"
	"The LGF v1 parser, tag check and encoder against the known-answer vectors in\n"
	"tests/fixtures/lgf/vectors.json.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Environment:\n"
	"  LG_SOURCE     the source tree, where tests/fixtures is read\n"
	"                (default: the current folder)\n"
	"\n"
	"Output: \"test_lgf: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

/* RFC 4231 test cases 1 and 2 (HMAC-SHA256): the one-shot and the keyed context alike. */
static void test_hmac_rfc4231(void)
{
	static const struct {
		const char *key, *msg, *mac;
	} tc[] = {
		{ "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	};

	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		uint8_t key[64], msg[64], want[LG_HMAC_LEN], got[LG_HMAC_LEN];
		size_t kl = unhex(tc[i].key, key, sizeof(key)), ml = unhex(tc[i].msg, msg, sizeof(msg));
		struct lg_mac *m = NULL;

		CHECK_EQ(unhex(tc[i].mac, want, sizeof(want)), (size_t)LG_HMAC_LEN);
		memset(got, 0, sizeof(got));
		CHECK_EQ(lg_mac_once(key, kl, msg, ml, got), 0);
		CHECK(!memcmp(got, want, LG_HMAC_LEN));
		CHECK_EQ(lg_mac_new(&m, key, kl), 0);
		memset(got, 0, sizeof(got));
		CHECK_EQ(lg_mac_sha256(m, msg, ml, got), 0);
		CHECK(!memcmp(got, want, LG_HMAC_LEN));
		CHECK_EQ(lg_mac_verify(m, msg, ml, want, LG_HMAC_LEN), 0);
		want[0] ^= 1;
		CHECK_EQ(lg_mac_verify(m, msg, ml, want, LG_HMAC_LEN), -EBADMSG);
		lg_mac_free(m);
	}
}

int main(int argc, char **argv)
{
	char path[1024];
	const char *src = getenv("LG_SOURCE");
	json_object *root, *vecs;
	static uint8_t buf[LGF_MAX_LEN + 64], key[64];

	lgt_cli(argc, argv, usage, 0, 0);
	test_hmac_rfc4231();
	snprintf(path, sizeof(path), "%s/tests/fixtures/lgf/vectors.json", src ? src : ".");
	root = json_object_from_file(path);
	if (!root) {
		fprintf(stderr, "cannot read %s\n", path);
		return 1;
	}
	CHECK(json_object_object_get_ex(root, "vectors", &vecs));
	CHECK(json_object_array_length(vecs) >= 20);
	for (size_t i = 0; i < json_object_array_length(vecs); i++) {
		json_object *v = json_object_array_get_idx(vecs, i), *o;
		const char *name, *expect;
		size_t len, klen;
		struct lg_frame f;
		enum lg_reason r;
		const char *got;

		json_object_object_get_ex(v, "name", &o);
		name = json_object_get_string(o);
		json_object_object_get_ex(v, "expect", &o);
		expect = json_object_get_string(o);
		json_object_object_get_ex(v, "frame", &o);
		len = unhex(json_object_get_string(o), buf, sizeof(buf));
		json_object_object_get_ex(v, "key", &o);
		klen = unhex(json_object_get_string(o), key, sizeof(key));

		r = lg_lgf_parse(buf, len, &f);
		got = lg_reason_name(r);
		if (r == LG_OK) {
			struct lg_mac *m;

			got = lg_lgf_check_tag(&f, key, klen) ? "bad_tag" : "ok";
			/* The keyed context the workers use agrees with the one-shot HMAC, also
			 * when it is reused for a second frame. */
			CHECK_EQ(lg_mac_new(&m, key, klen), 0);
			for (int rep = 0; rep < 2; rep++)
				CHECK(!strcmp(lg_mac_check(m, &f) ? "bad_tag" : "ok", got));
			lg_mac_free(m);
		}
		if (strcmp(got, expect))
			fprintf(stderr, "vector %s: expected %s, got %s\n", name, expect, got);
		CHECK(!strcmp(got, expect));
		if (strcmp(expect, "ok"))
			continue;
		CHECK_EQ(f.device_id, geti(v, "device"));
		CHECK_EQ(f.key_id, geti(v, "key_id"));
		CHECK_EQ(f.sequence, geti(v, "sequence"));
		CHECK_EQ(f.timestamp_ns, geti(v, "timestamp_ns"));
		CHECK_EQ(f.channels, geti(v, "channels"));
		CHECK_EQ(f.sample_count, geti(v, "count"));
		CHECK_EQ(f.sample_rate, geti(v, "rate"));
		json_object_object_get_ex(v, "samples", &o);
		CHECK_EQ(json_object_array_length(o), (size_t)f.channels * f.sample_count);
		for (size_t k = 0; k < json_object_array_length(o); k++)
			CHECK_NEAR(sample(&f, k), json_object_get_double(json_object_array_get_idx(o, k)),
				   1e-6 * (1 + fabs(sample(&f, k))));

		/* The encoder must reproduce the vector byte for byte. */
		{
			uint8_t enc[LGF_MAX_LEN];
			float fs[64];
			int16_t is[64];
			size_t n = (size_t)f.channels * f.sample_count;
			struct lg_lgf_build b = {
				.device_id = f.device_id, .key_id = f.key_id, .type = f.type,
				.sensor_kind = f.hdr->sensor_kind, .sample_format = f.sample_format,
				.channels = f.channels, .sample_count = f.sample_count,
				.sample_rate = f.sample_rate, .scale = f.scale, .sequence = f.sequence,
				.timestamp_ns = f.timestamp_ns,
			};
			int elen;

			for (size_t k = 0; k < n; k++) {
				memcpy(&is[k], f.samples + 2 * k, 2);
				memcpy(&fs[k], f.samples + 4 * k, 4);
			}
			b.samples = f.sample_format == LGF_FMT_I16 ? (const void *)is : (const void *)fs;
			elen = lg_lgf_encode(&b, key, klen, enc, sizeof(enc));
			CHECK_EQ(elen, len);
			CHECK(elen > 0 && !memcmp(enc, buf, len));
		}
		/* Every strict prefix and every single-bit flip is refused. */
		for (size_t cut = 0; cut < len; cut++) {
			struct lg_frame g;

			r = lg_lgf_parse(buf, cut, &g);
			CHECK(r != LG_OK || lg_lgf_check_tag(&g, key, klen) != 0);
		}
		for (size_t bit = 0; bit < len * 8; bit++) {
			struct lg_frame g;

			buf[bit / 8] ^= (uint8_t)(1 << bit % 8);
			r = lg_lgf_parse(buf, len, &g);
			if (r == LG_OK && lg_lgf_check_tag(&g, key, klen) == 0) {
				fprintf(stderr, "vector %s: flipped bit %zu accepted\n", name, bit);
				CHECK(0);
			}
			buf[bit / 8] ^= (uint8_t)(1 << bit % 8);
		}
	}
	json_object_put(root);

	/* The encoder refuses what the format cannot carry. */
	{
		uint8_t out[LGF_MAX_LEN];
		int16_t s[4] = { 0 };
		struct lg_lgf_build b = { .device_id = 1, .type = LGF_TYPE_SAMPLES,
					  .sample_format = LGF_FMT_I16, .channels = 0,
					  .sample_count = 4, .samples = s };

		CHECK(lg_lgf_encode(&b, key, 32, out, sizeof(out)) < 0);
		b.channels = 1;
		CHECK(lg_lgf_encode(&b, key, 32, out, 10) < 0);
		b.sample_format = 9;
		CHECK(lg_lgf_encode(&b, key, 32, out, sizeof(out)) < 0);
	}
	for (int r = 0; r < LG_REASON_MAX; r++)
		CHECK(strcmp(lg_reason_name(r), "invalid") != 0);
	CHECK(!strcmp(lg_reason_name(LG_REASON_MAX), "invalid"));
	return lgt_done("test_lgf");
}
