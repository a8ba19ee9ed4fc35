// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the policy parser. An accepted policy must satisfy the
 * parser's promises (ids sorted and unique, one or two keys, safe names); a refused
 * one must say where, as name:line:column, and never quote a key-sized run of hex digits
 * (a key typed into the wrong field must not reach an error, a log or the audit).
 */
#include <linegate/policy.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_policy p;
	char err[512] = "";
	unsigned line, col;

	if (lg_policy_parse((const char *)data, size, "fuzz", &p, err, sizeof(err))) {
		if (!err[0])
			abort();
		/* Out-of-memory is the one error without a position. */
		if (sscanf(err, "fuzz:%u:%u: ", &line, &col) != 2 && !strstr(err, "memory"))
			abort();
		if (lg_hex_run(err) >= LG_SECRET_HEX_RUN)
			abort();
		return 0;
	}
	for (size_t i = 0; i < p.ndevices; i++) {
		const struct lg_policy_device *d = &p.devices[i];

		if (!d->id || (i && p.devices[i - 1].id >= d->id) || lg_policy_find(&p, d->id) != d)
			abort();
		if (d->nkeys < 1 || d->nkeys > 2 || (d->nkeys == 2 && d->keys[0].id == d->keys[1].id))
			abort();
		if (d->keys[0].expires < 0 || (d->nkeys == 2 && d->keys[1].expires < 0))
			abort();
		for (const char *c = d->name; *c; c++)
			if (!isalnum((unsigned char)*c) && !strchr("._-", *c))
				abort();
	}
	lg_policy_free(&p);
	return 0;
}
