// SPDX-License-Identifier: MIT
/*
 * Drift monitors (dataplane/drift.h): PSI and Page-Hinkley against values worked out by
 * hand, the decile reference of a model (lg_detector_set_reference) and its file form, and
 * the policy's detection.drift keys with their defaults and errors.
 */
#include "../../dataplane/drift.h"

#include <linegate/detector.h>
#include <linegate/policy.h>

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

void openblas_set_num_threads(int n);

static void test_psi(void)
{
	/* (0.2 - 0.5) ln(0.2 / 0.5) + (0.8 - 0.5) ln(0.8 / 0.5) = 0.3 ln 4 */
	CHECK_NEAR(lg_psi((const double[]){0.2, 0.8}, (const double[]){0.5, 0.5}, 2),
		   0.3 * 1.3862943611198906, 1e-12);
	/* An empty bin counts as 1e-4: (1e-4 - 0.5) ln(2e-4) + 0.5 ln 2 */
	CHECK_NEAR(lg_psi((const double[]){0, 1}, (const double[]){0.5, 0.5}, 2),
		   0.4999 * 8.517193191416238 + 0.5 * 0.6931471805599453, 1e-12);
	/* Ten deciles, every row in the top one: 9 (1e-4 - 0.1) ln(1e-3) + 0.9 ln 10 */
	{
		double p[10] = {[9] = 1}, q[10];

		for (int b = 0; b < 10; b++)
			q[b] = 0.1;
		CHECK_NEAR(lg_psi(p, q, 10),
			   9 * 0.0999 * 6.907755278982137 + 0.9 * 2.302585092994046, 1e-9);
		CHECK_NEAR(lg_psi(q, q, 10), 0, 0);
	}
}

static void test_page_hinkley(void)
{
	struct lg_ph ph;
	double stat = -1;
	int t;

	/* delta 0.5, lambda 1.5 on 0 0 0 0 2 2: m = -0.5 -1 -1.5 -2 (the minimum), then
	 * + (2 - 0.4 - 0.5) = -0.9 (statistic 1.1) and + (2 - 2/3 - 0.5) (statistic 1.9333):
	 * the alarm comes at the sixth value, not the fifth. */
	lg_ph_reset(&ph, 1);
	for (t = 0; t < 4; t++)
		CHECK(!lg_ph_step(&ph, 0, 0.5, 1.5, &stat));
	CHECK_NEAR(stat, 0, 1e-12);
	CHECK(!lg_ph_step(&ph, 2, 0.5, 1.5, &stat));
	CHECK_NEAR(stat, 1.1, 1e-12);
	CHECK(lg_ph_step(&ph, 2, 0.5, 1.5, &stat));
	CHECK_NEAR(stat, 1.1 + 2 - 2.0 / 3 - 0.5, 1e-12);
	/* Downward, delta 0: 2 2 2 2 0 leaves m at 0 and then 0 - 1.6 (the mean is 1.6). */
	lg_ph_reset(&ph, -1);
	for (t = 0; t < 4; t++)
		CHECK(!lg_ph_step(&ph, 2, 0, 1.5, &stat));
	CHECK(lg_ph_step(&ph, 0, 0, 1.5, &stat));
	CHECK_NEAR(stat, 1.6, 1e-12);
	/* A falling level never raises the upward test, however long. */
	lg_ph_reset(&ph, 1);
	for (t = 0; t < 1000; t++)
		CHECK_EQ(lg_ph_step(&ph, t < 500 ? 1 : -1, 0.1, 5, &stat), 0);
	/* Stationary noise of +-0.3 around a level, with delta 0.1 and lambda 20 (smaller than
	 * the defaults): no alarm in 100000 values. */
	lg_ph_reset(&ph, 1);
	{
		unsigned long long x = 12345;
		int alarms = 0;

		for (t = 0; t < 100000; t++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			alarms += lg_ph_step(
			    &ph, -1.5 + 0.6 * ((double)(x >> 11) / 9007199254740992.0 - 0.5), 0.1,
			    20, &stat);
		}
		CHECK_EQ(alarms, 0);
	}
}

static void test_reference(void)
{
	enum { N = 100 };
	float *rows = calloc((size_t)N * LG_FEAT_N, sizeof(float));
	struct lg_detector det, back;
	char path[] = "/tmp/lg_drift_refXXXXXX", err[512];
	int fd;

	if (!rows)
		exit(1);
	/* Feature j of row i is i + 1 (rows 1..100, shuffled order), except feature 1,
	 * a constant 7. */
	for (int i = 0; i < N; i++)
		for (int j = 0; j < LG_FEAT_N; j++)
			rows[(size_t)i * LG_FEAT_N + j] = j == 1 ? 7.0f : (float)((i * 37) % N + 1);
	CHECK_EQ(lg_detector_fit(rows, N, LG_FEAT_N, 0.99, 1.0, 8, &det), 0);
	CHECK_EQ(det.has_ref, 0);
	CHECK_EQ(lg_detector_set_reference(&det, rows, 9), -EINVAL); /* fewer rows than bins */
	CHECK_EQ(lg_detector_set_reference(&det, rows, N), 0);
	CHECK_EQ(det.has_ref, 1);
	/* deciles of 1..100 are 10, 20, ... 90; each bin holds exactly 10 rows */
	for (int b = 0; b < LG_REF_BINS - 1; b++)
		CHECK_NEAR(det.ref_edge[0][b], 10.0 * (b + 1), 0);
	for (int b = 0; b < LG_REF_BINS; b++)
		CHECK_NEAR(det.ref_frac[0][b], 0.1, 1e-12);
	CHECK_EQ(lg_detector_ref_bin(&det, 0, 10.0f), 0);
	CHECK_EQ(lg_detector_ref_bin(&det, 0, 10.5f), 1);
	CHECK_EQ(lg_detector_ref_bin(&det, 0, -1e9f), 0);
	CHECK_EQ(lg_detector_ref_bin(&det, 0, 95.0f), 9);
	CHECK_EQ(lg_detector_ref_bin(&det, 0, 1e9f), 9);
	/* A constant feature: every edge is the constant, every row in bin 0. */
	CHECK_NEAR(det.ref_frac[1][0], 1.0, 1e-12);
	CHECK_NEAR(det.ref_edge[1][8], 7.0, 0);
	/* Saved and loaded, exactly. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	if (back.has_ref != 1)
		fprintf(stderr, "%s\n", err);
	CHECK_EQ(back.has_ref, 1);
	CHECK(!memcmp(back.ref_edge, det.ref_edge, sizeof(*det.ref_edge) * LG_FEAT_N));
	CHECK(!memcmp(back.ref_frac, det.ref_frac, sizeof(*det.ref_frac) * LG_FEAT_N));
	lg_detector_free(&back);
	/* Without one it loads with none; a broken one is refused and named. */
	det.has_ref = 0;
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.has_ref, 0);
	lg_detector_free(&back);
	det.has_ref = 1;
	det.ref_frac[3][0] = 0.5; /* fractions no longer sum to 1 */
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "'reference' must have 'edges'");
	det.ref_frac[3][0] = 0.1;
	det.ref_edge[5][4] = 1e9; /* edges no longer rise */
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "'reference' must have 'edges'");
	unlink(path);
	lg_detector_free(&det);
	free(rows);
}

/*
 * The reference's floor (lg_detector_add_psi_floor()): rows 1..100 in time order against
 * their own deciles. Blocks of 50 rows: each holds half the bins at 0.2 and none in the
 * others, PSI 5 (0.1 ln 2) + 5 (0.1 - 1e-4) ln(0.1 / 1e-4) (fractions floored at 1e-4);
 * feature 1 (a constant) 0. Kept as the largest over calls, saved and loaded; a new
 * reference drops it; a negative floor or one without psi_block is refused.
 */
static void test_floor(void)
{
	enum { N = 100 };
	float *rows = calloc((size_t)N * LG_FEAT_N, sizeof(float));
	const double want = 5 * 0.1 * log(2.0) + 5 * (0.1 - 1e-4) * log(0.1 / 1e-4);
	struct lg_detector det, back;
	char path[] = "/tmp/lg_drift_floorXXXXXX", err[512];
	double p[LG_REF_BINS] = { 0.2, 0.2, 0.2, 0.2, 0.2 }, q[LG_REF_BINS];
	json_object *o, *d = NULL, *r = NULL;
	int fd;

	if (!rows)
		exit(1);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < LG_FEAT_N; j++)
			rows[(size_t)i * LG_FEAT_N + j] = j == 1 ? 7.0f : (float)(i + 1);
	CHECK_EQ(lg_detector_fit(rows, N, LG_FEAT_N, 0.99, 1.0, 8, &det), 0);
	CHECK_EQ(lg_detector_add_psi_floor(&det, rows, N, 1, 50), -EINVAL); /* no reference */
	CHECK_EQ(lg_detector_set_reference(&det, rows, N), 0);
	/* no complete block: nothing measured */
	CHECK_EQ(lg_detector_add_psi_floor(&det, rows, N, 1, 101), 0);
	CHECK(!det.ref_floor && !det.ref_block);
	/* 2 channels a window: blocks of 50 windows are 100 rows, one block of all */
	CHECK_EQ(lg_detector_add_psi_floor(&det, rows, N, 2, 50), 0);
	CHECK_EQ(det.ref_block, 50);
	CHECK_NEAR(det.ref_floor[0], 0, 1e-12);
	CHECK_EQ(lg_detector_add_psi_floor(&det, rows, N, 1, 50), 0);
	for (int b = 0; b < LG_REF_BINS; b++)
		q[b] = 0.1;
	CHECK_NEAR(lg_detector_psi(p, q), want, 1e-12);
	CHECK_NEAR(lg_psi(p, q, LG_REF_BINS), want, 1e-12);
	CHECK_NEAR(det.ref_floor[0], want, 1e-9);
	CHECK_NEAR(det.ref_floor[2], want, 1e-9);
	CHECK_NEAR(det.ref_floor[1], 0, 1e-12);
	/* the largest over calls: a block of all rows (PSI 0) leaves it */
	CHECK_EQ(lg_detector_add_psi_floor(&det, rows, N, 1, 100), 0);
	CHECK_NEAR(det.ref_floor[0], want, 1e-9);
	CHECK_EQ(det.ref_block, 100);
	det.ref_block = 50;
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.ref_block, 50);
	CHECK(back.ref_floor && !memcmp(back.ref_floor, det.ref_floor, sizeof(double) * LG_FEAT_N));
	lg_detector_free(&back);
	/* refused: a negative floor; a floor without its block */
	o = json_object_from_file(path);
	CHECK(o && json_object_object_get_ex(o, "reference", &r));
	if (r && json_object_object_get_ex(r, "psi_floor", &d)) {
		json_object_array_put_idx(d, 3, json_object_new_double(-0.5));
		CHECK_EQ(json_object_to_file(path, o), 0);
		CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, "'psi_floor' must be one number >= 0");
		json_object_array_put_idx(d, 3, json_object_new_double(0.5));
		json_object_object_del(r, "psi_block");
		CHECK_EQ(json_object_to_file(path, o), 0);
		CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, "with 'psi_block'");
	}
	json_object_put(o);
	/* a new reference drops the floor measured against the old one */
	CHECK_EQ(lg_detector_set_reference(&det, rows, N), 0);
	CHECK(!det.ref_floor && !det.ref_block);
	unlink(path);
	lg_detector_free(&det);
	free(rows);
}

static void test_policy(void)
{
	static const char keys[] = "version: 1\n"
				   "detection:\n"
				   "  drift:\n"
				   "    psi_windows: 200\n"
				   "    psi_threshold: 0.1\n"
				   "    ph_delta: 0.05\n"
				   "    ph_lambda: 30\n"
				   "    enabled: false\n";
	static const struct {
		const char *text, *err;
	} bad[] = {
	    {"version: 1\ndetection:\n  drift:\n    psi_threshold: 0\n",
	     "d.yaml:4:20: 'psi_threshold' must be above 0"},
	    {"version: 1\ndetection:\n  drift:\n    psi_windows: 5\n",
	     "d.yaml:4:18: 'psi_windows' is 5, must be between 10 and 1000000"},
	    {"version: 1\ndetection:\n  drift:\n    ph_lamda: 3\n",
	     "d.yaml:4:5: unknown drift field 'ph_lamda': did you mean 'ph_lambda'?"},
	    {"version: 1\ndetection:\n  drift:\n    enabled: 1\n",
	     "d.yaml:4:14: 'enabled' must be true or false"},
	    {"version: 1\ndetection:\n  drift: 3\n", "d.yaml:3:10: 'drift' must be a mapping"},
	};
	struct lg_policy p;
	char err[512];

	CHECK_EQ(lg_policy_parse("version: 1\n", 11, "d.yaml", &p, err, sizeof(err)), 0);
	CHECK(p.drift.enabled);
	CHECK_EQ(p.drift.psi_windows, 1000);
	CHECK_NEAR(p.drift.psi_threshold, 0.25, 1e-7);
	CHECK_NEAR(p.drift.ph_delta, 0.5, 1e-7);
	CHECK_NEAR(p.drift.ph_lambda, 50, 0);
	lg_policy_free(&p);
	CHECK_EQ(lg_policy_parse(keys, strlen(keys), "d.yaml", &p, err, sizeof(err)), 0);
	CHECK(!p.drift.enabled);
	CHECK_EQ(p.drift.psi_windows, 200);
	CHECK_NEAR(p.drift.psi_threshold, 0.1, 1e-7);
	CHECK_NEAR(p.drift.ph_delta, 0.05, 1e-7);
	CHECK_NEAR(p.drift.ph_lambda, 30, 0);
	lg_policy_free(&p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECK(lg_policy_parse(bad[i].text, strlen(bad[i].text), "d.yaml", &p, err,
				      sizeof(err)) < 0);
		CHECK_STR_CONTAINS(err, bad[i].err);
	}
}

static const char usage[] =
	"Usage: test_drift [options]\n"
	"\n"
	"Drift monitors: PSI and Page-Hinkley against values worked out by hand, a model's\n"
	"decile reference and its file form, the reference's floor (the PSI of a recording's\n"
	"own blocks) worked out by hand, kept, saved, loaded and refused when malformed, and\n"
	"the policy's detection.drift keys.\n"
	"\n"
	"Options:\n"
	"  -h, --help  this text\n"
	"\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	openblas_set_num_threads(1);
	test_psi();
	test_page_hinkley();
	test_reference();
	test_floor();
	test_policy();
	return lgt_done("test_drift");
}
