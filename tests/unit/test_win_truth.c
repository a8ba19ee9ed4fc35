// SPDX-License-Identifier: MIT
/*
 * Which windows the ground truth calls healthy or faulty (control/lifecycle.h), at the
 * boundaries: a window's start and end are sample counts over the rate in double precision,
 * and a window that ends exactly at a label's onset, --healthy-before or --after must not
 * be taken to cross it by a few ulps. The CWRU bearing data (docs/benchmarks.md, "A real
 * recording") met it: at 12 kHz and 1024 samples the window ending at the onset 4.608 s
 * computes its end as 4.6080000000000005, so linegate-quality took that healthy window as
 * the onset window (every fault 1 window late, one healthy window fewer judged).
 */
#include "lifecycle.h"

#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_win_truth [options]\n"
	"\n"
	"Which windows the ground truth calls healthy or faulty (control/lifecycle.h) at their\n"
	"boundaries: a window ending exactly at a label's onset, --healthy-before or --after is\n"
	"not taken across it by a rounding of its end time.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_win_truth: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

/* windows of n samples at fs from 0, as lg_win_rows_make() times them */
static double win_t(size_t i, unsigned n, double fs)
{
	return (double)(i * n) / fs;
}

static void onset_boundary(void)
{
	struct lg_label l = { .device = "m", .kind = "IR007", .onset = 4.608, .end = -1 };
	struct lg_labels ls = { .n = 1, .l = &l };
	struct lg_truth tr = { .labels = &ls, .before = -1 };
	const unsigned ns[4] = { 1024, 2048, 4096, 6144 };

	for (int k = 0; k < 4; k++) {
		unsigned n = ns[k];
		size_t last = (size_t)(4.608 * 12000 / n + 0.5) - 1; /* ends at the onset */
		double dur = (double)n / 12000;

		CHECK_EQ(lg_win_truth(&tr, "m", win_t(last, n, 12000), dur), LG_WIN_HEALTHY);
		CHECK_EQ(lg_win_truth(&tr, "m", win_t(last + 1, n, 12000), dur), LG_WIN_FAULTY);
		CHECK(!lg_win_overlaps(win_t(last, n, 12000), dur, l.onset, l.end));
		CHECK(lg_win_overlaps(win_t(last + 1, n, 12000), dur, l.onset, l.end));
	}
	/* a window one sample into the fault is faulty; one ending a sample before, healthy */
	CHECK_EQ(lg_win_truth(&tr, "m", 4.608 - 1024 / 12000.0 + 1 / 12000.0, 1024 / 12000.0),
		 LG_WIN_FAULTY);
	CHECK_EQ(lg_win_truth(&tr, "m", 4.608 - 1024 / 12000.0 - 1 / 12000.0, 1024 / 12000.0),
		 LG_WIN_HEALTHY);
	/* a label's end: the window starting at it is healthy again */
	l.end = 9.216;
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(108, 1024, 12000), 1024 / 12000.0),
		 LG_WIN_HEALTHY);
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(107, 1024, 12000), 1024 / 12000.0), LG_WIN_FAULTY);
}

static void before_and_range(void)
{
	struct lg_truth tr = { .before = 2.56 };
	double dur = 1024 / 12000.0;

	/* 30 windows of 1024 at 12 kHz end at 2.56 s: the 30th is before it */
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(29, 1024, 12000), dur), LG_WIN_HEALTHY);
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(30, 1024, 12000), dur), LG_WIN_UNKNOWN);
	tr.before = -1;
	tr.from = 0.256;
	tr.to = 2.56;
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(3, 1024, 12000), dur), LG_WIN_HEALTHY);
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(29, 1024, 12000), dur), LG_WIN_HEALTHY);
	CHECK_EQ(lg_win_truth(&tr, "m", win_t(2, 1024, 12000), dur), LG_WIN_UNKNOWN);
	/* --after S judges windows from S: the one starting at S (as a sum of samples) too */
	CHECK(!lg_time_after(2.56, win_t(30, 1024, 12000)));
	CHECK(lg_time_after(2.56, win_t(29, 1024, 12000)));
	CHECK(!lg_time_after(win_t(108, 2048, 48000), 4.608));
}

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	onset_boundary();
	before_and_range();
	return lgt_done("test_win_truth");
}
