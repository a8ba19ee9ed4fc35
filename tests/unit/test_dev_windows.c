// SPDX-License-Identifier: MIT
/* A window per device (issue 8 step 6e): a model whose detectors record their own windows makes
 * the worker form each device's windows at its detector's length. Two devices at 2048 and 8192
 * samples in one worker: each row in the batch is the features of that device's own window
 * computed alone (bands96-time5 is 77 floats wide at 2048 and wider at 8192: the batch's rows
 * are as wide as the widest, the narrower ones zero-padded), and each row is scored by its own
 * detector with exactly the bits the detector gives its rows scored alone. A device the model
 * does not name keeps the policy's detection.window. The model file keeps each detector's
 * window; a default with another window than the file's, or a detector whose row width does
 * not fit its own window, is refused with the entry named. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/scorer.h"
#include "../../dataplane/stages.h"

#include <linegate/sign.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define WA 2048
#define WB 8192
#define FRAME 256

static const char policy_text[] =
	"version: 1\ndetection: {window: 2048, batch: 64, threshold: 1e30}\ndevices:\n"
	"  - {id: 1, name: a, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
	"  - {id: 2, name: b, source: 10.0.0.2, keys: [{id: 1, key_file: k1.key}]}\n"
	"  - {id: 3, name: c, source: 10.0.0.3, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = { "k1", KEY1, NULL };
static struct lgt_keys keys;
static uint8_t k1[32], buf[4096];
static struct lg_worker *w;
static struct lg_gen *g;
static struct lg_modelset ms;

static void ms_epoch_bump(void)
{
	ms.epoch++;
}

static enum lg_reason frame(uint32_t dev, uint64_t seq, const float *s)
{
	struct lg_lgf_build bd = { .device_id = dev, .key_id = 1, .type = LGF_TYPE_SAMPLES,
				   .sample_format = LGF_FMT_F32, .channels = 1,
				   .sample_count = FRAME, .scale = 1, .sequence = seq,
				   .samples = s };
	struct lg_rx_pkt pkt = { .data = buf, .family = AF_INET,
				 .src_addr = { 10, 0, 0, (uint8_t)dev } };

	pkt.len = (uint32_t)lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf));
	return lg_worker_handle(w, g, &pkt);
}

/* An identity "Mahalanobis" detector of d features for windows of win samples: score =
 * |row|^2, one sgemm per batch, as the worker's stage runs it. */
static void eye_detector(struct lg_detector *det, size_t d, unsigned win, const char *name)
{
	memset(det, 0, sizeof(*det));
	det->d = d;
	det->mean = calloc(d, sizeof(float));
	det->w = calloc(d * d, sizeof(float));
	det->work = calloc(2 * 64 * d, sizeof(float));
	for (size_t i = 0; i < d; i++)
		det->w[i * d + i] = 1;
	det->denom = 1;
	det->max_batch = 64;
	det->threshold = 1e30f;
	det->window = win;
	det->layout = LG_LAYOUT_BANDS96_TIME5;
	snprintf(det->name, sizeof(det->name), "%s", name);
}

static void eye_free(struct lg_detector *det)
{
	free(det->mean);
	free(det->w);
	free(det->work);
}

static void windows_per_device(struct lg_scorer *sc)
{
	size_t da = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WA),
	       db = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WB), D = da > db ? da : db;
	static float xa[WB], xb[WB], xc[WA], want_a[4 * LG_FEAT_ROW_MAX], want_b[LG_FEAT_ROW_MAX],
		want_c[LG_FEAT_ROW_MAX];
	static struct lg_detector det[2];
	static char names[2][64] = { "a", "b" };
	static unsigned name_det[2] = { 0, 1 };
	float sa[4], sb[1];
	struct lg_event e;
	unsigned na = 0, nb = 0, nc = 0;

	CHECK(db > da); /* the test is about rows of different widths */
	eye_detector(&det[0], da, WA, "a");
	eye_detector(&det[1], db, WB, "b");
	sc->kind = LG_SCORER_DETECTOR;
	sc->threshold = 1e30f;
	sc->in_dim = D;
	sc->set = (struct lg_detector_set){ .n = 2, .det = det, .fallback = -1, .nnames = 2,
					    .names = names, .name_det = name_det,
					    .window = WA };
	sc->idx = calloc(64, sizeof(*sc->idx));
	sc->part = calloc(64, sizeof(*sc->part));
	sc->chan = calloc(64, sizeof(*sc->chan));
	CHECK_EQ(lg_scorer_window(sc, 0, WA), WA);
	CHECK_EQ(lg_scorer_window(sc, 1, WA), WB);
	CHECK_EQ(lg_scorer_window(sc, -1, WA), WA);
	for (int t = 0; t < WB; t++) {
		xa[t] = (float)(sin(0.3 * t) + 0.25 * sin(2.1 * t) + 0.01 * (t % 97));
		xb[t] = (float)(0.5 * sin(0.05 * t) + 0.1 * sin(1.7 * t) + 0.002 * (t % 31));
	}
	for (int t = 0; t < WA; t++)
		xc[t] = (float)cos(0.2 * t);
	/* each device's windows computed alone, at its own length */
	CHECK_EQ(lg_features_rows(sc->fx, xa, 4, WA, WA, want_a), 0);
	CHECK_EQ(lg_features_rows(sc->fx, xb, 1, WB, WB, want_b), 0);
	/* a: 4 windows of 2048, b: 1 of 8192, frames interleaved */
	for (unsigned f = 0; f < WB / FRAME; f++) {
		CHECK_EQ(frame(2, f + 1, xb + f * FRAME), LG_OK);
		CHECK_EQ(frame(1, f + 1, xa + f * FRAME), LG_OK);
	}
	CHECK_EQ(g->state[0]->win_len, WA);
	CHECK_EQ(g->state[1]->win_len, WB);
	CHECK_EQ(w->rows, 5);
	/* rows 0-2: a's first three windows; row 3: b's (its last frame came before a's);
	 * row 4: a's fourth. Each its own d floats, then zeros to the batch's width. */
	for (unsigned r = 0; r < 5; r++) {
		const float *row = w->batch + (size_t)r * D;
		int is_b = r == 3;
		const float *want = is_b ? want_b : want_a + (size_t)(r < 3 ? r : 3) * da;
		size_t d = is_b ? db : da;
		int zeros = 1;

		CHECK(!memcmp(row, want, d * sizeof(float)));
		for (size_t j = d; j < D; j++)
			zeros &= row[j] == 0.0f;
		CHECK(zeros);
		CHECK_EQ(w->meta[r].device_id, is_b ? 2u : 1u);
	}
	/* the detectors' scores of their rows alone, contiguous (d apart) */
	lg_detector_score(&det[0], want_a, 4, sa);
	lg_detector_score(&det[1], want_b, 1, sb);
	lg_worker_score(w, 5);
	CHECK_EQ(w->rows, 0);
	while (lg_spsc_pop(&w->scores_ring, &e)) {
		if (e.device_id == 1) {
			CHECK(na < 4 && !memcmp(&e.score, &sa[na], sizeof(float)));
			na++;
		} else {
			CHECK(!memcmp(&e.score, &sb[0], sizeof(float)));
			nb++;
		}
		CHECK(!e.nonfinite && !e.alert);
	}
	CHECK_EQ(na, 4);
	CHECK_EQ(nb, 1);
	/* the score is the detector's, not the padded row's: |a row|^2 over its own d */
	{
		double s = 0;

		for (size_t j = 0; j < da; j++)
			s += (double)want_a[j] * want_a[j];
		CHECK_NEAR(sa[0], s, 1e-4 * s);
	}
	/* c, which the model does not name, has no detector here: its windows are the policy's
	 * (2048), and its rows are counted as without a detector, not scored */
	for (unsigned f = 0; f < WA / FRAME; f++)
		CHECK_EQ(frame(3, f + 1, xc + f * FRAME), LG_OK);
	CHECK_EQ(g->state[2]->win_len, WA);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(lg_features_rows(sc->fx, xc, 1, WA, WA, want_c), 0);
	CHECK(!memcmp(w->batch, want_c, da * sizeof(float)));
	lg_worker_score(w, 1);
	CHECK_EQ(atomic_load(&w->st.no_detector), 1);
	while (lg_spsc_pop(&w->scores_ring, &e))
		nc++;
	CHECK_EQ(nc, 0);

	/* a model with "smooth" 2: each row's score is the mean of its channel's score and the
	 * one before (the first alone), as lg_smooth_step() makes it for linegate-quality */
	{
		struct lg_smooth_ch h = { 0 };
		float raw[3], want[3];
		unsigned k = 0;

		sc->set.smooth = 2;
		lg_detector_score(&det[0], want_a, 3, raw);
		for (unsigned i = 0; i < 3; i++)
			want[i] = lg_smooth_step(&h, 2, raw[i]);
		CHECK(want[1] != raw[1]);
		CHECK(!memcmp(&want[1], &(float){ (raw[1] + raw[0]) / 2.0f }, sizeof(float)));
		for (unsigned f = 0; f < 3 * WA / FRAME; f++)
			CHECK_EQ(frame(1, 100 + f, xa + f * FRAME), LG_OK);
		CHECK_EQ(w->rows, 3);
		lg_worker_score(w, 3);
		while (lg_spsc_pop(&w->scores_ring, &e)) {
			CHECK(k < 3 && !memcmp(&e.score, &want[k], sizeof(float)));
			k++;
		}
		CHECK_EQ(k, 3);
		/* another model set: the means start afresh */
		ms_epoch_bump();
		for (unsigned f = 0; f < WA / FRAME; f++)
			CHECK_EQ(frame(1, 200 + f, xa + 2 * WA + f * FRAME), LG_OK);
		lg_worker_score(w, 1);
		CHECK(lg_spsc_pop(&w->scores_ring, &e));
		CHECK(!memcmp(&e.score, &raw[2], sizeof(float)));
		sc->set.smooth = 0;
	}
	free(sc->idx);
	free(sc->part);
	free(sc->chan);
	sc->idx = NULL;
	sc->part = NULL;
	sc->chan = NULL;
	eye_free(&det[0]);
	eye_free(&det[1]);
	sc->set = (struct lg_detector_set){ .fallback = -1 };
}

/* Whether the text of a file holds needle. */
static int file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	char text[1 << 16];
	size_t n;

	if (!f)
		return 0;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	return strstr(text, needle) != NULL;
}

/* A file's text, NUL-terminated, with room for 16 more bytes (free it); NULL if unreadable. */
static char *file_text(const char *path, long *len)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;

	*len = 0;
	if (!f)
		return NULL;
	if (!fseek(f, 0, SEEK_END) && (*len = ftell(f)) >= 0) {
		rewind(f);
		text = calloc((size_t)*len + 17, 1);
		if (text && fread(text, 1, (size_t)*len, f) != (size_t)*len) {
			free(text);
			text = NULL;
		}
	}
	fclose(f);
	return text;
}

/* kNN detectors on rows of the layout at their windows, in a file: the windows survive a save
 * and a load, and the loaded ones score as before; refusals name the entry. */
static void model_file(void)
{
	struct lg_detector_set set, back;
	size_t da = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WA),
	       db = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WB);
	static float ra[64 * LG_FEAT_ROW_MAX], rb[64 * LG_FEAT_ROW_MAX];
	float s0[8], s1[8];
	char err[512];
	char *text;
	long len;

	for (size_t i = 0; i < 64 * LG_FEAT_ROW_MAX; i++) {
		ra[i] = (float)sin(0.37 * (double)i) + 0.001f * (float)(i % 13);
		rb[i] = (float)cos(0.11 * (double)i) + 0.002f * (float)(i % 7);
	}
	memset(&set, 0, sizeof(set));
	set.det = calloc(2, sizeof(*set.det));
	set.names = calloc(2, sizeof(*set.names));
	set.name_det = calloc(2, sizeof(*set.name_det));
	CHECK_EQ(lg_detector_knn_fit(ra, 64, da, 1, NULL, 32, LG_LAYOUT_BANDS96_TIME5, 8,
				     &set.det[0]), 0);
	CHECK_EQ(lg_detector_knn_fit(rb, 64, db, 1, NULL, 32, LG_LAYOUT_BANDS96_TIME5, 8,
				     &set.det[1]), 0);
	CHECK_EQ(lg_detector_calibrate(&set.det[0], ra, 64, 0.99, 1.0), 0);
	CHECK_EQ(lg_detector_calibrate(&set.det[1], rb, 64, 0.99, 1.0), 0);
	/* a kept training row (the cover's first is row 0) is its own nearest: 0; without
	 * itself, the next kept row's distance; a row never trained on scores as before */
	{
		float own, self, fresh, fs;
		static float x[LG_FEAT_ROW_MAX];

		lg_detector_score(&set.det[0], ra, 1, &own);
		self = lg_detector_knn_score_self(&set.det[0], ra);
		CHECK(own < 1e-3f && self > 100 * own + 1e-2f);
		for (size_t j = 0; j < da; j++)
			x[j] = 0.5f * (ra[j] + ra[da + j]) + 0.01f;
		lg_detector_score(&set.det[0], x, 1, &fresh);
		fs = lg_detector_knn_score_self(&set.det[0], x);
		CHECK_NEAR(fs, fresh, 1e-3 * fresh);
	}
	set.det[0].window = WA;
	set.det[1].window = WB;
	set.n = 2;
	set.fallback = -1;
	snprintf(set.names[0], 64, "a");
	snprintf(set.names[1], 64, "b");
	set.name_det[1] = 1;
	set.nnames = 2;
	set.window = WA;
	set.sample_rate = 25600;
	snprintf(set.name, sizeof(set.name), "line");
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows.json"), 0);
	/* a window per device is format 2 (a linegate before it would refuse "windows differ"
	 * anyway); one window, no smoothing: the format-1 file as before */
	CHECK_EQ(lg_detector_set_format(&set), 2);
	CHECK(file_has("test_dev_windows.json", "\"format\":\"linegate-detectors-2\""));
	set.det[1].window = WA;
	CHECK_EQ(lg_detector_set_format(&set), 1);
	set.det[1].window = 0;
	CHECK_EQ(lg_detector_set_format(&set), 1);
	set.det[1].window = WB;
	CHECK_EQ(lg_detector_set_load("test_dev_windows.json", 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.window, WA);
	CHECK_EQ(back.det[0].window, WA);
	CHECK_EQ(back.det[1].window, WB);
	CHECK_EQ(back.det[1].d, db);
	lg_detector_score(&set.det[1], rb, 8, s0);
	lg_detector_score(&back.det[1], rb, 8, s1);
	CHECK(!memcmp(s0, s1, sizeof(s0)));
	CHECK_EQ(back.smooth, 0);
	lg_detector_set_free(&back);
	/* "smooth" travels in the file; out of 1..8 it is refused */
	set.smooth = 2;
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows.json"), 0);
	CHECK_EQ(lg_detector_set_load("test_dev_windows.json", 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.smooth, 2);
	lg_detector_set_free(&back);
	/* "smooth" alone (one window for all) is format 2 too: a linegate before it would
	 * load the file and judge single scores against thresholds made for means */
	set.det[1].window = WA;
	CHECK_EQ(lg_detector_set_format(&set), 2);
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows.json"), 0);
	CHECK(file_has("test_dev_windows.json", "\"format\":\"linegate-detectors-2\""));
	set.smooth = 1;
	CHECK_EQ(lg_detector_set_format(&set), 1);
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows.json"), 0);
	CHECK(file_has("test_dev_windows.json", "\"format\":\"linegate-detectors\""));
	CHECK(!file_has("test_dev_windows.json", "smooth"));
	set.det[1].window = WB;
	set.smooth = 2;
	/* a format this linegate does not know is refused, naming it; a malformed one too */
	{
		static const char *const bad[][2] = {
			{ "{\"format\":\"linegate-detectors-3\"}",
			  "x.json: a model of format 3, newer than this linegate reads (1 to 2)" },
			{ "{\"format\":\"linegate-detectors-\"}", "x.json: 'format' must be" },
			{ "{\"format\":\"linegate-detectors-02\"}", "x.json: 'format' must be" },
			{ "{\"format\":\"linegate-detectors2\"}", "x.json: 'format' must be" },
		};

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			CHECK_EQ(lg_detector_set_load_mem(bad[k][0], strlen(bad[k][0]), "x.json", 8,
							  &back, err, sizeof(err)), -EINVAL);
			CHECK_STR_CONTAINS(err, bad[k][1]);
		}
	}
	set.smooth = 9;
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows.json"), 0);
	CHECK_EQ(lg_detector_set_load("test_dev_windows.json", 8, &back, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "'smooth' must be a number of scores from 1 to 8");
	set.smooth = 0;

	/* b's detector as the default: the default's window is the file's (the policy's) */
	set.fallback = 1;
	set.nnames = 1;
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows_def.json"), 0);
	CHECK_EQ(lg_detector_set_load("test_dev_windows_def.json", 8, &back, err, sizeof(err)),
		 -EINVAL);
	CHECK_STR_CONTAINS(err, "default: the default's window differs from the file's");
	set.fallback = -1;
	set.nnames = 2;

	/* b's entry says 2048 where its rows are 8192's width: refused, the entry named */
	set.det[1].window = WA * 2;
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows_bad.json"), 0);
	text = file_text("test_dev_windows_bad.json", &len);
	CHECK(text != NULL);
	/* the saved file is well formed: a width check, not a parse error */
	CHECK_EQ(lg_detector_set_load_mem(text, (size_t)len, "bad.json", 8, &back, err,
					  sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "bad.json: detectors[1] (device b)");
	free(text);
	/* a window that is not a whole number (json-c would read 8192.5 as 8192): refused */
	set.det[1].window = WB;
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows_bad.json"), 0);
	text = file_text("test_dev_windows_bad.json", &len);
	{
		char *at = text ? strstr(text, "\"detectors\"") : NULL;
		char key[32];
		int kl = snprintf(key, sizeof(key), "\"window\":%d", WB);

		at = at ? strstr(at, key) : NULL;
		CHECK(at != NULL);
		if (at) {
			memmove(at + kl + 2, at + kl, strlen(at + kl) + 1);
			memcpy(at + kl, ".5", 2);
			CHECK_EQ(lg_detector_set_load_mem(text, strlen(text), "half.json", 8, &back,
							  err, sizeof(err)), -EINVAL);
			CHECK_STR_CONTAINS(err, "'window' must be a whole number");
		}
	}
	free(text);
	set.det[1].window = WB;
	lg_detector_set_free(&set);
	remove("test_dev_windows.json");
	remove("test_dev_windows_def.json");
	remove("test_dev_windows_bad.json");
}

/* Sign a copy of a model file with the demo key (the policy trusts its public half). */
static void copy_signed(const char *from, const char *dst)
{
	uint8_t key[LG_SIGN_SK_LEN], sig[LG_SIGN_SIG_LEN];
	char keyp[600], sigp[600], *text;
	const char *src = getenv("LG_SOURCE") ? getenv("LG_SOURCE") : "..";
	FILE *f = fopen(from, "rb");
	long len;

	CHECK(f != NULL);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len);
	CHECK_EQ(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	f = fopen(dst, "wb");
	fwrite(text, 1, (size_t)len, f);
	fclose(f);
	snprintf(keyp, sizeof(keyp), "%s/control/defaults/demo-signing.key", src);
	CHECK_EQ(lg_hex_read_file(keyp, key, sizeof(key)), 0);
	lg_sign_buf(key, text, (size_t)len, sig);
	snprintf(sigp, sizeof(sigp), "%s.sig", dst);
	CHECK_EQ(lg_hex_write_file(sigp, sig, sizeof(sig), 0644), 0);
	free(text);
}

/*
 * A signed model of windows per device through lg_scorer_load() and the data plane's model
 * swap: the batch is as wide as the widest detector's row, each device's window is its
 * detector's (c, not named, the policy's); a shadow whose window for a device differs from
 * the active's is refused naming the device, and nothing changes.
 */
static void signed_models(struct lg_dp *dp, struct lg_policy *p)
{
	struct lg_detector_set set, other;
	size_t da = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WA),
	       db = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WB);
	static float ra[64 * LG_FEAT_ROW_MAX], rb[64 * LG_FEAT_ROW_MAX];
	struct lg_scorer sc;
	char err[512];

	for (size_t i = 0; i < 64 * LG_FEAT_ROW_MAX; i++) {
		ra[i] = (float)sin(0.29 * (double)i) + 0.001f * (float)(i % 11);
		rb[i] = (float)cos(0.13 * (double)i) + 0.002f * (float)(i % 5);
	}
	memset(&set, 0, sizeof(set));
	set.det = calloc(3, sizeof(*set.det));
	set.names = calloc(2, sizeof(*set.names));
	set.name_det = calloc(2, sizeof(*set.name_det));
	CHECK_EQ(lg_detector_knn_fit(ra, 64, da, 1, NULL, 16, LG_LAYOUT_BANDS96_TIME5, 8,
				     &set.det[0]), 0);
	CHECK_EQ(lg_detector_knn_fit(rb, 64, db, 1, NULL, 16, LG_LAYOUT_BANDS96_TIME5, 8,
				     &set.det[1]), 0);
	CHECK_EQ(lg_detector_knn_fit(ra, 64, da, 1, NULL, 16, LG_LAYOUT_BANDS96_TIME5, 8,
				     &set.det[2]), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(lg_detector_calibrate(&set.det[i], i == 1 ? rb : ra, 64, 0.99, 1.0), 0);
	set.det[0].window = WA;
	set.det[1].window = WB;
	set.det[2].window = WA;
	set.n = 3;
	set.fallback = 2; /* c: the default, at the file's window */
	snprintf(set.names[0], 64, "a");
	snprintf(set.names[1], 64, "b");
	set.name_det[1] = 1;
	set.nnames = 2;
	set.window = WA;
	snprintf(set.name, sizeof(set.name), "line");
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows_m.json"), 0);
	copy_signed("test_dev_windows_m.json", "test_dev_windows_ms.json");
	CHECK_EQ(lg_scorer_load(p, "test_dev_windows_ms.json", "m", 64, &sc, err, sizeof(err)), 0);
	CHECK_EQ(sc.in_dim, db);
	CHECK_EQ(lg_scorer_window(&sc, lg_scorer_device(&sc, "a"), p->window), WA);
	CHECK_EQ(lg_scorer_window(&sc, lg_scorer_device(&sc, "b"), p->window), WB);
	CHECK_EQ(lg_scorer_window(&sc, lg_scorer_device(&sc, "c"), p->window), WA);
	lg_scorer_free(&sc);

	/* a shadow with the windows of a and b swapped (rows as wide as the active's): refused,
	 * the first device whose window differs named, the active kept */
	CHECK_EQ(lg_detector_set_load("test_dev_windows_m.json", 8, &other, err, sizeof(err)), 0);
	{
		struct lg_detector t = other.det[0];

		other.det[0] = other.det[1];
		other.det[1] = t;
	}
	CHECK_EQ(lg_detector_set_save(&other, "test_dev_windows_sh.json"), 0);
	lg_detector_set_free(&other);
	copy_signed("test_dev_windows_sh.json", "test_dev_windows_shs.json");
	CHECK_EQ(lg_dp_set_models(dp, "test_dev_windows_ms.json", "m", NULL, NULL, err,
				  sizeof(err)), 0);
	CHECK_EQ(lg_dp_set_models(dp, "test_dev_windows_ms.json", "m", "test_dev_windows_shs.json",
				  "s", err, sizeof(err)), -EINVAL);
	CHECK_STR_CONTAINS(err, "trained on 8192-sample windows for device a, the active "
				"test_dev_windows_ms.json on 2048");
	CHECK(atomic_load(&dp->models) != NULL && !atomic_load(&dp->models)->shadow[0]);
	/* the same windows as the active: a shadow is taken */
	CHECK_EQ(lg_dp_set_models(dp, "test_dev_windows_ms.json", "m", "test_dev_windows_ms.json",
				  "s", err, sizeof(err)), 0);
	lg_modelset_free(atomic_exchange(&dp->models, NULL), dp->nworkers);
	lg_detector_set_free(&set);
	remove("test_dev_windows_m.json");
	remove("test_dev_windows_ms.json");
	remove("test_dev_windows_ms.json.sig");
	remove("test_dev_windows_sh.json");
	remove("test_dev_windows_shs.json");
	remove("test_dev_windows_shs.json.sig");
}

/*
 * An apply that enrolls a device must be judged against the models that run, not only the
 * policy's detection.model: the running registry model "line@2" has detectors for a and b
 * and no default, so adding c (whose detection.model, unchanged, would serve it) is refused
 * naming the model, its file and the device, and the running generation stays. Before
 * 2026-12-06 the apply was taken and c's windows were counted as no_detector, never scored.
 */
static void apply_checks_running(struct lg_dp *dp, struct lg_policy *pabc)
{
	static const char ab_text[] =
		"version: 1\ndetection: {window: 2048, batch: 64, threshold: 1e30}\ndevices:\n"
		"  - {id: 1, name: a, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
		"  - {id: 2, name: b, source: 10.0.0.2, keys: [{id: 1, key_file: k1.key}]}\n";
	struct lg_detector_set set;
	struct lg_policy pab, *next = calloc(1, sizeof(*next));
	struct lg_apply_req r = { 0 };
	struct lg_gen *gab, *cur;
	static float ra[64 * LG_FEAT_ROW_MAX];
	size_t da = lg_features_width(LG_LAYOUT_BANDS96_TIME5, WA);
	char err[512];
	uint64_t fails = atomic_load(&dp->apply_failures);

	for (size_t i = 0; i < 64 * LG_FEAT_ROW_MAX; i++)
		ra[i] = (float)sin(0.37 * (double)i) + 0.001f * (float)(i % 7);
	memset(&set, 0, sizeof(set));
	set.det = calloc(2, sizeof(*set.det));
	set.names = calloc(2, sizeof(*set.names));
	set.name_det = calloc(2, sizeof(*set.name_det));
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(lg_detector_knn_fit(ra, 64, da, 1, NULL, 16, LG_LAYOUT_BANDS96_TIME5, 8,
					     &set.det[i]), 0);
		CHECK_EQ(lg_detector_calibrate(&set.det[i], ra, 64, 0.99, 1.0), 0);
		set.det[i].window = WA;
	}
	set.n = 2;
	set.fallback = -1; /* no default: a kNN model is per device */
	snprintf(set.names[0], 64, "a");
	snprintf(set.names[1], 64, "b");
	set.name_det[1] = 1;
	set.nnames = 2;
	set.window = WA;
	snprintf(set.name, sizeof(set.name), "line");
	CHECK_EQ(lg_detector_set_save(&set, "test_dev_windows_ab.json"), 0);
	copy_signed("test_dev_windows_ab.json", "test_dev_windows_abs.json");
	lg_detector_set_free(&set);

	CHECK_EQ(lg_policy_parse(ab_text, strlen(ab_text), keys.policy, &pab, err, sizeof(err)), 0);
	memcpy(pab.model_keys, pabc->model_keys, sizeof(pab.model_keys));
	pab.nmodel_keys = pabc->nmodel_keys;
	/* a generation of its own (no state carried from the running one: freed with it) */
	cur = atomic_exchange(&dp->gen, NULL);
	CHECK_EQ(lg_gen_build(dp, &pab, &gab), 0); /* takes pab over */
	atomic_store(&dp->gen, gab);
	/* the registry's model runs: it serves a and b */
	CHECK_EQ(lg_dp_set_models(dp, "test_dev_windows_abs.json", "line@2", NULL, NULL, err,
				  sizeof(err)), 0);
	/* enrolling c: refused, naming the running model, its file and c */
	CHECK_EQ(lg_policy_parse(policy_text, strlen(policy_text), keys.policy, next, err,
				 sizeof(err)), 0);
	memcpy(next->model_keys, pabc->model_keys, sizeof(next->model_keys));
	next->nmodel_keys = pabc->nmodel_keys;
	r.policy = next;
	CHECK_EQ(lg_dp_apply(dp, &r), -ENOENT);
	CHECK_STR_CONTAINS(r.err, "the running active model line@2 (not the policy's "
				  "detection.model");
	CHECK_STR_CONTAINS(r.err, "test_dev_windows_abs.json: the model has no detector for "
				  "device c (id 3) and no default");
	CHECK_STR_CONTAINS(r.err, "nothing was applied");
	CHECK(atomic_load(&dp->gen) == gab);
	CHECK_EQ(atomic_load(&dp->apply_failures), fails + 1);
	CHECK(!strcmp(atomic_load(&dp->models)->active, "line@2"));
	lg_policy_free(next);
	free(next);

	lg_modelset_free(atomic_exchange(&dp->models, NULL), dp->nworkers);
	atomic_store(&dp->gen, cur);
	lg_gen_free(gab, NULL);
	remove("test_dev_windows_ab.json");
	remove("test_dev_windows_abs.json");
	remove("test_dev_windows_abs.json.sig");
}

static const char usage[] =
	"Usage: test_dev_windows [options]\n"
	"\n"
	"A window per device (issue 8 step 6e): two devices at 2048 and 8192 samples in one\n"
	"worker, each row the features of its own window computed alone and scored by its own\n"
	"detector bit for bit; the model file keeps each detector's window; refusals.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_dev_windows: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static struct lg_scorer sc;
	struct lg_policy p;
	char err[256];

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_sign_init(), 0);
	lgt_keys_make(&keys, key_files);
	for (int i = 0; i < 32; i++)
		k1[i] = (uint8_t)i;
	if (lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	{
		char pubp[600];

		snprintf(pubp, sizeof(pubp), "%s/control/defaults/demo-signing.pub",
			 getenv("LG_SOURCE") ? getenv("LG_SOURCE") : "..");
		CHECK_EQ(lg_hex_read_file(pubp, p.model_keys[0], 32), 0);
		p.nmodel_keys = 1;
	}
	w = &dp.workers[0];
	dp.nworkers = 1;
	dp.max_batch = 64;
	w->dp = &dp;
	CHECK_EQ(lg_features_new_layout(&sc.fx, LG_LAYOUT_BANDS96_TIME5, NULL, LG_SPECTRUM_FFTW, 1),
		 0);
	CHECK_EQ(lg_features_prepare(sc.fx, WA), 0);
	CHECK_EQ(lg_features_prepare(sc.fx, WB), 0);
	ms.sc[0] = &sc;
	ms.epoch = 1; /* as a published model set's: the devices' detectors are looked up */
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	windows_per_device(&sc);
	model_file();
	atomic_store(&dp.gen, g);
	signed_models(&dp, &p);
	apply_checks_running(&dp, &p);
	atomic_store(&dp.gen, NULL);
	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_dev_windows");
}
