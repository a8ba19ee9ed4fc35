// SPDX-License-Identifier: MIT
/*
 * The admission cases against the user-space build of lg_admit_parse() and
 * lg_admit_decide() (no kernel needed), including frames shorter than an
 * Ethernet header, which BPF_PROG_RUN refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admit_testlib.h"
#include "../lgt_cli.h"

static lg_u64 rng_state = 0x9e3779b97f4a7c15ULL;

static lg_u32 rnd(void)
{
	/* xorshift64*: reproducible, no libc state. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (lg_u32)((rng_state * 0x2545f4914f6cdd1dULL) >> 32);
}

/*
 * The device table the loader builds and the program probes: every id of a
 * full table is found with its own entry, ids not in it are not, duplicates
 * are refused, and a full table of random ids fits within the probe bound
 * after a few seeds at most (the loader tries 64).
 */
static int test_table(void)
{
	struct lg_admit_table *t = malloc(sizeof(*t));
	lg_u32 *ids = calloc(LG_ADMIT_MAX_DEVICES, sizeof(*ids));
	int fails = 0, set, seeds, worst = 0, r = 0;
	lg_u32 i, j, misses = 0;

	if (!t || !ids) {
		free(t);
		free(ids);
		return 1;
	}
	for (set = 0; set < 20; set++) {
		/* Distinct non-zero ids; set 0 is sequential, the hardest case for weak hashes. */
		for (i = 0; i < LG_ADMIT_MAX_DEVICES; i++) {
			lg_u32 id;

			do {
				id = set ? rnd() : i + 1;
				for (j = 0; j < i && ids[j] != id; j++)
					;
			} while (!id || j < i);
			ids[i] = id;
		}
		for (seeds = 1; seeds <= 64; seeds++) {
			memset(t, 0, sizeof(*t));
			t->seed = rnd();
			for (i = 0, r = 0; i < LG_ADMIT_MAX_DEVICES && !r; i++) {
				struct lg_admit_dev d = {.family = 4, .slot = i};

				r = lg_admit_table_insert(t, ids[i], &d);
			}
			if (!r)
				break;
		}
		if (r) {
			fprintf(stderr, "FAIL table set %d: no seed fits\n", set);
			fails++;
			continue;
		}
		if (seeds > worst)
			worst = seeds;
		if (t->count != LG_ADMIT_MAX_DEVICES)
			fails++, fprintf(stderr, "FAIL table set %d: count %u\n", set, t->count);
		for (i = 0; i < LG_ADMIT_MAX_DEVICES; i++) {
			const struct lg_admit_dev *d = lg_admit_table_find(t, ids[i]);
			struct lg_admit_dev dup = {.family = 4};

			if (!d || d->slot != i) {
				fails++;
				fprintf(stderr, "FAIL table set %d: id %u not found\n", set,
					ids[i]);
				break;
			}
			if (lg_admit_table_insert(t, ids[i], &dup) != -1) {
				fails++;
				fprintf(stderr, "FAIL table set %d: duplicate %u taken\n", set,
					ids[i]);
				break;
			}
		}
		for (i = 0; i < 20000; i++) {
			lg_u32 id = rnd() | 1;

			for (j = 0; j < LG_ADMIT_MAX_DEVICES && ids[j] != id; j++)
				;
			if (j == LG_ADMIT_MAX_DEVICES && lg_admit_table_find(t, id))
				misses++;
		}
	}
	if (misses)
		fails++, fprintf(stderr, "FAIL table: %u ids found that are not in it\n", misses);
	printf("table: 20 full tables, at most %d seed(s) needed\n", worst);
	free(t);
	free(ids);
	return fails;
}

static const char usage[] =
	"Usage: test_admit_model [options]\n"
	"\n"
	"The admission cases (admit_testlib.c) against the user-space build of\n"
	"lg_admit_parse() and lg_admit_decide(), no kernel needed, including frames shorter\n"
	"than an Ethernet header and multi-buffer frames split anywhere; and the device table\n"
	"the loader builds: every id of a full table found with its own entry, absent ids not,\n"
	"duplicates refused, the probe bound met after a few seeds.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout a line per case, the seeds needed, then \"N frames, M failed\n"
	"checks\"; failures on stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct lgt_target model;
	struct lgt_log log = {0};
	int fails;

	lgt_cli(argc, argv, usage, 0, 0);
	if (lgt_model_init(&model)) {
		fprintf(stderr, "FAIL model init\n");
		return 1;
	}
	fails = lgt_run_all(&model, &log);
	fails += lgt_run_multibuf(&model, &log, LGT_MB_ANY_SPLIT);
	fails += test_table();
	printf("%zu frames, %d failed checks\n", log.n, fails);
	lgt_log_free(&log);
	lgt_model_fini(&model);
	return fails ? 1 : 0;
}
