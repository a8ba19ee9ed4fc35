// SPDX-License-Identifier: MIT
/*
 * The admission cases against the user-space build of lg_admit_parse() and
 * lg_admit_decide() (no kernel needed), including frames shorter than an
 * Ethernet header, which BPF_PROG_RUN refuses.
 */
#include <stdio.h>

#include "admit_testlib.h"

int main(void)
{
	struct lgt_target model;
	struct lgt_log log = {0};
	int fails;

	if (lgt_model_init(&model)) {
		fprintf(stderr, "FAIL model init\n");
		return 1;
	}
	fails = lgt_run_all(&model, &log);
	printf("%zu frames, %d failed checks\n", log.n, fails);
	lgt_log_free(&log);
	lgt_model_fini(&model);
	return fails ? 1 : 0;
}
