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

/* One frame through a bucket as lg_admit_decide() runs it; tick 0: the exact bucket. */
static int bucket_take(struct lg_admit_state *st, const struct lg_admit_dev *d, lg_u64 t,
		       lg_u64 jiffy)
{
	return lg_admit_bucket_take_gated(st, d, jiffy) || lg_admit_bucket_ok(st, d, t, jiffy);
}

#define GATE_TRIALS 3000
#define GATE_FRAMES 160

/*
 * The refill gate against the exact bucket (the same functions with tick 0) on random
 * arrivals, the tick derived from the clock as for the test clock: (1) until the exact
 * bucket drops its first frame the gated one drops none (it never refuses what the exact
 * bucket admits); (2) in every window [t_i, t_k] between two frames the gated bucket
 * admitted, it admitted at most max(burst + rate * T, burst - 1 + rate * (T + tick))
 * frames (T = t_k - t_i; admission.md, "Token bucket"); (3) the gate's excess shows on
 * some runs (it is tested, not absent) and never on devices at most one frame per tick.
 */
static int test_bucket_gate(void)
{
	static const lg_u32 rates[] = {1, 10, 250, 251, 1000, 1250, 3000, 100000};
	static lg_u64 t[GATE_FRAMES];
	static int got[GATE_FRAMES];
	int fails = 0, n, i, k, excess_runs = 0, slow_excess = 0, exact_all = 0;
	lg_u64 max_excess = 0; /* nanoframes over burst + rate * T, over all windows */

	for (n = 0; n < GATE_TRIALS && fails < 5; n++) {
		struct lg_admit_dev d = {.rate = rates[rnd() % 8], .burst = rnd() % 8 + 1};
		struct lg_admit_state ex = {0}, ga = {0};
		lg_u64 period = 1000000000ULL / d.rate, now = 1000000000ULL + rnd() % 7919;
		int n_ex = 0, n_ga = 0, exact_clean = 1;

		for (i = 0; i < GATE_FRAMES; i++) {
			/* Back-to-back bursts, gaps around the period, and long rests; every
			 * fourth run keeps to the period or slower after its first burst. */
			lg_u32 kind = rnd() % 16;

			if (n % 4 == 0 && i >= (int)d.burst && kind < 15)
				now += period + (lg_u64)rnd() % (period + 1);
			else if (i)
				now += kind < 4	   ? 0
				       : kind < 15 ? period / 2 + (lg_u64)rnd() % (period + 1)
						   : (lg_u64)rnd() % (20 * period + 1);
			t[i] = now;
			k = bucket_take(&ex, &d, now, 0);
			got[i] = bucket_take(&ga, &d, now, lg_admit_jiffy(now));
			exact_clean &= k;
			n_ex += k;
			n_ga += got[i];
			if (exact_clean && !got[i]) {
				fprintf(stderr, "FAIL bucket gate: rate %u burst %u frame %d at %llu: "
					"the exact bucket admitted every frame so far, the gate "
					"dropped\n", d.rate, d.burst, i, (unsigned long long)now);
				fails++;
			}
		}
		exact_all += exact_clean;
		excess_runs += n_ga > n_ex;
		for (i = 0; i < GATE_FRAMES; i++) {
			int count = 0;

			if (!got[i])
				continue;
			for (k = i; k < GATE_FRAMES; k++) {
				lg_u64 T = t[k] - t[i], have, exact, gated;

				if (!got[k])
					continue;
				count++;
				have = (lg_u64)count * LG_ADMIT_TOKEN_SCALE;
				exact = (lg_u64)d.burst * LG_ADMIT_TOKEN_SCALE + d.rate * T;
				gated = (lg_u64)(d.burst - 1) * LG_ADMIT_TOKEN_SCALE +
					d.rate * (T + LG_ADMIT_JIFFY_NS);
				if (have > exact && have - exact > max_excess)
					max_excess = have - exact;
				if (have > exact && d.rate * LG_ADMIT_JIFFY_NS <= LG_ADMIT_TOKEN_SCALE)
					slow_excess++;
				if (have > exact && have > gated) {
					fprintf(stderr, "FAIL bucket gate: rate %u burst %u: %d frames "
						"in %llu ns, over the bound\n", d.rate, d.burst,
						count, (unsigned long long)T);
					fails++;
					break;
				}
			}
		}
	}
	if (!excess_runs) {
		fprintf(stderr, "FAIL bucket gate: no run shows the gate's excess\n");
		fails++;
	}
	if (slow_excess) {
		fprintf(stderr, "FAIL bucket gate: %d windows over burst + rate * T at <= 1 frame "
			"per tick\n", slow_excess);
		fails++;
	}
	printf("bucket gate: %d runs of %d frames, %d admitted whole by the exact bucket, %d "
	       "with more admitted than the exact bucket, at most %.2f frames over burst + "
	       "rate * T in a window\n",
	       n, GATE_FRAMES, exact_all, excess_runs, (double)max_excess / 1e9);
	return fails;
}

static const char usage[] =
	"Usage: test_admit_model [options]\n"
	"\n"
	"The admission cases (admit_testlib.c) against the user-space build of\n"
	"lg_admit_parse() and lg_admit_decide(), no kernel needed, including frames shorter\n"
	"than an Ethernet header and multi-buffer frames split anywhere; and the device table\n"
	"the loader builds: every id of a full table found with its own entry, absent ids not,\n"
	"duplicates refused, the probe bound met after a few seeds; the token bucket's refill\n"
	"gate against the exact bucket on random arrivals (never stricter, within its bound).\n"
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
	fails += test_bucket_gate();
	printf("%zu frames, %d failed checks\n", log.n, fails);
	lgt_log_free(&log);
	lgt_model_fini(&model);
	return fails ? 1 : 0;
}
