// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the LGF v1 parser and sample decoder. Beyond "no crash": a frame
 * the parser accepts must re-encode from its parsed fields to the same bytes, and its
 * tag check must agree between the one-shot and the keyed HMAC.
 */
#include <linegate/frame.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[32] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
					 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
					 30, 31 };
	static float out[LGF_MAX_LEN / 2];
	static int16_t i16[LGF_MAX_LEN / 2];
	static uint8_t enc[LGF_MAX_LEN];
	struct lg_frame f;
	struct lg_mac *m;
	size_t n;
	int len, a, b;

	if (lg_lgf_parse(data, size, &f) != LG_OK)
		return 0;
	if (f.signed_len + LGF_TAG_LEN != size || f.samples + f.samples_len > data + size)
		abort();
	n = (size_t)f.channels * f.sample_count;
	for (unsigned c = 0; c < f.channels; c++)
		lg_lgf_samples(&f, c, 0, f.sample_count, out);

	a = lg_lgf_check_tag(&f, key, sizeof(key));
	if (!lg_mac_new(&m, key, sizeof(key))) {
		b = lg_mac_check(m, &f);
		lg_mac_free(m);
		if ((a == 0) != (b == 0))
			abort();
	}

	/* Re-encode. A heartbeat's unused format byte is not carried, so compare those
	 * only when it is 0. */
	if (f.type == LGF_TYPE_HEARTBEAT && f.sample_format)
		return 0;
	for (size_t i = 0; i < n && f.sample_format == LGF_FMT_I16; i++)
		memcpy(&i16[i], f.samples + 2 * i, 2);
	{
		struct lg_lgf_build bld = {
			.device_id = f.device_id, .key_id = f.key_id, .type = f.type,
			.sensor_kind = f.hdr->sensor_kind, .sample_format = f.sample_format,
			.channels = f.channels, .sample_count = f.sample_count,
			.sample_rate = f.sample_rate, .scale = f.scale, .sequence = f.sequence,
			.timestamp_ns = f.timestamp_ns,
			.samples = f.sample_format == LGF_FMT_I16 ? (const void *)i16 : (const void *)f.samples,
		};

		len = lg_lgf_encode(&bld, key, sizeof(key), enc, sizeof(enc));
	}
	if (len != (int)size || memcmp(enc, data, f.signed_len))
		abort();
	return 0;
}
