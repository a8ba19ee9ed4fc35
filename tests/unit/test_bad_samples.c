// SPDX-License-Identifier: MIT
/* Bad samples in the worker (issue 8): NaN, +-Inf and out-of-range samples in LGF float32,
 * LGF int16 and UADP frames under detection.bad_samples: drop (the frame counted as
 * bad_sample, its replay state advanced, the device's partial window discarded) and mask (each
 * bad sample its channel's last good value), with the exact feature rows that result; and the
 * score stage's last guard: a non-finite row or score is an alert, counted, never a score. */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/record.h"
#include "../../dataplane/scorer.h"
#include "../../dataplane/stages.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "../lgtest.h"
#include "../lgt_frames.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Window 8: a row is 8 samples per channel. Device 2 has a range, devices 3 and 4 speak UADP
 * (one publisher's writer group: a message can carry both). */
static const char policy_text[] =
    "version: 1\nuadp_port: 4840\ndetection: {window: 8, batch: 64}\ndevices:\n"
    "  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 2, source: 10.0.0.1, range: [-2, 2.5], keys: [{id: 1, key_file: k1.key}]}\n"
    "  - id: 3\n    source: 10.0.0.1\n    range: [0, 100]\n"
    "    keys: [{id: 1, key_file: k1.key}]\n"
    "    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, signed: false, "
    "replay: sequence}\n"
    "  - id: 4\n    source: 10.0.0.1\n    range: [0, 100]\n"
    "    keys: [{id: 1, key_file: k1.key}]\n"
    "    uadp: {publisher_id: 4000, writer_group: 17, writer: 2, signed: false, "
    "replay: sequence}\n";

static const char *const key_files[] = {"k1", KEY1, NULL};
static struct lgt_keys keys;
static uint8_t k1[32], buf[2048];
static struct lg_worker *w;
static struct lg_gen *g;

static enum lg_reason feed(int len, int port_idx)
{
	struct lg_rx_pkt pkt = {.data = buf,
				.len = (uint32_t)len,
				.family = AF_INET,
				.src_addr = {10, 0, 0, 1},
				.port_idx = (uint8_t)port_idx};

	return lg_worker_handle(w, g, &pkt);
}

static enum lg_reason f32(uint32_t dev, uint64_t seq, float a, float b)
{
	const float s[4] = {a, b, a, b};

	return feed(lgt_lgf4(buf, sizeof(buf), k1, dev, seq, s), 0);
}

/* Two channels, four samples each: channel 0 a0 a1 a0 a1, channel 1 b0 b1 b0 b1. */
static enum lg_reason i16(uint32_t dev, uint64_t seq, float scale, int16_t a0, int16_t b0,
			  int16_t a1, int16_t b1)
{
	int16_t s[8] = {a0, b0, a1, b1, a0, b0, a1, b1};
	struct lg_lgf_build bd = {.device_id = dev,
				  .key_id = 1,
				  .type = LGF_TYPE_SAMPLES,
				  .sample_format = LGF_FMT_I16,
				  .channels = 2,
				  .sample_count = 4,
				  .scale = scale,
				  .sequence = seq,
				  .samples = s};

	return feed(lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf)), 0);
}

/* An unsigned UADP message of devices 3 (writer 1) and 4 (writer 2): ndsm DataSetMessages,
 * the i-th of writer[i] with a Float array a[i] b[i] a[i] b[i]. */
static enum lg_reason uadp_of(uint16_t seq, unsigned ndsm, const uint16_t *writer, const float *a,
			      const float *b)
{
	static struct lg_uadp_msg m;
	static float s[LG_UADP_MAX_DSM][4];

	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = LG_UADP_PUBID_UINT16;
	m.pub_num = 4000;
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = 17;
	m.group_seq = seq;
	m.dsm_count = (uint8_t)ndsm;
	for (unsigned i = 0; i < ndsm; i++) {
		s[i][0] = s[i][2] = a[i];
		s[i][1] = s[i][3] = b[i];
		m.dsm[i] = (struct lg_uadp_dsm){.writer_id = writer[i],
						.flags1 = LG_UADP_D1_VALID,
						.field_count = 1,
						.first_field = (uint16_t)i};
		m.fields[i] = (struct lg_uadp_field){.type = LG_UADP_T_FLOAT,
						     .is_array = 1,
						     .count = 4,
						     .data = (const uint8_t *)s[i]};
	}
	m.nfields = ndsm;
	return feed(lg_uadp_encode(&m, NULL, NULL, 0, buf, sizeof(buf)), 1);
}

/* An unsigned UADP message of device 3 with a Float array a b a b. */
static enum lg_reason uadp(uint16_t seq, float a, float b)
{
	return uadp_of(seq, 1, (const uint16_t[]){1}, &a, &b);
}

static struct lg_dev_state *state(uint32_t id)
{
	return g->state[lg_policy_find(&g->policy, id) - g->policy.devices];
}

/* The newest row's mean and peak (its window's samples are known exactly). */
static float row_feat(unsigned back, enum lg_feature f)
{
	return w->batch[(size_t)(w->rows - 1 - back) * LG_FEAT_N + f];
}

static void test_drop(void)
{
	struct lg_dev_state *s1 = state(1), *s2 = state(2), *s3 = state(3);

	g->policy.bad_samples = LG_BAD_SAMPLES_DROP;
	w->rows = 0;
	/* float32, no range: NaN, +Inf, -Inf and a value past 1e12 are each dropped */
	CHECK_EQ(f32(1, 1, 1, 2), LG_OK);
	CHECK_EQ(s1->fill, 4);
	CHECK_EQ(f32(1, 2, 3, NAN), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(s1->fill, 0); /* the partial window is gone: no row spans the gap */
	CHECK_EQ(f32(1, 2, 3, 4), LG_DROP_REPLAYED); /* authentic: its sequence was taken */
	CHECK_EQ(f32(1, 3, INFINITY, 4), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(f32(1, 4, 0, -INFINITY), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(f32(1, 5, 2e12f, 0), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(f32(1, 6, 1e12f, -1e12f), LG_OK); /* the limit itself is good */
	CHECK_EQ(f32(1, 7, 5, 7), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(row_feat(0, LG_FEAT_PEAK), 1e12f);
	for (int j = 0; j < LG_FEAT_N; j++)
		CHECK(isfinite(row_feat(0, (enum lg_feature)j)));
	CHECK_EQ(atomic_load(&s1->bad_sample_drops), 4);
	CHECK_EQ(atomic_load(&s1->admitted), 3);
	/* int16 against the range [-2, 2.5]: 2.5 is in, 2.6 out; a NaN scale makes every
	 * sample NaN; a huge scale is out of range */
	CHECK_EQ(i16(2, 1, 0.1f, 25, -20, 10, 0), LG_OK);
	CHECK_EQ(i16(2, 2, 0.1f, 26, 0, 0, 0), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(i16(2, 3, 0.1f, 0, 0, 0, -21), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(i16(2, 4, NAN, 0, 0, 0, 0), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(i16(2, 5, 1e30f, 1, 0, 0, 0), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(i16(2, 6, -0.1f, 20, 20, -25, -25), LG_OK); /* a negative scale, in range */
	CHECK_EQ(s2->fill, 4);
	CHECK_EQ(i16(2, 7, 0.1f, 1, 2, 3, 4), LG_OK);
	CHECK_EQ(w->rows, 3); /* a row per channel */
	CHECK_NEAR(row_feat(1, LG_FEAT_MEAN), (-2.0 + 2.5 + 0.1 + 0.3) / 4, 1e-6);
	CHECK_NEAR(row_feat(0, LG_FEAT_MEAN), (-2.0 + 2.5 + 0.2 + 0.4) / 4, 1e-6);
	CHECK_EQ(atomic_load(&s2->bad_sample_drops), 4);
	/* UADP: a message with a value outside [0, 100] is dropped whole */
	CHECK_EQ(uadp(10, 1, 2), LG_OK);
	CHECK_EQ(uadp(11, 3, 101), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(uadp(11, 3, 4), LG_DROP_REPLAYED);
	CHECK_EQ(uadp(12, NAN, 4), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(s3->fill, 0);
	CHECK_EQ(uadp(13, 5, 6), LG_OK);
	CHECK_EQ(uadp(14, 7, 8), LG_OK);
	CHECK_EQ(w->rows, 4);
	CHECK_NEAR(row_feat(0, LG_FEAT_MEAN), 6.5, 1e-6);
	CHECK_EQ(atomic_load(&s3->bad_sample_drops), 2);
	/* each the device's drop too, as an LGF frame's: admitted + dropped per device */
	CHECK_EQ(atomic_load(&s3->drops[LG_DROP_BAD_SAMPLE]), 2);
	CHECK_EQ(atomic_load(&s2->drops[LG_DROP_BAD_SAMPLE]), 4);
	CHECK_EQ(atomic_load(&w->st.samples_masked), 0);
}

static void test_mask(void)
{
	struct lg_dev_state *s1 = state(1), *s2 = state(2), *s3 = state(3);

	g->policy.bad_samples = LG_BAD_SAMPLES_MASK;
	w->rows = 0;
	/* float32: 7 is device 1's last good value (the end of the drop test) */
	CHECK_EQ(f32(1, 20, NAN, 2), LG_OK);
	CHECK_EQ(f32(1, 21, INFINITY, -3e12f), LG_OK);
	CHECK_EQ(w->rows, 1);
	/* 7 2 2 2, then 2 2 2 2 */
	CHECK_NEAR(row_feat(0, LG_FEAT_MEAN), 21.0 / 8, 1e-6);
	CHECK_NEAR(row_feat(0, LG_FEAT_PEAK), 7, 1e-6);
	CHECK_EQ(atomic_load(&s1->samples_masked), 6);
	/* int16, per channel: channel 0's last good is 0.3, channel 1's 0.4 */
	CHECK_EQ(i16(2, 20, 0.1f, 30, 5, 1, 1), LG_OK); /* 3.0 out of range, twice */
	CHECK_EQ(i16(2, 21, NAN, 1, 1, 1, 1), LG_OK);	/* all eight */
	CHECK_EQ(w->rows, 3);
	/* channel 0: 0.3 0.1 0.1 0.1, then 0.1 x 4; channel 1: 0.5 0.1 0.5 0.1, then 0.1 x 4 */
	CHECK_NEAR(row_feat(1, LG_FEAT_MEAN), 1.0 / 8, 1e-6);
	CHECK_NEAR(row_feat(0, LG_FEAT_MEAN), 1.6 / 8, 1e-6);
	CHECK_EQ(atomic_load(&s2->samples_masked), 10);
	/* UADP: 8 is the last good value */
	CHECK_EQ(uadp(20, -1, NAN), LG_OK);
	CHECK_EQ(uadp(21, 50, 1e9f), LG_OK);
	CHECK_EQ(w->rows, 4);
	/* 8 8 8 8 50 50 50 50 */
	CHECK_NEAR(row_feat(0, LG_FEAT_MEAN), 29.0, 1e-5);
	CHECK_EQ(atomic_load(&s3->samples_masked), 6);
	CHECK_EQ(atomic_load(&w->st.samples_masked), 22);
	CHECK_EQ(atomic_load(&s1->bad_sample_drops), 4); /* unchanged: nothing dropped */
	/* every row finite */
	for (size_t i = 0; i < (size_t)w->rows * LG_FEAT_N; i++)
		CHECK(isfinite(w->batch[i]));
}

/*
 * A datagram of two devices, one of whose DataSetMessages holds a bad sample: the other
 * device's data is used, so the datagram is admitted (and recorded, for that device); the
 * dropped part counts for its own device only. Each device counts once per datagram.
 */
static void test_several(void)
{
	static struct lg_dp *dp;
	struct lg_dev_state *s3 = state(3), *s4 = state(4);
	const uint16_t both[] = {1, 2}, twice[] = {2, 2};
	char dir[] = "/tmp/lg-bad-samples.XXXXXX", err[256] = "";
	struct lg_rec_conf c = {.max_file_bytes = 1u << 20,
				.max_file_seconds = 3600,
				.max_total_bytes = 1u << 30,
				.origin = "test"};
	struct lg_rec_status st;
	uint64_t adm3, adm4, bad3, bad4, bsd3;

	dp = w->dp;
	g->policy.bad_samples = LG_BAD_SAMPLES_DROP;
	w->rows = 0;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(c.dir, sizeof(c.dir), "%s", dir);
	snprintf(c.prefix, sizeof(c.prefix), "t");
	CHECK_EQ(lg_record_init(dp, "10.0.0.2", &dp->rec), 0);
	CHECK_EQ(lg_record_start(dp->rec, &c, err, sizeof(err)), 0);
	adm3 = atomic_load(&s3->admitted);
	adm4 = atomic_load(&s4->admitted);
	bad3 = atomic_load(&s3->drops[LG_DROP_BAD_SAMPLE]);
	bad4 = atomic_load(&s4->drops[LG_DROP_BAD_SAMPLE]);
	bsd3 = atomic_load(&s3->bad_sample_drops);
	/* device 3's part bad, device 4's good: admitted; 4's samples go into its window */
	CHECK_EQ(uadp_of(30, 2, both, (float[]){3, 1}, (float[]){101, 2}), LG_OK);
	CHECK_EQ(s3->fill, 0);
	CHECK_EQ(s4->fill, 4);
	CHECK_EQ(atomic_load(&s3->drops[LG_DROP_BAD_SAMPLE]), bad3 + 1);
	CHECK_EQ(atomic_load(&s3->bad_sample_drops), bsd3 + 1);
	CHECK_EQ(atomic_load(&s3->admitted), adm3);
	CHECK_EQ(atomic_load(&s4->admitted), adm4 + 1);
	CHECK_EQ(atomic_load(&w->st.uadp_partial), 1);
	/* both good: admitted for both; device 4's window is full: a row */
	CHECK_EQ(uadp_of(31, 2, both, (float[]){3, 5}, (float[]){4, 6}), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(atomic_load(&s3->admitted), adm3 + 1);
	CHECK_EQ(atomic_load(&s4->admitted), adm4 + 2);
	CHECK_EQ(atomic_load(&w->st.uadp_partial), 1);
	/* both bad: nothing used, the datagram is bad_sample, each device's part too */
	CHECK_EQ(uadp_of(32, 2, both, (float[]){NAN, -1}, (float[]){1, 1}), LG_DROP_BAD_SAMPLE);
	CHECK_EQ(atomic_load(&s3->drops[LG_DROP_BAD_SAMPLE]), bad3 + 2);
	CHECK_EQ(atomic_load(&s4->drops[LG_DROP_BAD_SAMPLE]), bad4 + 1);
	/* one device twice in a datagram, one part bad: used, so counted once, as admitted */
	CHECK_EQ(uadp_of(33, 2, twice, (float[]){200, 7}, (float[]){1, 8}), LG_OK);
	CHECK_EQ(atomic_load(&s4->admitted), adm4 + 3);
	CHECK_EQ(atomic_load(&s4->drops[LG_DROP_BAD_SAMPLE]), bad4 + 1);
	CHECK_EQ(atomic_load(&w->st.uadp_partial), 2);
	/* all four are recorded, the one dropped for its bad samples too: authentic and fresh,
	 * the line's own data (docs/recording.md; trial L, s22) */
	CHECK_EQ(lg_record_stop(dp->rec, "test"), 0);
	lg_record_status(dp->rec, &st);
	CHECK_EQ(st.frames, 4);
	CHECK_EQ(st.dropped, 0);
	lg_record_destroy(dp->rec);
	dp->rec = NULL;
	{
		char cmd[64];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK_EQ(system(cmd), 0);
	}
}

/* The score stage's guard, with a detector whose score is the row's sum of squares. */
static void test_guard(struct lg_scorer *sc)
{
	static float eye[LG_FEAT_N * LG_FEAT_N], mean[LG_FEAT_N], work[2 * 64 * LG_FEAT_N];
	static struct lg_detector det;
	struct lg_dev_state *s1 = state(1);
	struct lg_event e;
	float last;

	for (int i = 0; i < LG_FEAT_N; i++)
		eye[i * LG_FEAT_N + i] = 1;
	sc->kind = LG_SCORER_DETECTOR;
	sc->threshold = 100;
	det.d = LG_FEAT_N;
	det.mean = mean;
	det.w = eye;
	det.denom = 1;
	det.max_batch = 64;
	det.work = work;
	det.threshold = 100;
	sc->set = (struct lg_detector_set){ .n = 1, .det = &det, .fallback = 0 };
	w->rows = 4;
	for (unsigned r = 0; r < 4; r++) {
		memset(w->batch + r * LG_FEAT_N, 0, LG_FEAT_N * sizeof(float));
		memset(&w->meta[r], 0, sizeof(w->meta[r]));
		w->meta[r].device_id = 1;
		w->meta[r].seq = r;
		w->row_state[r] = s1;
	}
	w->batch[0 * LG_FEAT_N + LG_FEAT_RMS] = 2;	  /* score 4: normal */
	w->batch[1 * LG_FEAT_N + LG_FEAT_KURTOSIS] = NAN; /* a NaN feature */
	w->batch[2 * LG_FEAT_N + LG_FEAT_BAND0] = 1e30f;  /* finite, but the score overflows */
	w->batch[3 * LG_FEAT_N + LG_FEAT_MEAN] = 20;	  /* score 400: an alert */
	lg_worker_score(w, 4);
	CHECK_EQ(atomic_load(&w->st.rows_nonfinite), 2);
	CHECK_EQ(atomic_load(&w->st.scored), 4);
	/* scores ring: the normal row; alerts ring: the two non-finite ones and the real one */
	CHECK(lg_spsc_pop(&w->scores_ring, &e));
	CHECK_EQ(e.seq, 0);
	CHECK(!e.nonfinite && !e.alert && e.score == 4);
	CHECK(!lg_spsc_pop(&w->scores_ring, &e));
	for (unsigned r = 1; r < 4; r++) {
		CHECK(lg_spsc_pop(&w->alerts, &e));
		CHECK_EQ(e.seq, r);
		CHECK(e.alert);
		CHECK_EQ(e.nonfinite, r < 3);
	}
	CHECK(!lg_spsc_pop(&w->alerts, &e));
	/* the device's newest score is the last finite one */
	{
		uint32_t bits = atomic_load(&s1->last_score_bits);

		memcpy(&last, &bits, sizeof(last));
		CHECK_EQ(last, 400);
	}
	sc->set = (struct lg_detector_set){ .fallback = -1 };
}

static const char usage[] =
    "Usage: test_bad_samples [options]\n"
    "\n"
    "Bad samples in the worker: NaN, +-Inf and out-of-range samples in LGF float32, LGF\n"
    "int16 and UADP frames under detection.bad_samples drop and mask, with the exact feature\n"
    "rows that result, and the score stage's guard against non-finite rows and scores.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_bad_samples: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

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
	CHECK_EQ(lg_features_new(&sc.fx, NULL, LG_SPECTRUM_DEFAULT, 1), 0);
	CHECK_EQ(lg_features_prepare(sc.fx, 8), 0);
	ms.sc[0] = &sc;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	CHECK_EQ(g->policy.bad_samples, LG_BAD_SAMPLES_DROP); /* the default */
	CHECK(lg_policy_find(&g->policy, 2)->has_range);
	CHECK_EQ(lg_policy_find(&g->policy, 2)->range_max, 2.5f);

	test_drop();
	test_mask();
	test_several();
	test_guard(&sc);

	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_bad_samples");
}
