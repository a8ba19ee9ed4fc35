// SPDX-License-Identifier: MIT
/* The signal generator: deterministic, independent of how samples are cut into calls,
 * and its operating point moves as documented (signal.h, docs/models.md). */
#include <linegate/signal.h>

#include <math.h>
#include <stdlib.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_signal [options]\n"
	"\n"
	"The vibration signal generator: deterministic, independent of how samples are cut into\n"
	"calls, and its operating point (speed, load, product changes) moves as documented\n"
	"(signal.h, docs/models.md).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout the speed and load ranges and set point changes of four simulated\n"
	"hours, then \"test_signal: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	enum { N = 200000 };
	static float a[N], b[N];
	struct lg_signal s1, s2;
	double smin = 1e9, smax = 0, lmin = 1e9, lmax = 0, last_target = 0;
	unsigned changes = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	/* Same seed, same samples, whether made in one call or in odd-sized pieces. */
	lg_signal_init(&s1, 42, 3, 10000);
	lg_signal_init(&s2, 42, 3, 10000);
	lg_signal_set_fault(&s1, LG_FAULT_LOOSENESS, 0.5, 12345);
	lg_signal_set_fault(&s2, LG_FAULT_LOOSENESS, 0.5, 12345);
	lg_signal_fill(&s1, a, N);
	for (size_t i = 0; i < N;) {
		size_t m = 1 + (i * 7919) % 1013;

		if (m > N - i)
			m = N - i;
		lg_signal_fill(&s2, b + i, m);
		i += m;
	}
	CHECK(!memcmp(a, b, sizeof(a)));
	/* Another device differs. */
	lg_signal_init(&s2, 42, 4, 10000);
	lg_signal_fill(&s2, b, 1000);
	CHECK(memcmp(a, b, 1000 * sizeof(float)));

	/* Four hours of a machine, looked at every 100 ms: speed stays on its set points
	 * (ramping between them), load within its range, products change every 20-120 s. */
	lg_signal_init(&s1, 7, 0, 10000);
	for (unsigned k = 0; k < 4 * 36000; k++) {
		double load = s1.load_level * (1 + s1.load_ou);

		lg_signal_skip(&s1, 1000);
		smin = fmin(smin, s1.speed_set);
		smax = fmax(smax, s1.speed_set);
		lmin = fmin(lmin, load);
		lmax = fmax(lmax, load);
		if (s1.speed_target != last_target)
			changes++;
		last_target = s1.speed_target;
		CHECK(s1.next_change - s1.t <= 120.0 + 1e-9);
	}
	printf("4 h: speed %.3f..%.3f x nominal, load %.3f..%.3f, %u set point changes\n", smin,
	       smax, lmin, lmax, changes);
	CHECK(smin >= 0.7 - 1e-9 && smin < 0.75);
	CHECK(smax <= 1.15 + 1e-9 && smax > 1.1);
	CHECK(lmin > 0.75 * 0.7 && lmin < 0.8);
	CHECK(lmax < 1.25 * 1.3 && lmax > 1.2);
	/* 14400 s / 70 s mean interval ~ 205 products; 3 of 4 draws change the set point. */
	CHECK(changes > 100 && changes < 220);
	return lgt_done("test_signal");
}
