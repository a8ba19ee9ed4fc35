// SPDX-License-Identifier: MIT
/*
 * A device's channel count checked against the one its detector was trained on (trial s20 H
 * M1): an authentic LGF frame, or UADP DataSetMessage, of another count is dropped as
 * channels, counted for the device (channels_drops, drops.channels), reported in status
 * ("not_scored", reason channels, the frames of the newest run), and a frame of the right
 * count ends it; a detector that records no count scores any, as before. The sample rate's
 * status count is the newest mismatch's run (trial L2: 700 said where 300 were meant). The
 * model file keeps "channels"; bad values are refused; a UADP device whose policy names
 * another number of fields than the detector's channels is refused at load (validate).
 */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/scorer.h"
#include "../../dataplane/stages.h"

#include <linegate/sign.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* Window 8: two frames of 4 samples make a window. a's detector was trained on 1 channel,
 * b's on 2, c's records none; d (UADP) on 1; e at 10000 Hz; f (UADP, d's writer group) has
 * no detector: any count. */
static const char policy_text[] =
    "version: 1\nuadp_port: 4840\ndetection: {window: 8, batch: 64}\ndevices:\n"
    "  - {id: 1, name: a, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 2, name: b, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 3, name: c, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - id: 4\n    name: d\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
    "    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, signed: false, "
    "replay: sequence}\n"
    "  - {id: 5, name: e, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - id: 6\n    name: f\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
    "    uadp: {publisher_id: 4000, writer_group: 17, writer: 2, signed: false, "
    "replay: sequence}\n";

static const char *const key_files[] = { "k1", KEY1, NULL };
static struct lgt_keys keys;
static uint8_t k1[32], buf[2048];
static struct lg_worker *w;
static struct lg_gen *g;
static struct lg_modelset *ms_test; /* the models the worker runs (status compares) */

static enum lg_reason judge(int len, int port_idx)
{
	struct lg_rx_pkt pkt = { .data = buf, .len = (uint32_t)len, .family = AF_INET,
				 .src_addr = { 10, 0, 0, 1 }, .port_idx = (uint8_t)port_idx };
	enum lg_reason r = lg_worker_handle(w, g, &pkt);

	lg_worker_count(w, r);
	return r;
}

/* An LGF frame of device dev: nch channels of 4 samples each, at rate Hz. */
static enum lg_reason lgf(uint32_t dev, uint64_t seq, unsigned nch, uint32_t rate)
{
	float s[4 * 4] = { 0 };
	struct lg_lgf_build bd = { .device_id = dev, .key_id = 1, .type = LGF_TYPE_SAMPLES,
				   .sample_format = LGF_FMT_F32, .channels = (uint8_t)nch,
				   .sample_count = 4, .sample_rate = rate, .scale = 1,
				   .sequence = seq, .samples = s };

	for (unsigned i = 0; i < 4 * nch; i++)
		s[i] = (float)(i % 3);
	return judge(lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf)), 0);
}

/* An unsigned UADP message of device d: nf Float[4] fields (one channel each); with nf2, a
 * second DataSetMessage, of device f, with nf2 such fields. */
static enum lg_reason uadp2(uint16_t seq, unsigned nf, unsigned nf2)
{
	static struct lg_uadp_msg m;
	static float s[4] = { 1, 2, 3, 4 };

	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = LG_UADP_PUBID_UINT16;
	m.pub_num = 4000;
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = 17;
	m.group_seq = seq;
	m.dsm_count = nf2 ? 2 : 1;
	m.dsm[0] = (struct lg_uadp_dsm){ .writer_id = 1, .flags1 = LG_UADP_D1_VALID,
					 .field_count = (uint16_t)nf };
	m.dsm[1] = (struct lg_uadp_dsm){ .writer_id = 2, .flags1 = LG_UADP_D1_VALID,
					 .field_count = (uint16_t)nf2, .first_field = (uint16_t)nf };
	for (unsigned f = 0; f < nf + nf2; f++)
		m.fields[f] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .is_array = 1,
						      .count = 4, .data = (const uint8_t *)s };
	m.nfields = nf + nf2;
	return judge(lg_uadp_encode(&m, NULL, NULL, 0, buf, sizeof(buf)), 1);
}

static enum lg_reason uadp(uint16_t seq, unsigned nf)
{
	return uadp2(seq, nf, 0);
}

static struct lg_dev_state *state(uint32_t id)
{
	return g->state[lg_policy_find(&g->policy, id) - g->policy.devices];
}

/* The "not_scored" entry of device name for reason why, or NULL. */
static json_object *not_scored(json_object *a, const char *name, const char *why)
{
	for (size_t i = 0; i < json_object_array_length(a); i++) {
		json_object *e = json_object_array_get_idx(a, i), *v, *r;

		if (json_object_object_get_ex(e, "name", &v) &&
		    json_object_object_get_ex(e, "reason", &r) &&
		    !strcmp(json_object_get_string(v), name) &&
		    !strcmp(json_object_get_string(r), why))
			return e;
	}
	return NULL;
}

static uint64_t field(json_object *e, const char *k)
{
	json_object *v;

	return e && json_object_object_get_ex(e, k, &v) ? json_object_get_uint64(v) : UINT64_MAX;
}

static void test_lgf(void)
{
	struct lg_dev_state *a = state(1), *b = state(2), *c = state(3);
	json_object *ns;

	w->rows = 0;
	/* a, 1 channel: scored; 2 channels: dropped, counted, reported */
	CHECK_EQ(lgf(1, 1, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 2, 1, 0), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(lgf(1, 3, 2, 0), LG_DROP_CHANNELS);
	CHECK_EQ(lgf(1, 4, 2, 0), LG_DROP_CHANNELS);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(atomic_load(&a->chan.drops), 2);
	CHECK_EQ(atomic_load(&a->drops[LG_DROP_CHANNELS]), 2);
	CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_CHANNELS]), 2);
	CHECK_EQ(atomic_load(&a->admitted), 2);
	/* authentic: its sequence is spent (a replay of it is a replay) */
	CHECK_EQ(lgf(1, 4, 1, 0), LG_DROP_REPLAYED);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK(not_scored(ns, "a", "channels") != NULL);
	CHECK_EQ(field(not_scored(ns, "a", "channels"), "frame_channels"), 2);
	CHECK_EQ(field(not_scored(ns, "a", "channels"), "want_channels"), 1);
	CHECK_EQ(field(not_scored(ns, "a", "channels"), "frames_dropped"), 2);
	json_object_put(ns);
	/* a frame of the right count ends it; the next run counts afresh */
	CHECK_EQ(lgf(1, 5, 1, 0), LG_OK);
	CHECK_EQ(atomic_load(&a->chan.bad), 0);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK(not_scored(ns, "a", "channels") == NULL);
	json_object_put(ns);
	CHECK_EQ(lgf(1, 6, 3, 0), LG_DROP_CHANNELS);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK_EQ(field(not_scored(ns, "a", "channels"), "frame_channels"), 3);
	CHECK_EQ(field(not_scored(ns, "a", "channels"), "frames_dropped"), 1);
	json_object_put(ns);
	CHECK_EQ(atomic_load(&a->chan.drops), 3);

	/* b, 2 channels: 1 is dropped too (fanA of the trial, scored silently on one) */
	CHECK_EQ(lgf(2, 1, 2, 0), LG_OK);
	CHECK_EQ(lgf(2, 2, 1, 0), LG_DROP_CHANNELS);
	CHECK_EQ(atomic_load(&b->chan.drops), 1);
	/* c's detector records no count: any is scored, as before */
	CHECK_EQ(lgf(3, 1, 1, 0), LG_OK);
	CHECK_EQ(lgf(3, 2, 1, 0), LG_OK);
	CHECK_EQ(lgf(3, 3, 2, 0), LG_OK);
	CHECK_EQ(atomic_load(&c->chan.drops), 0);
}

/* The sample rate's status count: the newest mismatch's frames, not every one before. */
static void test_rate_run(void)
{
	struct lg_dev_state *e = state(5);
	json_object *ns;

	for (uint64_t q = 1; q <= 4; q++)
		CHECK_EQ(lgf(5, q, 1, 20480), LG_DROP_SAMPLE_RATE);
	for (uint64_t q = 5; q <= 7; q++)
		CHECK_EQ(lgf(5, q, 1, 25600), LG_DROP_SAMPLE_RATE);
	CHECK_EQ(atomic_load(&e->rate.drops), 7);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK_EQ(field(not_scored(ns, "e", "sample_rate"), "frame_rate_hz"), 25600);
	CHECK_EQ(field(not_scored(ns, "e", "sample_rate"), "frames_dropped"), 3);
	json_object_put(ns);
	/* a model that reads another rate now: not listed as refused by the one that no longer
	 * runs (trial L, s22); the next frame decides. Back to it: listed again. */
	ms_test->sc[0]->set.det[4].sample_rate = 25600;
	ns = lg_dp_rate_json(g, ms_test);
	CHECK(not_scored(ns, "e", "sample_rate") == NULL);
	json_object_put(ns);
	ms_test->sc[0]->set.det[4].sample_rate = 10000;
	ns = lg_dp_rate_json(g, ms_test);
	CHECK(not_scored(ns, "e", "sample_rate") != NULL);
	json_object_put(ns);
	/* a frame at the right rate passes; the next run starts at 1 */
	CHECK_EQ(lgf(5, 8, 1, 10000), LG_OK);
	CHECK_EQ(lgf(5, 9, 1, 25600), LG_DROP_SAMPLE_RATE);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK_EQ(field(not_scored(ns, "e", "sample_rate"), "frames_dropped"), 1);
	json_object_put(ns);
	/* the rate is judged before the channels */
	CHECK_EQ(lgf(5, 10, 2, 25600), LG_DROP_SAMPLE_RATE);
}

static void test_uadp(void)
{
	struct lg_dev_state *d = state(4);
	json_object *ns;

	w->rows = 0;
	CHECK_EQ(uadp(1, 1), LG_OK);
	CHECK_EQ(uadp(2, 1), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(uadp(3, 1), LG_OK);
	/* two fields, two channels: dropped (the half-filled window waits) */
	CHECK_EQ(uadp(4, 2), LG_DROP_CHANNELS);
	CHECK_EQ(atomic_load(&d->chan.drops), 1);
	CHECK_EQ(atomic_load(&d->drops[LG_DROP_CHANNELS]), 1);
	CHECK_EQ(d->channels, 1);
	ns = lg_dp_rate_json(g, ms_test);
	CHECK_EQ(field(not_scored(ns, "d", "channels"), "frame_channels"), 2);
	json_object_put(ns);
	/* no window spans the dropped message's samples: 3's half is dropped at 5 (a gap in the
	 * device's sequence, window_gaps), 5 and 6 make the next row */
	CHECK_EQ(uadp(5, 1), LG_OK);
	CHECK_EQ(w->rows, 1);
	CHECK_EQ(atomic_load(&d->window_gaps), 1);
	CHECK_EQ(uadp(6, 1), LG_OK);
	CHECK_EQ(w->rows, 2);
	CHECK_EQ(atomic_load(&d->admitted), 5);
	/* its sequence was spent */
	CHECK_EQ(uadp(4, 1), LG_DROP_REPLAYED);
	/* A datagram of d (two channels: dropped) and f (no detector: any count, used): admitted,
	 * d's part counted as channels for d alone, f's as admitted
	 * (docs/drop-reasons.md, "Several devices in one datagram"). */
	{
		struct lg_dev_state *f = state(6);
		uint64_t adm = atomic_load(&d->admitted), ok = atomic_load(&w->st.reason[LG_OK]);
		uint64_t chan = atomic_load(&w->st.reason[LG_DROP_CHANNELS]);

		CHECK_EQ(uadp2(7, 2, 1), LG_OK);
		CHECK_EQ(atomic_load(&d->drops[LG_DROP_CHANNELS]), 2);
		CHECK_EQ(atomic_load(&d->chan.drops), 2);
		CHECK_EQ(atomic_load(&d->admitted), adm);
		CHECK_EQ(atomic_load(&f->admitted), 1);
		CHECK_EQ(f->fill, 4);
		CHECK_EQ(atomic_load(&w->st.reason[LG_OK]), ok + 1);
		CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_CHANNELS]), chan);
		CHECK_EQ(atomic_load(&w->st.uadp_partial), 1);
		/* d's part alone, dropped: nothing used, the datagram is channels */
		CHECK_EQ(uadp2(8, 2, 0), LG_DROP_CHANNELS);
		CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_CHANNELS]), chan + 1);
	}
}

/* "channels" in the file: kept, bad values refused, a per_channel of another count too. */
static void test_file(void)
{
	static const char *const bad[] = {
		"0", "17", "1.5", "\"2\"",
	};
	struct lg_detector det = { 0 }, back = { 0 };
	char path[] = "/tmp/lg_test_channels_XXXXXX", err[512];
	static char text[1 << 17], patched[(1 << 17) + 64];
	int fd = mkstemp(path);
	float rows[4 * LG_FEAT_N];

	CHECK(fd >= 0);
	close(fd);
	for (size_t i = 0; i < 4 * LG_FEAT_N; i++)
		rows[i] = (float)((i * 7919) % 101) / 10.0f;
	CHECK_EQ(lg_detector_fit(rows, 4, LG_FEAT_N, 0.99, 1.0, 8, &det), 0);
	det.channels = 3;
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.channels, 3);
	lg_detector_free(&back);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
		char *at;

		if (f)
			fclose(f);
		text[n] = '\0';
		at = strstr(text, "\"channels\":3");
		if (!at)
			at = strstr(text, "\"channels\": 3");
		CHECK(at != NULL);
		if (!at)
			break;
		snprintf(patched, sizeof(patched), "%.*s\"channels\": %s%s", (int)(at - text), text,
			 bad[i], strchr(at, ',') ? strchr(at, ',') : "}");
		f = fopen(path, "w");
		CHECK(f && fputs(patched, f) >= 0);
		if (f)
			fclose(f);
		CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "'channels'") != NULL);
		f = fopen(path, "w");
		CHECK(f && fputs(text, f) >= 0);
		if (f)
			fclose(f);
	}
	/* without it: 0, as before */
	det.channels = 0;
	CHECK_EQ(lg_detector_save(&det, path), 0);
	CHECK_EQ(lg_detector_load(path, 8, &back, err, sizeof(err)), 0);
	CHECK_EQ(back.channels, 0);
	lg_detector_free(&back);
	lg_detector_free(&det);
	unlink(path);
}

/* A UADP device whose policy 'channels' names 2 fields, under a model trained on 1 for it:
 * refused at load (validate, apply), as a policy sample_rate of another rate is; 1 field:
 * loaded. */
static void test_policy_channels(void)
{
	static const char *const pol[2] = {
		"version: 1\nuadp_port: 4840\ndetection: {window: 8}\ndevices:\n"
		"  - id: 4\n    name: d\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: "
		"k1.key}]\n    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, signed: "
		"false, replay: sequence, fields: [x, y], channels: [x, y]}\n",
		"version: 1\nuadp_port: 4840\ndetection: {window: 8}\ndevices:\n"
		"  - id: 4\n    name: d\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: "
		"k1.key}]\n    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, signed: "
		"false, replay: sequence, fields: [x, y], channels: [y]}\n",
	};
	const char *src = getenv("LG_SOURCE") ? getenv("LG_SOURCE") : "..";
	char path[] = "/tmp/lg_test_channels_m_XXXXXX", sigp[64], keyp[600], err[512];
	uint8_t key[LG_SIGN_SK_LEN], sig[LG_SIGN_SIG_LEN];
	static char text[1 << 17];
	struct lg_detector det = { 0 };
	float rows[4 * LG_FEAT_N];
	int fd = mkstemp(path);
	size_t n;
	FILE *f;

	CHECK(fd >= 0);
	close(fd);
	for (size_t i = 0; i < 4 * LG_FEAT_N; i++)
		rows[i] = (float)((i * 7919) % 101) / 10.0f;
	CHECK_EQ(lg_detector_fit(rows, 4, LG_FEAT_N, 0.99, 1.0, 8, &det), 0);
	det.channels = 1;
	CHECK_EQ(lg_detector_save(&det, path), 0);
	lg_detector_free(&det);
	f = fopen(path, "rb");
	n = f ? fread(text, 1, sizeof(text), f) : 0;
	if (f)
		fclose(f);
	snprintf(keyp, sizeof(keyp), "%s/control/defaults/demo-signing.key", src);
	CHECK_EQ(lg_hex_read_file(keyp, key, sizeof(key)), 0);
	lg_sign_buf(key, text, n, sig);
	snprintf(sigp, sizeof(sigp), "%s.sig", path);
	CHECK_EQ(lg_hex_write_file(sigp, sig, sizeof(sig), 0644), 0);
	for (int k = 0; k < 2; k++) {
		struct lg_policy p;
		struct lg_scorer sc;
		char pubp[600];
		int ret;

		if (lg_policy_parse(pol[k], strlen(pol[k]), keys.policy, &p, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			CHECK(0);
			continue;
		}
		snprintf(pubp, sizeof(pubp), "%s/control/defaults/demo-signing.pub", src);
		CHECK_EQ(lg_hex_read_file(pubp, p.model_keys[0], 32), 0);
		p.nmodel_keys = 1;
		ret = lg_scorer_load(&p, path, "m", 8, &sc, err, sizeof(err));
		if (k == 0) {
			CHECK_EQ(ret, -EINVAL);
			CHECK(strstr(err, "the model was trained on 1 channel, device d (id 4) sends "
					  "2 (the fields its 'channels' in the policy names)") != NULL);
		} else {
			CHECK_EQ(ret, 0);
			if (!ret)
				lg_scorer_free(&sc);
		}
		lg_policy_free(&p);
	}
	unlink(sigp);
	unlink(path);
}

static const char usage[] =
	"Usage: test_channels [options]\n"
	"\n"
	"A device's channel count against its detector's: LGF frames and UADP messages of\n"
	"another count dropped as channels, counted and reported; the sample rate's status\n"
	"count; the model file's \"channels\".\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_channels: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static struct lg_modelset ms;
	static struct lg_scorer sc;
	static struct lg_detector det[5];
	static char names[5][64] = { "a", "b", "c", "d", "e" };
	static unsigned name_det[5] = { 0, 1, 2, 3, 4 };
	static const unsigned chans[5] = { 1, 2, 0, 1, 0 };
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
	CHECK_EQ(lg_sign_init(), 0);
	test_file();
	test_policy_channels();
	w = &dp.workers[0];
	dp.nworkers = 1;
	dp.max_batch = 64;
	w->dp = &dp;
	for (int i = 0; i < 5; i++) {
		det[i].d = LG_FEAT_N;
		det[i].threshold = 1e30f;
		det[i].channels = chans[i];
		snprintf(det[i].name, sizeof(det[i].name), "%.8s", names[i]);
	}
	det[4].sample_rate = 10000;
	sc.kind = LG_SCORER_DETECTOR;
	sc.threshold = 1e30f;
	sc.in_dim = LG_FEAT_N;
	sc.set = (struct lg_detector_set){ .n = 5, .det = det, .fallback = -1, .nnames = 5,
					   .names = names, .name_det = name_det, .window = 8 };
	CHECK_EQ(lg_scorer_channels(&sc, 0), 1);
	CHECK_EQ(lg_scorer_channels(&sc, 1), 2);
	CHECK_EQ(lg_scorer_channels(&sc, 2), 0);
	CHECK_EQ(lg_scorer_channels(&sc, -1), 0);
	CHECK_EQ(lg_features_new(&sc.fx, NULL, LG_SPECTRUM_DEFAULT, 1), 0);
	CHECK_EQ(lg_features_prepare(sc.fx, 8), 0);
	ms.sc[0] = &sc;
	ms.epoch = 1;
	ms_test = &ms;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);

	test_lgf();
	test_rate_run();
	test_uadp();

	sc.set = (struct lg_detector_set){ .fallback = -1 };
	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_channels");
}
