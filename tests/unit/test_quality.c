// SPDX-License-Identifier: MIT
/*
 * Detection quality on labelled simulated machines, a smaller run of what
 * linegate-quality reports (docs/models.md): the figures the docs claim must hold.
 */
#include <math.h>

#include "../lgtest.h"
#include "quality.h"
#include "lifecycle.h"
#include "../lgt_cli.h"

void openblas_set_num_threads(int n);

static double recall(const struct lg_quality *q, enum lg_fault f, double sev)
{
	for (unsigned i = 0; i < q->ncells; i++)
		if (q->cell[i].fault == f && fabs(q->cell[i].severity - sev) < 1e-9)
			return (double)q->cell[i].detected / q->cell[i].trials;
	return -1;
}

static void report(const char *what, const struct lg_quality *q)
{
	printf("%s: false alarms %llu of %llu windows\n", what,
	       (unsigned long long)q->false_alarms, (unsigned long long)q->healthy_windows);
	for (unsigned i = 0; i < q->ncells; i++)
		printf("  %-9s %.2f: %u of %u\n", lg_fault_name(q->cell[i].fault),
		       q->cell[i].severity, q->cell[i].detected, q->cell[i].trials);
}

static const char usage[] =
	"Usage: test_quality [options]\n"
	"\n"
	"Detection quality on labelled simulated machines, a smaller run of what\n"
	"linegate-quality reports (docs/models.md): the figures the docs claim must hold (faults\n"
	"caught within their latency, false alarms on healthy windows below their bound).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout per configuration the false alarms and, per fault and severity, the\n"
	"faults caught, then \"test_quality: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

/*
 * lg_cluster95() (linegate-train's interval of cross-fitted false alarms): known answers.
 * Ten devices of 1000 windows. All alike: resampling them changes nothing, the Wilson
 * interval stays. One holding all 20 alarms: a resample holds it 0 times with probability
 * 0.9^10 = 0.35 (rate 0), 3 or more times with 0.070 and 4 or more with 0.013, so the
 * 97.5% quantile is 3 copies, 60 of 10 000 windows, far outside Wilson's 0.13-0.31%.
 */
static void test_cluster95(void)
{
	unsigned long long k[10] = { 0 }, n[10], one[10];
	double lo, hi, wlo, whi, lo2, hi2;

	for (int i = 0; i < 10; i++) {
		n[i] = 1000;
		one[i] = 1;
	}
	lg_cluster95(one, n, 10, &lo, &hi);
	lg_wilson95(10, 10000, &wlo, &whi);
	CHECK(lo == wlo && hi == whi);
	k[3] = 20;
	lg_cluster95(k, n, 10, &lo, &hi);
	printf("cluster95: 20 alarms in one of 10 devices: %.4f%% to %.4f%%\n", 100 * lo,
	       100 * hi);
	CHECK(lo == 0);
	CHECK(fabs(hi - 0.006) < 1e-12);
	lg_cluster95(k, n, 10, &lo2, &hi2);
	CHECK(lo2 == lo && hi2 == hi);
	/* one group: Wilson's */
	lg_cluster95(k + 3, n, 1, &lo, &hi);
	lg_wilson95(20, 1000, &wlo, &whi);
	CHECK(lo == wlo && hi == whi);
	/* fewer than LG_CLUSTER_MIN groups: Wilson's of the sums, not a resample of two (trial
	 * X2, s26: 73 alarms in one of two devices gave a lower end of 0%) */
	k[3] = 0;
	k[0] = 73;
	lg_cluster95(k, n, 2, &lo, &hi);
	lg_wilson95(73, 2000, &wlo, &whi);
	CHECK(lo == wlo && hi == whi && lo > 0.02);
	/* no alarm: exactly 0 below (rounding left 3.5e-18), z^2 / (n + z^2) above */
	lg_wilson95(0, 322, &wlo, &whi);
	CHECK(wlo == 0);
	CHECK_NEAR(whi, 3.841458820694124 / (322 + 3.841458820694124), 1e-12);
	lg_wilson95(5, 5, &wlo, &whi);
	CHECK(whi == 1);
}

int main(int argc, char **argv)
{
	struct lg_quality_conf c;
	struct lg_detector det;
	struct lg_quality q;

	lgt_cli(argc, argv, usage, 0, 0);
	openblas_set_num_threads(1);
	test_cluster95();
	/* The pipeline's default: 256-sample windows, margin 1.5. Bearing defects from
	 * severity 0.5 are caught within 3 windows; healthy windows stay quiet. */
	lg_quality_defaults(&c);
	c.margin = 1.5;
	c.train_machines = 32;
	c.train_windows = 300;
	c.healthy_machines = 16;
	c.healthy_windows = 1000;
	c.fault_trials = 200;
	c.severity[0] = 0.5;
	c.severity[1] = 1.0;
	c.nsev = 2;
	CHECK_EQ(lg_quality_train(&c, &det), 0);
	CHECK_EQ(lg_quality_run(&c, &det, &q), 0);
	report("window 256", &q);
	CHECK(q.false_alarms * 1000 <= q.healthy_windows);
	CHECK(recall(&q, LG_FAULT_BEARING, 0.5) >= 0.995);
	CHECK(recall(&q, LG_FAULT_BEARING, 1.0) >= 0.995);
	CHECK(recall(&q, LG_FAULT_IMBALANCE, 1.0) >= 0.9);
	lg_detector_free(&det);

	/* 2048-sample windows resolve the shaft orders: with margin 1, every kind from
	 * severity 0.25 (the full run in docs/models.md has 400 trials a cell). */
	c.window = 2048;
	c.margin = 1.0;
	c.train_windows = 150;
	c.healthy_windows = 500;
	c.fault_trials = 100;
	c.severity[0] = 0.25;
	c.severity[1] = 0.5;
	c.severity[2] = 1.0;
	c.nsev = 3;
	CHECK_EQ(lg_quality_train(&c, &det), 0);
	CHECK_EQ(lg_quality_run(&c, &det, &q), 0);
	report("window 2048", &q);
	CHECK(q.false_alarms * 1000 <= q.healthy_windows);
	for (unsigned i = 0; i < q.ncells; i++)
		CHECK(q.cell[i].detected * 100 >= q.cell[i].trials * 99);
	lg_detector_free(&det);
	return lgt_done("test_quality");
}
