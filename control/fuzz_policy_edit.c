// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the enrollment edits (policy_edit.c): they do index arithmetic on
 * libyaml's marks, so any text libyaml loads must be edited or refused without a read or
 * write out of bounds, a leak or undefined behaviour; an edit that succeeds returns text
 * of the length it says, a refused one returns none and says why. The input is the policy
 * text; the edits name device ids the seeds use and one that depends on the input.
 */
#include "policy_edit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ret, struct lg_policy_edit *e, const char *err)
{
	if (ret) {
		if (e->text || (ret != -ENOMEM && !err[0]))
			abort();
		return;
	}
	if (!e->text || strlen(e->text) != e->len)
		abort();
	lg_policy_edit_free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_device_spec s = { .name = "fz-1", .source = "10.0.0.1", .port = 7,
				    .mac = "02:00:00:00:00:01", .rate = 10, .group = "g" };
	const char *text = (const char *)data;
	const uint32_t ids[] = { 1, 7, 101, 108, (uint32_t)(size % 251) + 1 };
	struct lg_policy_edit e;
	char err[512];

	/* The daemon reads the policy whole; libyaml takes a NUL as the end of a string. */
	if (memchr(text, '\0', size))
		return 0;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		s.id = ids[i];
		err[0] = '\0';
		check(lg_policy_edit_enroll(text, size, &s, NULL, &e, err, sizeof(err)), &e, err);
		err[0] = '\0';
		check(lg_policy_edit_revoke(text, size, ids[i], &e, err, sizeof(err)), &e, err);
		err[0] = '\0';
		check(lg_policy_edit_rotate(text, size, ids[i], 1796407200, &e, err, sizeof(err)), &e,
		      err);
		err[0] = '\0';
		check(lg_policy_edit_prune(text, size, ids[i], 1796407200, &e, err, sizeof(err)), &e,
		      err);
	}
	err[0] = '\0';
	check(lg_policy_edit_prune(text, size, 0, 1796407200, &e, err, sizeof(err)), &e, err);
	return 0;
}
