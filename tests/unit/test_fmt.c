// SPDX-License-Identifier: MIT
/*
 * lg_fmt_g6(), lg_fmt_f1() and lg_fmt_u64() (include/linegate/fmt.h): known answers by hand,
 * then the same characters as snprintf("%.6g") and snprintf("%.1f") over millions of values:
 * random bit patterns (every exponent, subnormals), floats as the scores are, values near
 * powers of ten and near rounding ties of six digits, negative zero; score lines against the
 * old snprintf() format, alone and through the whole output path (lg_output_drain_all()).
 */
#include <linegate/fmt.h>

#include "dataplane.h"

#include <inttypes.h>

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_fmt [MILLIONS]\n"
	"lg_fmt_g6() and lg_fmt_f1() against known answers and against snprintf() over\n"
	"MILLIONS million values of each kind (default 2).\n"
	"\n" LGT_EXIT_STATUS;

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	/* splitmix64 */
	uint64_t z = (rng += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double from_bits(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static unsigned long mismatches, compared;

/* Both formatters against snprintf for v (finite only: the score line never passes others,
 * and they go to snprintf anyway). */
static void parity(double v)
{
	char want[LG_FMT_F1_MAX], got[LG_FMT_F1_MAX];
	size_t n;

	if (!isfinite(v))
		return;
	compared++;
	snprintf(want, sizeof(want), "%.6g", v);
	n = lg_fmt_g6(got, v);
	if (n != strlen(want) || strcmp(got, want)) {
		if (mismatches++ < 20)
			fprintf(stderr, "%%.6g of %a: got '%s', snprintf '%s'\n", v, got, want);
	}
	if (fabs(v) < 1e20) {
		snprintf(want, sizeof(want), "%.1f", v);
		n = lg_fmt_f1(got, v);
		if (n != strlen(want) || strcmp(got, want)) {
			if (mismatches++ < 20)
				fprintf(stderr, "%%.1f of %a: got '%s', snprintf '%s'\n", v, got,
					want);
		}
	}
}

static void known_g6(double v, const char *want)
{
	char got[LG_FMT_G6_MAX];
	size_t n = lg_fmt_g6(got, v);

	CHECK_EQ(n, strlen(want));
	CHECK_STR(got, want);
}

static void known_f1(double v, const char *want)
{
	char got[LG_FMT_F1_MAX];
	size_t n = lg_fmt_f1(got, v);

	CHECK_EQ(n, strlen(want));
	CHECK_STR(got, want);
}

static void known_answers(void)
{
	char u[24];

	known_g6(0.0, "0");
	known_g6(-0.0, "-0");
	known_g6(1.0, "1");
	known_g6(-1.5, "-1.5");
	known_g6(0.731f, "0.731");		/* a float score: 0.73100000619888306 */
	known_g6(7.52f, "7.52");
	known_g6(12.5, "12.5");
	known_g6(100000, "100000");
	known_g6(999999, "999999");
	known_g6(1000000, "1e+06");
	known_g6(999999.5, "1e+06");		/* a tie, up to even: 1000000 */
	known_g6(999998.5, "999998");		/* a tie, down to even */
	known_g6(9.999995e5, "1e+06");		/* 999999.5 */
	known_g6(9.99995, "9.99995");		/* 9.9999500000000001165 */
	known_g6(9.999951, "9.99995");
	known_g6(9.9999951, "10");
	known_g6(1234565, "1.23456e+06");	/* exact tie, to even */
	known_g6(1234575, "1.23458e+06");	/* exact tie, to even (up) */
	known_g6(123456.5, "123456");		/* exact tie, to even */
	known_g6(0.0001, "0.0001");
	known_g6(0.00001, "1e-05");
	known_g6(0.000123456789, "0.000123457");
	known_g6(123456789.0, "1.23457e+08");
	known_g6(1e100, "1e+100");
	known_g6(-2.5e-100, "-2.5e-100");
	known_g6(DBL_MAX, "1.79769e+308");
	known_g6(DBL_MIN, "2.22507e-308");
	known_g6(DBL_TRUE_MIN, "4.94066e-324"); /* the smallest subnormal */
	known_g6(from_bits(0x000fffffffffffffull), "2.22507e-308"); /* the largest */
	known_g6(1e-320, "9.99989e-321");
	known_g6(0.1, "0.1");
	known_g6(1.0 / 3, "0.333333");
	known_g6(2.0 / 3, "0.666667");
	known_g6(100, "100");
	known_g6(123.456, "123.456");
	known_g6(-123456.7, "-123457");

	known_f1(0.0, "0.0");
	known_f1(-0.0, "-0.0");
	known_f1(-0.04, "-0.0");
	known_f1(0.25, "0.2");			/* exact tie, to even */
	known_f1(0.75, "0.8");
	known_f1(0.35, "0.3");			/* 0.34999999999999997780 */
	known_f1(1.45, "1.4");			/* 1.4499999999999999556 */
	known_f1(1234.5678, "1234.6");
	known_f1(18446744073709551.0, "18446744073709552.0");
	known_f1(1e18, "1000000000000000000.0"); /* snprintf's path */

	CHECK_EQ(lg_fmt_u64(u, 0), 1);
	CHECK(!memcmp(u, "0", 1));
	CHECK_EQ(lg_fmt_u64(u, UINT64_MAX), 20);
	CHECK(!memcmp(u, "18446744073709551615", 20));
}

/* lg_fmt_u64() against "%" PRIu64: 0, every power of ten and its neighbours, and n values
 * of every length (two digits at a time, from a count of the digits by the highest bit). */
static void u64_values(unsigned long n)
{
	unsigned long differ = 0;
	uint64_t p = 1;

	for (int k = 0; k <= 20; k++, p *= 10)
		for (int d = -2; d <= 2; d++) {
			uint64_t v = (k == 20 ? 0 : p) + (uint64_t)(int64_t)d; /* 0 and UINT64_MAX */
			char got[24], want[24];
			size_t g = lg_fmt_u64(got, v);
			int w = snprintf(want, sizeof(want), "%" PRIu64, v);

			differ += (int)g != w || memcmp(got, want, g);
		}
	for (unsigned long i = 0; i < n; i++) {
		uint64_t v = next() >> (next() % 64);
		char got[24], want[24];
		size_t g = lg_fmt_u64(got, v);
		int w = snprintf(want, sizeof(want), "%" PRIu64, v);

		differ += (int)g != w || memcmp(got, want, g);
	}
	CHECK_EQ(differ, 0);
}

/* The score line as output.c wrote it with one snprintf() before lg_out_score_line(). */
static int old_line(const struct lg_event *e, const char *more, const char *meta, char *line,
		    size_t size)
{
	char score[32];
	uint64_t from = e->arrival_ns ? e->arrival_ns : e->rx_ns;
	double lat = e->scored_ns > from ? (double)(e->scored_ns - from) / 1000.0 : 0.0;

	if (e->nonfinite || !isfinite(e->score))
		snprintf(score, sizeof(score), "null,\"nonfinite\":true");
	else
		snprintf(score, sizeof(score), "%.6g", (double)e->score);
	return snprintf(line, size,
		"{\"type\":\"%s\",\"device\":%" PRIu32 ",\"name\":\"%s\",\"channel\":%u,"
		"\"score\":%s,\"threshold\":%.6g,\"seq\":%" PRIu64 ",\"time_ns\":%" PRIu64
		",\"latency_us\":%.1f,\"model_epoch\":%" PRIu64 "%s%s}\n",
		e->alert ? "alert" : "score", e->device_id, e->name, e->channel, score,
		e->threshold, e->seq, e->scored_wall_ns, lat, e->model_epoch, more, meta);
}

/* Random rows (and a few extremes) give the same line both ways; a line that does not fit
 * is refused whole. */
static void score_lines(unsigned long n)
{
	static struct lg_event e;
	char want[4096], got[4096];
	unsigned long differ = 0;

	for (unsigned long i = 0; i < n; i++) {
		uint32_t u = (uint32_t)next();
		const char *more = i % 7 ? "" : ",\"channel_name\":\"accel\"";
		const char *meta = i % 5 ? "" : ",\"line\":\"press-3\"";
		int a, b;

		memset(&e, 0, sizeof(e));
		e.alert = next() & 1;
		e.device_id = (uint32_t)next();
		snprintf(e.name, sizeof(e.name), "press-%u-vib", (unsigned)(next() % 1000));
		e.channel = (uint8_t)next();
		memcpy(&e.score, &u, sizeof(e.score));
		if (i % 3)
			e.score = (float)(next() % 100000) / 1000.0f;
		e.nonfinite = i % 101 == 0;
		e.threshold = (float)(next() % 100000) / 100.0f;
		e.seq = i % 11 ? next() % 1000000 : UINT64_MAX;
		e.scored_wall_ns = next();
		e.rx_ns = next() % (1ull << 50);
		e.arrival_ns = i % 13 ? e.rx_ns - next() % 1000000 : 0;
		e.scored_ns = e.rx_ns + next() % 100000000000ull;
		e.model_epoch = next() % 100;
		a = old_line(&e, more, meta, want, sizeof(want));
		b = lg_out_score_line(&e, more, meta, got, sizeof(got));
		if (a != b || strcmp(want, got)) {
			if (differ++ < 10)
				fprintf(stderr, "score line: got  %s     want %s", got, want);
		}
	}
	CHECK_EQ(differ, 0);
	/* Too long for the buffer: refused, not cut. */
	CHECK_EQ(lg_out_score_line(&e, "", "", got, 20), -ENOSPC);
	CHECK_EQ(old_line(&e, "", "", want, sizeof(want)),
		 lg_out_score_line(&e, "", "", got, (size_t)old_line(&e, "", "", want, 4096) + 1));
	CHECK_EQ(lg_out_score_line(&e, "", "", got, (size_t)old_line(&e, "", "", want, 4096)),
		 -ENOSPC);
}

/* A random row as score_lines() makes them; alert rows for the alert ring. */
static void random_row(struct lg_event *e, unsigned long i, bool alert)
{
	uint32_t u = (uint32_t)next();

	memset(e, 0, sizeof(*e));
	e->kind = LG_EV_ROW;
	e->alert = alert;
	e->device_id = (uint32_t)next();
	snprintf(e->name, sizeof(e->name), "press-%u-vib", (unsigned)(next() % 1000));
	e->channel = (uint8_t)next();
	memcpy(&e->score, &u, sizeof(e->score));
	if (i % 3)
		e->score = (float)(next() % 100000) / 1000.0f;
	e->nonfinite = i % 101 == 0;
	e->threshold = i % 4 ? 7.52f : (float)(next() % 100000) / 100.0f;
	e->seq = i % 11 ? next() % 1000000 : UINT64_MAX;
	e->scored_wall_ns = i % 16 ? 1796398736791453334ull + i / 16 : next();
	e->rx_ns = next() % (1ull << 50);
	e->arrival_ns = i % 13 ? e->rx_ns - next() % 1000000 : 0;
	e->scored_ns = e->rx_ns + next() % 100000000000ull;
	e->model_epoch = next() % 3;
	if (i % 7 == 0)
		snprintf(e->channel_name, sizeof(e->channel_name), "accel");
	if (i % 9 == 0)
		snprintf(e->fields, sizeof(e->fields), "\"temp\":%u.5", (unsigned)(next() % 90));
}

/*
 * The whole output path (lg_output_drain_all(): rings, lines formatted in the output
 * buffer or beside it and copied, flushes, write(2)) writes, line for line, what the one
 * snprintf() of the old format writes: n rows in runs of 1000 alerts or scores, so many
 * 64 KiB buffers fill and lines land at every offset.
 */
static void drained_lines(unsigned long n)
{
	static struct lg_dp dp;
	static struct lg_event rows[1000];
	FILE *f = tmpfile();
	char *text, *line, want[4096];
	unsigned long differ = 0, lines = 0;
	size_t cap = 4096 * (n + 1000), got = 0;
	ssize_t r;

	CHECK(f != NULL);
	dp.out = f;
	dp.nworkers = 1;
	dp.workers[0].dp = &dp;
	CHECK(!lg_spsc_init(&dp.workers[0].alerts, 1024));
	CHECK(!lg_spsc_init(&dp.workers[0].scores_ring, 1024));
	text = malloc(cap);
	CHECK(text != NULL);
	line = text;
	for (unsigned long done = 0; done < n; done += 1000) {
		bool alert = done / 1000 % 2;
		unsigned k = n - done < 1000 ? (unsigned)(n - done) : 1000;

		for (unsigned i = 0; i < k; i++) {
			random_row(&rows[i], done + i, alert);
			CHECK(lg_spsc_push(alert ? &dp.workers[0].alerts :
						   &dp.workers[0].scores_ring, &rows[i]));
		}
		lg_output_drain_all(&dp);
		while ((r = pread(fileno(f), text + got, cap - got - 1, (off_t)got)) > 0)
			got += (size_t)r;
		text[got] = '\0';
		for (unsigned i = 0; i < k; i++) {
			char more[512] = "", *nl = strchr(line, '\n');
			const struct lg_event *e = &rows[i];

			if (e->channel_name[0])
				snprintf(more, sizeof(more), ",\"channel_name\":\"%s\"",
					 e->channel_name);
			if (e->fields[0])
				snprintf(more + strlen(more), sizeof(more) - strlen(more),
					 ",\"fields\":{%s}", e->fields);
			old_line(e, more, "", want, sizeof(want));
			if (!nl || strncmp(line, want, (size_t)(nl - line + 1))) {
				if (differ++ < 5)
					fprintf(stderr, "drained line %lu: got  %.*s\n     want %s",
						done + i, nl ? (int)(nl - line) : 80, line, want);
				if (!nl)
					break;
			}
			line = nl + 1;
			lines++;
		}
	}
	CHECK_EQ(differ, 0);
	CHECK_EQ(lines, n);
	CHECK_EQ((size_t)(line - text), got); /* nothing more */
	CHECK_EQ(atomic_load(&dp.out_written), n);
	CHECK_EQ(atomic_load(&dp.out_dropped), 0);
	CHECK_EQ(atomic_load(&dp.out_alerts) + atomic_load(&dp.out_k_written[LG_OUT_SCORE]), n);
	free(text);
	fclose(f);
	lg_spsc_free(&dp.workers[0].alerts);
	lg_spsc_free(&dp.workers[0].scores_ring);
}

int main(int argc, char **argv)
{
	int first = lgt_cli(argc, argv, usage, 0, 1);
	unsigned long millions = first < argc ? strtoul(argv[first], NULL, 10) : 2;
	unsigned long n = millions * 1000000ul;

	known_answers();

	/* Every power of ten and the doubles around it; every 6-digit tie x.xxxxx5 near it. */
	for (int e = -323; e <= 308; e++) {
		char s[32];
		double p;

		snprintf(s, sizeof(s), "1e%d", e);
		p = strtod(s, NULL);
		for (int k = -3; k <= 3; k++) {
			double v = p;

			for (int j = 0; j < (k < 0 ? -k : k); j++)
				v = nextafter(v, k < 0 ? 0 : INFINITY);
			parity(v);
			parity(-v);
		}
		for (int k = 0; k < 50; k++) {
			snprintf(s, sizeof(s), "%d.%05d5e%d", 1 + (int)(next() % 9),
				 (int)(next() % 100000), e);
			p = strtod(s, NULL);
			parity(p);
			parity(nextafter(p, 0));
			parity(nextafter(p, INFINITY));
		}
	}
	/* Integers and halves with seven digits: exact ties of six. */
	for (int i = 1000000; i < 1100000; i++) {
		parity(i);
		parity(i / 10.0);
		parity(i + 0.5);
	}
	for (unsigned long i = 0; i < n; i++) {
		float f;
		uint32_t u = (uint32_t)next();

		/* Any bit pattern: every exponent, subnormals, both signs. */
		parity(from_bits(next()));
		/* A float, as a score is. */
		memcpy(&f, &u, sizeof(f));
		parity(f);
		/* Scores as they come: 0..1000 with a few digits, and latencies in us. */
		parity((double)(next() % 100000000) / 1e5);
		parity((double)(next() % 10000000000ull) / 1000.0);
	}
	u64_values(n / 2);
	score_lines(n / 10 + 1000);
	drained_lines(n / 200 + 1000);
	fprintf(stderr, "test_fmt: %lu values compared with snprintf, %lu differed\n", compared,
		mismatches);
	CHECK_EQ(mismatches, 0);
	return lgt_done("test_fmt");
}
