// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the .creds file reader (lg_creds_find in
 * include/linegate/nats_common.h), which reads output.nats.creds_file, --fleet-creds and
 * linegate-fleet --creds at every NATS connect. A section found must be one line of the
 * input, not empty, without white space at its ends; a section not found must say why
 * without quoting the input (the file's name and the section's only); a seed found is
 * parsed as the signer parses it.
 */
#include <linegate/nats_common.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const what[] = { "NATS USER JWT", "USER NKEY SEED" };
	char *buf = malloc(size + 1), out[256], err[512], pub[LG_NKEY_PUB_LEN + 1];
	uint8_t raw[LG_NKEY_RAW_LEN];

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (int i = 0; i < 2; i++) {
		size_t n;

		err[0] = '\0';
		if (lg_creds_find(buf, "f.creds", what[i], out, sizeof(out), err, sizeof(err))) {
			/* one of two texts, which name the file and the section only */
			if (strncmp(err, "creds file f.creds has no '-----BEGIN ", 38) &&
			    strncmp(err, "creds file f.creds: its '-----BEGIN ", 36))
				abort();
			continue;
		}
		n = strlen(out);
		if (!n || strpbrk(out, "\r\n") || out[0] == ' ' || out[0] == '\t' ||
		    out[n - 1] == ' ' || out[n - 1] == '\t' || !strstr(buf, out))
			abort();
		if (i == 1)
			(void)lg_nkey_parse_seed(out, n, raw, pub, err, sizeof(err));
	}
	free(buf);
	return 0;
}
