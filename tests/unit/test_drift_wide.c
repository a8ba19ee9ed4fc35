// SPDX-License-Identifier: MIT
/* PSI drift on wide rows (issue 8, bands96-time5): a reference of the model's d features,
 * saved and loaded exactly; the data plane's drift stage bins a wide row against it, names
 * the features whose PSI is over the threshold (hand-computed values), and for a kNN per
 * channel reads each channel against its own reference. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/drift.h"
#include "../../dataplane/scorer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define WIN 4096
#define N 100

static const char policy_text[] =
	"version: 1\ndetection: {window: 4096, batch: 64, drift: {psi_windows: 10, "
	"psi_threshold: 0.25}}\ndevices:\n"
	"  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = { "k1", KEY1, NULL };

/* PSI of a feature whose rows all fall in one bin against ten bins of 0.1 each, empty bins
 * floored at 1e-4: (1 - 0.1) ln(1 / 0.1) + 9 (1e-4 - 0.1) ln(1e-4 / 0.1) */
#define PSI_ONE_BIN (0.9 * log(10.0) + 9 * 0.0999 * log(1000.0)) /* 8.28308 */
/* half the rows in the first bin, half in the last: 2 (0.5 - 0.1) ln 5 + 8 (0.0999) ln 1000 */
#define PSI_TWO_BINS (0.8 * log(5.0) + 8 * 0.0999 * log(1000.0)) /* 6.80817 */

/* The reference: rows 1..100 in every feature (deciles 10, 20, ..., 90), plus off. */
static float *ref_rows(size_t d, float off)
{
	float *r = malloc(sizeof(float) * N * d);

	for (size_t i = 0; r && i < N; i++)
		for (size_t j = 0; j < d; j++)
			r[i * d + j] = (float)((i * 37) % N + 1) + off;
	return r;
}

static void test_reference(size_t d, const float *rows)
{
	struct lg_detector det = { .d = d, .layout = LG_LAYOUT_BANDS96_TIME5 }, back;
	char path[] = "/tmp/lg_drift_wide_XXXXXX", err[256];
	int fd;

	CHECK_EQ(lg_detector_set_reference(&det, rows, 9), -EINVAL); /* fewer rows than bins */
	CHECK_EQ(lg_detector_set_reference(&det, rows, N), 0);
	CHECK_EQ(det.has_ref, 1);
	/* every feature, the last (past the basic row's 18) too */
	for (int b = 0; b < LG_REF_BINS - 1; b++) {
		CHECK_NEAR(det.ref_edge[0][b], 10.0 * (b + 1), 0);
		CHECK_NEAR(det.ref_edge[d - 1][b], 10.0 * (b + 1), 0);
	}
	for (int b = 0; b < LG_REF_BINS; b++)
		CHECK_NEAR(det.ref_frac[d - 1][b], 0.1, 1e-12);
	CHECK_EQ(lg_detector_ref_bin(&det, (unsigned)d - 1, 95.0f), 9);
	/* saved with the model and loaded, exactly: d arrays of 9 and of 10 */
	det.kind = LG_DETECTOR_MAHALANOBIS;
	det.mean = calloc(d, sizeof(float));
	det.w = calloc(d * d, sizeof(float));
	det.denom = 1;
	det.threshold = 1;
	det.window = WIN;
	CHECK(det.mean && det.w);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.d, d);
	CHECK_EQ(back.has_ref, 1);
	CHECK(!memcmp(back.ref_edge, det.ref_edge, sizeof(*det.ref_edge) * d));
	CHECK(!memcmp(back.ref_frac, det.ref_frac, sizeof(*det.ref_frac) * d));
	lg_detector_free(&back);
	/* a model without one loads without one, as before */
	det.has_ref = 0;
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.has_ref, 0);
	CHECK(!back.ref_edge && !back.ref_frac);
	lg_detector_free(&back);
	unlink(path);
	lg_detector_free(&det);

	/* a kNN per channel with a reference in each channel (the fuzz seed): each its own */
	const char *src = getenv("LG_SOURCE");
	char seed[4096];

	snprintf(seed, sizeof(seed), "%s/tests/fixtures/detector_fuzz/corpus/knn_per_channel_ref.json",
		 src ? src : "..");
	CHECK_EQ(lg_detector_load(seed, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.nch, 2);
	CHECK_EQ(back.has_ref, 0);
	CHECK(back.nch == 2 && back.ch[0].has_ref && back.ch[1].has_ref);
	if (back.nch == 2 && back.ch[1].has_ref) {
		CHECK_NEAR(back.ch[1].ref_edge[0][0], 101, 0);
		CHECK_NEAR(back.ch[1].ref_edge[1][8], 104.5, 0);
		CHECK_NEAR(back.ch[1].ref_frac[1][0], 0.2, 0);
		CHECK_EQ(lg_detector_ref_bin(&back.ch[1], 1, 100.4f), 0);
		CHECK_EQ(lg_detector_ref_bin(&back.ch[1], 1, 100.6f), 1);
	}
	lg_detector_free(&back);
}

static struct lg_worker *w;

/* One row of value v + off in every feature, except feature k (when < d): vk + off. */
static void row(struct lg_dev_state *s, uint64_t epoch, uint8_t ch, size_t d, float v, size_t k,
		float vk, float off)
{
	static float x[LG_FEAT_ROW_MAX];
	struct lg_event e = { .device_id = 1, .channel = ch, .model_epoch = epoch, .model_id = epoch,
			      .score = 1, .threshold = 1 };

	for (size_t j = 0; j < d; j++)
		x[j] = (j == k ? vk : v) + off;
	lg_drift_row(w, s, &e, x);
}

/* A block of ten rows, one in each reference bin (5, 15, ..., 95), except feature a always in
 * the first bin and feature b half in the first, half in the last. */
static void block(struct lg_dev_state *s, uint64_t epoch, size_t d, size_t a, size_t b)
{
	for (int i = 0; i < 10; i++) {
		static float x[LG_FEAT_ROW_MAX];
		struct lg_event e = { .device_id = 1, .model_epoch = epoch, .model_id = epoch, .score = 1,
				      .threshold = 1 };

		for (size_t j = 0; j < d; j++)
			x[j] = 10.0f * (float)i + 5;
		if (a < d)
			x[a] = 5;
		if (b < d)
			x[b] = i < 5 ? 5 : 95;
		lg_drift_row(w, s, &e, x);
	}
}

static void test_dataplane(struct lg_gen *g, struct lg_scorer *sc, size_t d, const float *rows)
{
	struct lg_dev_state *s = g->state[0];
	struct lg_detector det = { .d = d, .layout = LG_LAYOUT_BANDS96_TIME5 };
	float *shifted = ref_rows(d, 1000);
	struct lg_event e;

	CHECK(shifted);
	CHECK_EQ(lg_detector_set_reference(&det, rows, N), 0);
	sc->kind = LG_SCORER_DETECTOR;
	sc->in_dim = d;
	sc->set = (struct lg_detector_set){ .n = 1, .det = &det, .fallback = 0 };
	s->channels = 1;
	s->win_len = WIN;

	/* a healthy block: no event */
	block(s, 1, d, d, d);
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(s->drift.nref, 1);
	CHECK_EQ(s->drift.d, d);
	/* features d / 2 and d - 1 (past the basic row) move: named, the largest PSI first */
	block(s, 1, d, d - 1, d / 2);
	CHECK(lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(e.drift.kind, 1 + LG_DRIFT_PSI);
	CHECK_EQ(e.drift.start, 1);
	CHECK_EQ(e.drift.wide, 1);
	CHECK_EQ(e.dnames.layout, LG_LAYOUT_BANDS96_TIME5);
	CHECK_EQ(e.dnames.win, WIN);
	CHECK_EQ(e.drift.over, 3u);
	CHECK_EQ(e.dnames.feat[0], d - 1);
	CHECK_EQ(e.dnames.feat[1], d / 2);
	CHECK_NEAR(e.drift.psi[0], PSI_ONE_BIN, 1e-4);
	CHECK_NEAR(e.drift.psi[1], PSI_TWO_BINS, 1e-4);
	CHECK_NEAR(e.drift.ph, PSI_ONE_BIN, 1e-4);
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	/* still moved: no second event; back to the reference: the end names the same two */
	block(s, 1, d, d - 1, d / 2);
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	block(s, 1, d, d, d);
	CHECK(lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(e.drift.kind, 1 + LG_DRIFT_PSI);
	CHECK_EQ(e.drift.start, 0);
	CHECK_EQ(e.drift.over, 3u);
	CHECK_EQ(e.dnames.feat[0], d - 1);
	CHECK_EQ(e.dnames.feat[1], d / 2);
	CHECK_NEAR(e.drift.psi[0], 0, 1e-6);
	CHECK_NEAR(e.drift.psi[1], 0, 1e-6);
	CHECK(!lg_spsc_pop(&w->alerts, &e));

	/* A kNN per channel: channel 1's reference is 1000 higher. Each channel's rows at its
	 * own reference: nothing; channel 1's rows at channel 0's values: every feature's rows
	 * in channel 1's first bin, PSI_ONE_BIN each, the first LG_FEAT_N named. */
	struct lg_detector knn = { .d = d, .layout = LG_LAYOUT_BANDS96_TIME5, .nch = 2 };

	knn.ch = calloc(2, sizeof(*knn.ch));
	CHECK(knn.ch);
	for (unsigned c = 0; c < 2; c++) {
		knn.ch[c] = (struct lg_detector){ .d = d, .layout = LG_LAYOUT_BANDS96_TIME5 };
		CHECK_EQ(lg_detector_set_reference(&knn.ch[c], c ? shifted : rows, N), 0);
	}
	sc->set.det = &knn; /* its own reference is not read: it has none */
	s->channels = 2;
	for (int i = 0; i < 10; i++) {
		row(s, 2, 0, d, 10.0f * (float)i + 5, d, 0, 0);
		row(s, 2, 1, d, 10.0f * (float)i + 5, d, 0, 1000);
	}
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(s->drift.nref, 2);
	for (int i = 0; i < 10; i++) {
		row(s, 2, 0, d, 10.0f * (float)i + 5, d, 0, 0);
		row(s, 2, 1, d, 10.0f * (float)i + 5, d, 0, 0);
	}
	CHECK(lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(e.drift.kind, 1 + LG_DRIFT_PSI);
	CHECK_EQ(e.drift.start, 1);
	CHECK_EQ(e.drift.over, (1u << LG_FEAT_N) - 1);
	for (unsigned i = 0; i < LG_FEAT_N; i++) {
		CHECK_EQ(e.dnames.feat[i], i);
		CHECK_NEAR(e.drift.psi[i], PSI_ONE_BIN, 1e-4);
	}
	/* A channel without its reference: PSI off for the detector */
	sc->set.det = &knn;
	knn.ch[1].has_ref = 0;
	s->channels = 2;
	for (int i = 0; i < 20; i++)
		row(s, 4, (uint8_t)(i & 1), d, 5, d, 0, 0);
	CHECK_EQ(s->drift.nref, 0);
	CHECK(lg_spsc_pop(&w->alerts, &e)); /* the drift of epoch 2 ends: the model changed */
	CHECK_EQ(e.drift.start, 0);
	CHECK_EQ(e.drift.model, 1);
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	/* A model set without a reference: PSI stays off. */
	sc->set.det = &det;
	det.has_ref = 0;
	s->channels = 1;
	block(s, 3, d, d - 1, d / 2);
	CHECK_EQ(s->drift.nref, 0);
	block(s, 3, d, d - 1, d / 2);
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	CHECK_EQ(atomic_load(&w->st.drift_events), 4);
	CHECK_EQ(atomic_load(&w->st.drift_nomem), 0);
	sc->set = (struct lg_detector_set){ .fallback = -1 };
	lg_detector_free(&knn);
	lg_detector_free(&det);
	free(shifted);
}

/* n rows of device state s (model epoch 9) scored about level x the threshold. */
static unsigned scored(struct lg_dev_state *s, unsigned n, double level, unsigned *starts,
		       unsigned *ends)
{
	static float x[LG_FEAT_ROW_MAX];
	static unsigned i;
	struct lg_event e;
	unsigned events = 0;

	for (unsigned k = 0; k < n; k++, i++) {
		struct lg_event r = { .device_id = 1, .model_epoch = 9, .model_id = 9,
				      .threshold = 2,
				      .score = (float)(2 * level * exp(0.2 * sin(1.7 * i))) };

		lg_drift_row(w, s, &r, x);
		while (lg_spsc_pop(&w->alerts, &e)) {
			CHECK_EQ(e.drift.kind, 1 + LG_DRIFT_PAGE_HINKLEY);
			*(e.drift.start ? starts : ends) += 1;
			events++;
		}
	}
	return events;
}

/* Page-Hinkley ends a drift when the scores are back at their level before it, not at any
 * fall (trial X2, s26: "back to the model's training data" audited with the scores at 4x
 * the threshold, after a fall from 40x). */
static void test_page_hinkley_back(struct lg_dev_state *s)
{
	unsigned starts = 0, ends = 0;

	CHECK_EQ(scored(s, 300, 0.3, &starts, &ends), 0);
	CHECK_EQ(scored(s, 100, 40, &starts, &ends), 1);
	CHECK_EQ(starts, 1);
	CHECK_NEAR(s->drift.ph_base, log(0.3), 0.05);
	CHECK_EQ(scored(s, 300, 4, &starts, &ends), 0); /* fell, but 13x over where it was */
	CHECK(s->drift.on[LG_DRIFT_PAGE_HINKLEY]);
	CHECK_EQ(scored(s, 300, 0.4, &starts, &ends), 1); /* back: within a factor 1.65 */
	CHECK_EQ(ends, 1);
	CHECK(!s->drift.on[LG_DRIFT_PAGE_HINKLEY]);
	/* up again, and straight back */
	CHECK_EQ(scored(s, 100, 40, &starts, &ends), 1);
	CHECK_EQ(scored(s, 300, 0.3, &starts, &ends), 1);
	CHECK_EQ(starts, 2);
	CHECK_EQ(ends, 2);
}

static const char usage[] =
	"Usage: test_drift_wide [options]\n"
	"\n"
	"PSI drift on wide rows: the reference of d features, saved and loaded; the data\n"
	"plane's PSI on a wide row (hand-computed), per channel for a kNN per channel.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_drift_wide: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static struct lg_modelset ms;
	static struct lg_scorer sc;
	size_t d = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WIN);
	struct lgt_keys keys;
	struct lg_policy p;
	struct lg_gen *g;
	float *rows;
	char err[256];

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK(d > 64); /* past one 64-bit mask, let alone 32 */
	rows = ref_rows(d, 0);
	CHECK(rows);
	test_reference(d, rows);

	lgt_keys_make(&keys, key_files);
	if (lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	w = &dp.workers[0];
	dp.nworkers = 1;
	dp.max_batch = 64;
	w->dp = &dp;
	ms.sc[0] = &sc;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	atomic_store(&dp.gen, g);
	test_dataplane(g, &sc, d, rows);
	test_page_hinkley_back(g->state[0]);
	atomic_store(&dp.gen, NULL);
	lg_gen_free(g, NULL);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	free(rows);
	return lgt_done("test_drift_wide");
}
