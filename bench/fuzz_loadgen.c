// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness of the load generator's parsers (loadgen_parse.h): the first byte picks
 * the parser, the rest is its text. Aborts when an accepted --fault has id 0 or a severity
 * outside 0..1 or an unknown kind, an accepted --attack-rate a kind outside the table or a
 * rate outside 0..1e9, an accepted UTC time does not come back from gmtime() with the same
 * seconds, an incident line's id is not NUL-terminated within its buffer, an accepted --tx
 * afxdp has an interface name that is empty, longer than 15 bytes or holds a '/' or ':', an
 * accepted --tx dpdk empty options or options that are not the text's, an accepted
 * --dst-mac does not print back as the text it came from (case aside), or an accepted
 * --samples/--channels list a count outside 1..4 or a value outside 1..255.
 */
#include "loadgen_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const kinds[] = { NULL, "unknown", "bad-tag", "replay", "malformed",
					     "spoof" };
	char *s;

	if (!size)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 7) {
	case 0: {
		struct lg_loadgen_fault f = { .frame = 7, .kind = LG_FAULT_BEARING, .severity = 1 };

		if (!lg_loadgen_parse_fault(s, &f) &&
		    (!f.id || !(f.severity >= 0 && f.severity <= 1) || !lg_fault_name(f.kind)))
			abort();
		break;
	}
	case 1: {
		int kind = -1;
		double fps = -1;

		if (!lg_loadgen_parse_attack_rate(s, kinds, 6, &kind, &fps) &&
		    (kind < 1 || kind > 5 || !(fps >= 0 && fps <= 1e9)))
			abort();
		break;
	}
	case 2: {
		uint64_t ns;

		if (!lg_loadgen_parse_utc_ns(s, &ns)) {
			time_t t = (time_t)(ns / 1000000000ull);
			struct tm tm;

			if (!gmtime_r(&t, &tm) || timegm(&tm) != t)
				abort();
		}
		break;
	}
	case 4: {
		struct lg_loadgen_tx tx;

		if (!lg_loadgen_parse_tx(s, &tx) && tx.kind == LG_LOADGEN_TX_AFXDP &&
		    (!tx.ifname[0] || strlen(tx.ifname) > 15 || strpbrk(tx.ifname, "/:") ||
		     tx.queue > 65535))
			abort();
		if (!lg_loadgen_parse_tx(s, &tx) && tx.kind == LG_LOADGEN_TX_DPDK &&
		    (!tx.opts[0] || strcmp(tx.opts, s + 5)))
			abort();
		break;
	}
	case 6: {
		unsigned v[4];
		int n = lg_loadgen_parse_list(s, 1, 255, v, 4);

		if (n != -EINVAL && (n < 1 || n > 4))
			abort();
		for (int i = 0; i < n; i++)
			if (v[i] < 1 || v[i] > 255)
				abort();
		break;
	}
	case 5: {
		uint8_t mac[6];
		char back[18];

		if (!lg_loadgen_parse_mac(s, mac)) {
			snprintf(back, sizeof(back), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
				 mac[2], mac[3], mac[4], mac[5]);
			for (int i = 0; i < 17; i++)
				if (tolower((unsigned char)s[i]) != back[i] && !(i % 3 == 2))
					abort();
		}
		break;
	}
	case 3: {
		uint64_t dev = 0, opened = 0;
		char id[16];

		memset(id, 'x', sizeof(id));
		if (lg_loadgen_incident_open(s, size - 1, &dev, &opened, id, sizeof(id)) == 1 &&
		    (!dev || !memchr(id, '\0', sizeof(id))))
			abort();
		break;
	}
	}
	free(s);
	return 0;
}
