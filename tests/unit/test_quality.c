// SPDX-License-Identifier: MIT
/*
 * Detection quality on labelled simulated machines, a smaller run of what
 * linegate-quality reports (docs/models.md): the figures the docs claim must hold.
 */
#include <math.h>

#include "../lgtest.h"
#include "quality.h"
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

int main(int argc, char **argv)
{
	struct lg_quality_conf c;
	struct lg_detector det;
	struct lg_quality q;

	lgt_cli(argc, argv, usage, 0, 0);
	openblas_set_num_threads(1);
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
