// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for what every whole-frame backend runs on untrusted bytes: the frame
 * parser with its checksums (lg_backend_parse_frame) and the option splitter
 * (lg_backend_opt_next). Beyond "no crash":
 * - an accepted frame's payload lies inside the frame, and its port index matches a port;
 * - checking checksums never accepts what the parser without them refuses, and refuses
 *   only as bad_checksum what it accepts;
 * - the option splitter ends, moves forward, and hands back NUL-terminated parts;
 * - lg_backend_opt_once refuses an option string exactly when the splitter finds a key in
 *   it twice (but a repeatable one), and says so.
 * Input: the first byte picks the UADP port (on or off) and whether "vdev" may repeat; the
 * rest is the frame, and the same bytes as a NUL-terminated option string.
 */
#include <linegate/backend.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_rx_pkt a, b;
	enum lg_reason ra, rb;
	uint16_t port2;
	char opts[512], key[32], val[64];
	const char *pos;
	int guard = 0;
	bool vdev_repeats;

	if (!size)
		return 0;
	vdev_repeats = data[0] & 2;
	port2 = data[0] & 1 ? 4840 : 0;
	data++;
	size--;
	ra = lg_backend_parse_frame(data, (uint32_t)size, LGF_DEFAULT_PORT, port2, 0, &a);
	rb = lg_backend_parse_frame(data, (uint32_t)size, LGF_DEFAULT_PORT, port2, LG_PARSE_CSUM,
				    &b);
	if (ra == LG_OK) {
		if (a.data < data || a.data + a.len > data + size || a.port_idx > 1 ||
		    (a.port_idx && !port2))
			abort();
		if (rb != LG_OK && rb != LG_DROP_BAD_CHECKSUM)
			abort();
		if (rb == LG_OK && (b.data != a.data || b.len != a.len))
			abort();
	} else if (rb != ra) {
		abort();
	}

	memcpy(opts, data, size < sizeof(opts) - 1 ? size : sizeof(opts) - 1);
	opts[size < sizeof(opts) - 1 ? size : sizeof(opts) - 1] = '\0';
	pos = opts;
	for (;;) {
		const char *before = pos;
		int r = lg_backend_opt_next(&pos, key, sizeof(key), val, sizeof(val));

		if (r <= 0)
			break;
		if (pos <= before || pos > opts + strlen(opts) || strlen(key) >= sizeof(key) ||
		    strlen(val) >= sizeof(val) || ++guard > (int)sizeof(opts))
			abort();
	}
	{
		static const char *const rep[] = { "vdev", NULL };
		char keys[64][32], err[160] = "";
		size_t nk = 0;
		bool twice = false, complete;
		int once, r;

		pos = opts;
		while ((r = lg_backend_opt_next(&pos, keys[nk], sizeof(keys[0]), val,
						 sizeof(val))) > 0) {
			if (!keys[nk][0] || (vdev_repeats && !strcmp(keys[nk], "vdev")))
				continue;
			for (size_t i = 0; i < nk; i++)
				twice |= !strcmp(keys[i], keys[nk]);
			if (++nk == 64)
				break;
		}
		/* a part too long for the splitter's buffers, or too many keys: not compared */
		complete = r == 0;
		once = lg_backend_opt_once(opts, vdev_repeats ? rep : NULL, err, sizeof(err));
		if ((once && (once != -EINVAL || !strstr(err, "is given more than once"))) ||
		    (!once && err[0]) || (complete && !!once != twice))
			abort();
	}
	return 0;
}
