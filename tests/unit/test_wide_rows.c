// SPDX-License-Identifier: MIT
/* Rows of a model's width through the worker (issue 8, bands96-time5): a full window makes one
 * row of the layout's width in the batch, exactly the extractor's row; the score stage scores
 * it at that width (a non-finite feature past the 18th is caught) and gives the row no
 * basic-layout features for the outputs. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/scorer.h"
#include "../../dataplane/stages.h"

#include <math.h>
#include <sys/socket.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define WIN 64
#define FRAME 16

static const char policy_text[] =
	"version: 1\ndetection: {window: 64, batch: 64}\ndevices:\n"
	"  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n";

/* the impact layout's windows: orders96-time5 wants at least LG_ORD_MIN_N samples */
#define IWIN 256
static const char policy_imp_text[] =
	"version: 1\ndetection: {window: 256, batch: 64}\ndevices:\n"
	"  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = { "k1", KEY1, NULL };
static struct lgt_keys keys;
static uint8_t k1[32], buf[2048];
static struct lg_worker *w;
static struct lg_gen *g;
static uint32_t frame_rate; /* the frames' sample rate (0: none said) */

static enum lg_reason frame(uint64_t seq, const float *s)
{
	struct lg_lgf_build bd = { .device_id = 1, .key_id = 1, .type = LGF_TYPE_SAMPLES,
				   .sample_format = LGF_FMT_F32, .channels = 1,
				   .sample_count = FRAME, .scale = 1, .sequence = seq,
				   .sample_rate = frame_rate, .samples = s };
	struct lg_rx_pkt pkt = { .data = buf, .family = AF_INET, .src_addr = { 10, 0, 0, 1 } };

	pkt.len = (uint32_t)lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf));
	return lg_worker_handle(w, g, &pkt);
}

/* sc scores with one detector of d features: identity weights, mean 0, a threshold no
 * score reaches (each caller's own static buffers). */
static void identity_detector(struct lg_scorer *sc, struct lg_detector *det, size_t d, float *eye,
			      float *mean, float *work)
{
	for (size_t i = 0; i < d; i++)
		eye[i * d + i] = 1;
	det->d = d;
	det->mean = mean;
	det->w = eye;
	det->denom = 1;
	det->max_batch = 64;
	det->work = work;
	det->threshold = 1e30f;
	sc->kind = LG_SCORER_DETECTOR;
	sc->threshold = 1e30f;
	sc->in_dim = d;
	sc->set = (struct lg_detector_set){ .n = 1, .det = det, .fallback = 0 };
}

static void rows_through_worker(struct lg_scorer *sc)
{
	size_t d = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WIN);
	static float eye[LG_FEAT_ROW_MAX * LG_FEAT_ROW_MAX], mean[LG_FEAT_ROW_MAX],
		work[2 * 64 * LG_FEAT_ROW_MAX];
	static struct lg_detector det;
	float x[2 * WIN], want[2 * LG_FEAT_ROW_MAX];
	struct lg_event e;

	identity_detector(sc, &det, d, eye, mean, work);
	for (int t = 0; t < 2 * WIN; t++)
		x[t] = (float)(sin(0.3 * t) + 0.25 * sin(2.1 * t) + 0.01 * t);
	CHECK_EQ(lg_features_rows(sc->fx, x, 2, WIN, WIN, want), 0);
	for (unsigned f = 0; f < 2 * WIN / FRAME; f++)
		CHECK_EQ(frame(f + 1, x + f * FRAME), LG_OK);
	CHECK_EQ(w->rows, 2);
	/* two rows of d floats, back to back: the extractor's rows bit for bit */
	CHECK(!memcmp(w->batch, want, 2 * d * sizeof(float)));
	lg_worker_score(w, 1);   /* the first row; the second moves to the front */
	CHECK_EQ(w->rows, 1);
	CHECK(!memcmp(w->batch, want + d, d * sizeof(float)));
	CHECK(lg_spsc_pop(&w->scores_ring, &e));
	CHECK(!e.nonfinite);
	CHECK(isnan(e.feat[0]) && isnan(e.feat[LG_FEAT_N - 1]));
	/* the last feature (log_ms_hp) not finite: the guard reads the whole width */
	w->batch[d - 1] = NAN;
	lg_worker_score(w, 1);
	CHECK(lg_spsc_pop(&w->alerts, &e));
	CHECK(e.nonfinite && e.alert);
	CHECK_EQ(atomic_load(&w->st.rows_nonfinite), 1);
	CHECK_EQ(w->rows, 0);

	/* sensor dropouts: a model with dropout_run 16 does not score a window holding 16 equal
	 * samples (counted per device); 15 equal samples are scored; without dropout_run every
	 * window is scored, as before */
	{
		struct lg_dev_state *s1 = g->state[0];
		uint64_t seq = 100, win0 = atomic_load(&s1->windows);

		det.dropout_run = 16;
		for (int t = 10; t < 25; t++) /* x[9 .. 24]: 16 equal */
			x[t] = x[9];
		for (unsigned f = 0; f < WIN / FRAME; f++)
			CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
		CHECK_EQ(w->rows, 0);
		CHECK_EQ(atomic_load(&s1->windows_dropout), 1);
		CHECK_EQ(atomic_load(&s1->windows), win0 + 1);
		x[24] = x[9] + 1.0f; /* 15 equal */
		for (unsigned f = 0; f < WIN / FRAME; f++)
			CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
		CHECK_EQ(w->rows, 1);
		CHECK_EQ(atomic_load(&s1->windows_dropout), 1);
		x[24] = x[9];
		det.dropout_run = 0;
		for (unsigned f = 0; f < WIN / FRAME; f++)
			CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
		CHECK_EQ(w->rows, 2);
		CHECK_EQ(atomic_load(&s1->windows_dropout), 1);
		lg_worker_score(w, 2);
		CHECK_EQ(lg_window_dropout(x, WIN, 16), 1);
		CHECK_EQ(lg_window_dropout(x, WIN, 17), 0);
		while (lg_spsc_pop(&w->scores_ring, &e) || lg_spsc_pop(&w->alerts, &e))
			;
	}
	sc->set = (struct lg_detector_set){ .fallback = -1 };
}

/* Impact features that cannot be computed (issue 8 step 6e.2): the window is not scored on
 * zeros but counted per device (windows_impact_failed); one that can is scored. The device's
 * speed at or past half the sample rate makes lg_impact_window() refuse (a loaded model
 * cannot say so: the loader refuses it; the worker's estimated speed can get there). */
static void impact_failed_through_worker(struct lg_scorer *sc)
{
	size_t d = lg_features_width(LG_LAYOUT_ORDERS96_TIME5_IMP9, IWIN);
	static float eye[LG_FEAT_ROW_MAX * LG_FEAT_ROW_MAX], mean[LG_FEAT_ROW_MAX],
		work[2 * 64 * LG_FEAT_ROW_MAX];
	static struct lg_detector det;
	struct lg_dev_state *s1 = g->state[0];
	float x[IWIN];
	struct lg_event e;
	uint64_t seq = 1, win0 = atomic_load(&s1->windows);

	CHECK(d > LG_IMP_N);
	identity_detector(sc, &det, d, eye, mean, work);
	det.sample_rate = 1000;
	det.imp.nch = 1;
	det.imp.plate.z = 7;
	det.imp.band[0][0] = 150;
	det.imp.band[0][1] = 300;
	det.imp.ref_hz = 600; /* past 500 Hz, half the sample rate */
	frame_rate = 1000;
	for (int t = 0; t < IWIN; t++)
		x[t] = (float)(sin(2 * M_PI * 100 * t / 1000.0) + 0.3 * sin(0.9 * t));
	for (unsigned f = 0; f < IWIN / FRAME; f++)
		CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
	CHECK_EQ(w->rows, 0);
	CHECK_EQ(atomic_load(&s1->windows_impact_failed), 1);
	CHECK_EQ(atomic_load(&s1->windows), win0 + 1);
	/* a speed the window can hold (25.6 revolutions of 100 Hz): scored, nothing counted */
	det.imp.ref_hz = 100;
	for (unsigned f = 0; f < IWIN / FRAME; f++)
		CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(atomic_load(&s1->windows_impact_failed), 1);
	CHECK_EQ(atomic_load(&s1->windows), win0 + 2);
	lg_worker_score(w, 1);
	while (lg_spsc_pop(&w->scores_ring, &e) || lg_spsc_pop(&w->alerts, &e))
		;
	sc->set = (struct lg_detector_set){ .fallback = -1 };
}

/* -imp11 (issue 8 step 6e.3): tsa3 through the worker over the device's windows in order is
 * lg_impact_tail()'s over the same windows with one history, bit for bit: a dropout window
 * the model does not score is left out of the next ones' (lg_imp_hist_skip()), one it scores
 * (no dropout_run) is left out by lg_impact_tail() itself; another model starts afresh. */
static void tsa3_through_worker(struct lg_scorer *sc)
{
	size_t d = lg_features_width(LG_LAYOUT_ORDERS96_TIME5_IMP11, IWIN);
	static float eye[LG_FEAT_ROW_MAX * LG_FEAT_ROW_MAX], mean[LG_FEAT_ROW_MAX],
	    work[2 * 64 * LG_FEAT_ROW_MAX];
	static struct lg_detector det;
	struct lg_dev_state *s1 = g->state[0];
	/* window k: a 100 Hz shaft (25.6 revolutions at 1 kHz), its harmonics moving with k;
	 * windows 2 and 5 hold a dropout (20 equal samples) */
	const int nwin = 7, drop_w[2] = {2, 5};
	float x[IWIN], tail[LG_IMP_N11];
	struct lg_imp_hist h;
	struct lg_impact *im = NULL;
	struct lg_event e;
	uint64_t seq = 1000, drops0 = atomic_load(&s1->windows_dropout);
	int scored = 0;

	CHECK_EQ(d, lg_features_width(LG_LAYOUT_ORDERS96_TIME5_IMP10, IWIN) + 1);
	identity_detector(sc, &det, d, eye, mean, work);
	det.sample_rate = 1000;
	det.dropout_run = 16;
	det.imp = (struct lg_imp_model){.ref_hz = 100,
					.plate = {7, 0, 0},
					.nch = 1,
					.band = {{150, 300}},
					.floor_ref_hz = 100,
					.floor_band = {{150, 300}}};
	frame_rate = 1000;
	CHECK_EQ(lg_impact_new(&im, IWIN, 1), 0);
	CHECK_EQ(lg_imp_hist_init(&h, 1), 0);
	for (int k = 0; im && k < nwin; k++) {
		bool drop = k == drop_w[0] || k == drop_w[1];

		for (int t = 0; t < IWIN; t++)
			x[t] = (float)(sin(2 * M_PI * 100 * t / 1000.0) +
				       (0.2 + 0.1 * k) * sin(2 * M_PI * 200 * t / 1000.0 + k) +
				       0.3 * sin(0.9 * t + 0.7 * k) +
				       (t % 10 == 3 ? 0.5 + 0.2 * (k % 3) : 0));
		for (int t = 41; drop && t < 60; t++)
			x[t] = x[40];
		/* the second dropout is scored: the model without dropout_run then */
		det.dropout_run = k == drop_w[1] ? 0 : 16;
		if (k == 6)
			w->ms->epoch++; /* another model: tsa3 starts afresh */
		for (unsigned f = 0; f < IWIN / FRAME; f++)
			CHECK_EQ(frame(seq++, x + f * FRAME), LG_OK);
		if (k == 6)
			lg_imp_hist_reset(&h);
		if (k == drop_w[0]) {
			/* not scored: its slot empty */
			CHECK_EQ(w->rows, 0);
			CHECK_EQ(atomic_load(&s1->windows_dropout), drops0 + 1);
			lg_imp_hist_skip(&h);
			continue;
		}
		CHECK(lg_impact_tail(im, &det.imp, x, 1, IWIN, 1000, 1, LG_IMP_N11, &h, tail) >=
		      LG_IMP_MIN_REVS);
		CHECK_EQ(w->rows, 1);
		if (w->rows != 1)
			break;
		/* the row's tail is the direct one's, bit for bit; tsa3 is not 0 */
		CHECK(!memcmp(w->batch + d - LG_IMP_N11, tail, sizeof(tail)));
		CHECK(tail[LG_IMP_N10] != 0);
		scored++;
		lg_worker_score(w, 1);
		while (lg_spsc_pop(&w->scores_ring, &e) || lg_spsc_pop(&w->alerts, &e))
			;
	}
	CHECK_EQ(scored, nwin - 1);
	CHECK_EQ(s1->tsa.nch, 1);
	lg_imp_hist_free(&h);
	lg_impact_free(im);
	sc->set = (struct lg_detector_set){.fallback = -1};
}

static const char usage[] =
    "Usage: test_wide_rows [options]\n"
    "\n"
    "Rows of the bands96-time5 layout's width through the worker: the batch holds the\n"
    "extractor's rows exactly, the score stage reads and moves them at that width. A window\n"
    "whose impact features (orders96-time5-imp9) cannot be computed is counted, not scored.\n"
    "-imp11's tsa3 over a device's windows is lg_impact_tail()'s with one history.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_wide_rows: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static struct lg_modelset ms;
	static struct lg_scorer sc;
	struct lg_policy p;
	char err[256];

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	for (int i = 0; i < 32; i++)
		k1[i] = (uint8_t)i;
	if (lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	w = &dp.workers[0];
	dp.nworkers = 1;
	dp.max_batch = 64;
	w->dp = &dp;
	CHECK_EQ(lg_features_new_layout(&sc.fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_FFTW, 1),
		 0);
	CHECK_EQ(lg_features_prepare(sc.fx, WIN), 0);
	ms.sc[0] = &sc;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	rows_through_worker(&sc);
	{
		/* the impact layout, on a policy of 256-sample windows */
		static struct lg_scorer sc2, sc3;
		struct lg_policy p2;
		struct lg_gen *g1 = g;

		if (lg_policy_parse(policy_imp_text, strlen(policy_imp_text), keys.policy, &p2,
				    err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		CHECK_EQ(lg_gen_build(&dp, &p2, &g), 0);
		CHECK_EQ(lg_features_new_layout(&sc2.fx, LG_LAYOUT_ORDERS96_TIME5_IMP9, NULL,
						LG_SPECTRUM_FFTW, 1), 0);
		CHECK_EQ(lg_features_prepare(sc2.fx, IWIN), 0);
		ms.sc[0] = &sc2;
		impact_failed_through_worker(&sc2);
		ms.sc[0] = &sc;
		{
			struct lg_features *fx2 = sc2.fx;

			lg_scorer_free(&sc2); /* the impact buffers and plans it made */
			lg_features_free(fx2);
		}
		/* -imp11 */
		CHECK_EQ(lg_features_new_layout(&sc3.fx, LG_LAYOUT_ORDERS96_TIME5_IMP11, NULL,
						LG_SPECTRUM_FFTW, 1),
			 0);
		CHECK_EQ(lg_features_prepare(sc3.fx, IWIN), 0);
		ms.sc[0] = &sc3;
		tsa3_through_worker(&sc3);
		ms.sc[0] = &sc;
		{
			struct lg_features *fx3 = sc3.fx;

			lg_scorer_free(&sc3);
			lg_features_free(fx3);
		}
		lg_gen_free(g, NULL);
		g = g1;
	}
	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_wide_rows");
}
