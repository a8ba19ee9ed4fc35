// SPDX-License-Identifier: MIT
/*
 * The reorder stage (dataplane/reorder.h): a device's frames enter its window in sequence
 * order. The pool alone (in order, one inversion, a gap that fills, a gap that times out, the
 * pool full, a late frame after the give-up, sequences near 2^64 - 1), then the worker's
 * verify stage with LGF and UADP frames, where the feature rows tell the order the samples
 * went in: every frame carries its sequence as its sample values.
 */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/reorder.h"
#include "../../dataplane/scorer.h"
#include "../../dataplane/stages.h"

#include <math.h>
#include <sys/socket.h>

#include "../lgtest.h"
#include "../lgt_frames.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define MS 1000000ull

/* Window 8: two LGF frames of 4 samples (or two UADP messages of 4 values) make a row. */
static const char policy_text[] =
    "version: 1\nuadp_port: 4840\ndetection: {window: 8, batch: 64}\ndevices:\n"
    "  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 2, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 4, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 5, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - {id: 6, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
    "  - id: 3\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
    "    uadp: {publisher_id: 4000, writer_group: 17, writer: 1, signed: false, "
    "replay: sequence}\n";

static const char *const key_files[] = {"k1", KEY1, NULL};
static struct lgt_keys keys;
static uint8_t k1[32], buf[2048];
static struct lg_worker *w;
static struct lg_gen *g;

/* One frame through the worker as its loop takes it: judged, counted, then the held frames
 * that may go on now are released (at time now). The frame's own verdict is returned. */
static enum lg_reason judge(int len, int port_idx, uint64_t now)
{
	struct lg_rx_pkt pkt = {.data = buf,
				.len = (uint32_t)len,
				.family = AF_INET,
				.src_addr = {10, 0, 0, 1},
				.port_idx = (uint8_t)port_idx};
	enum lg_reason r = lg_worker_handle(w, g, &pkt);

	lg_worker_count(w, r);
	lg_worker_held_ready(w);
	lg_worker_held_due(w, now);
	return r;
}

/* An LGF frame of device dev whose four samples are all v. */
static enum lg_reason lgf(uint32_t dev, uint64_t seq, float v, uint64_t now)
{
	const float s[4] = {v, v, v, v};

	return judge(lgt_lgf4(buf, sizeof(buf), k1, dev, seq, s), 0, now);
}

/* An unsigned UADP message of device 3, GroupHeader SequenceNumber seq, values all v. */
static enum lg_reason uadp(uint16_t seq, float v, uint64_t now)
{
	static struct lg_uadp_msg m;
	static float s[4];

	s[0] = s[1] = s[2] = s[3] = v;
	memset(&m, 0, sizeof(m));
	m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
		  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
	m.ext1 = LG_UADP_PUBID_UINT16;
	m.pub_num = 4000;
	m.group_flags = LG_UADP_G_WRITER_GROUP_ID | LG_UADP_G_SEQUENCE;
	m.writer_group_id = 17;
	m.group_seq = seq;
	m.dsm_count = 1;
	m.dsm[0] =
	    (struct lg_uadp_dsm){.writer_id = 1, .flags1 = LG_UADP_D1_VALID, .field_count = 1};
	m.fields[0] = (struct lg_uadp_field){
	    .type = LG_UADP_T_FLOAT, .is_array = 1, .count = 4, .data = (const uint8_t *)s};
	m.nfields = 1;
	return judge(lg_uadp_encode(&m, NULL, NULL, 0, buf, sizeof(buf)), 1, now);
}

static struct lg_dev_state *state(uint32_t id)
{
	return g->state[lg_policy_find(&g->policy, id) - g->policy.devices];
}

/* Row r's mean (rows in the order the windows filled). */
static float row_mean(unsigned r)
{
	return w->batch[(size_t)r * LG_FEAT_N + LG_FEAT_MEAN];
}

static uint64_t missing(const struct lg_dev_state *s)
{
	return atomic_load(&s->order.missing);
}

static uint64_t reordered(const struct lg_dev_state *s)
{
	return atomic_load(&s->order.reordered);
}

/* The pool and the order state alone. */
static void test_pool(void)
{
	struct lg_seq_order a = {0}, b = {0};
	struct lg_reorder r;
	struct lg_reorder_slot s;
	struct lg_rx_pkt pkt = {.data = buf, .len = 100};

	CHECK_EQ(lg_reorder_init(&r, 3), 0);
	/* Not started: 1 is in order; any other starts the sequence, or waits when held. */
	CHECK_EQ(lg_order_check(&a, 1, true), LG_ORDER_IN);
	CHECK_EQ(lg_order_check(&a, 7, false), LG_ORDER_IN);
	CHECK_EQ(lg_order_check(&a, 7, true), LG_ORDER_AHEAD);
	lg_order_deliver(&a, 1);
	CHECK_EQ(a.next, 2);
	CHECK_EQ(lg_order_check(&a, 2, true), LG_ORDER_IN);
	CHECK_EQ(lg_order_check(&a, 4, true), LG_ORDER_AHEAD);
	CHECK_EQ(lg_order_check(&a, 1, true), LG_ORDER_LATE);
	/* one inversion: 3 before 2 */
	CHECK(lg_reorder_hold(&r, &a, 3, &pkt, NULL, 0, 4 * MS));
	CHECK_EQ(a.held, 1);
	CHECK(lg_reorder_due(&r, 4 * MS));		/* its deadline */
	CHECK(!lg_reorder_take(&r, 1 * MS, false, &s)); /* 2 not in yet: nothing to do */
	lg_order_deliver(&a, 2);
	CHECK(lg_reorder_take(&r, 1 * MS, false, &s));
	CHECK_EQ(s.seq, 3);
	CHECK(s.pkt.data != buf && !memcmp(s.pkt.data, buf, 100));
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK_EQ(a.held, 0);
	CHECK_EQ(atomic_load(&a.reordered), 1);
	CHECK_EQ(atomic_load(&a.missing), 0);
	/* a gap that times out: 4 in, 5 never comes; 6, 7 held; at 4 ms they go on, 1 missing */
	lg_order_deliver(&a, 4);
	CHECK(lg_reorder_hold(&r, &a, 7, &pkt, NULL, 0, 4 * MS));
	CHECK(lg_reorder_hold(&r, &a, 6, &pkt, NULL, 1 * MS, 4 * MS));
	CHECK(!lg_reorder_due(&r, 3 * MS));
	CHECK(!lg_reorder_take(&r, 3 * MS, false, &s));
	CHECK(lg_reorder_take(&r, 4 * MS, false, &s));
	CHECK_EQ(s.seq, 6);
	CHECK_EQ(atomic_load(&a.missing), 1);
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK(lg_reorder_take(&r, 4 * MS, false, &s));
	CHECK_EQ(s.seq, 7);
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK(!lg_reorder_take(&r, 4 * MS, false, &s));
	CHECK_EQ(a.next, 8);
	/* late after the give-up */
	CHECK_EQ(lg_order_check(&a, 5, true), LG_ORDER_LATE);
	/* pool full (3): two devices; the oldest hold's device gives up first. 103 and 10 came
	 * from queue 1 (r.src: the worker sets it to the queue that received the frame), 9
	 * from queue 0: the sources of a device's holds (a replay that merges queues, worker.c) */
	lg_order_deliver(&b, 100);
	r.src = 1;
	CHECK(lg_reorder_hold(&r, &b, 103, &pkt, NULL, 10 * MS, 4 * MS));
	CHECK(lg_reorder_hold(&r, &a, 10, &pkt, NULL, 11 * MS, 4 * MS));
	r.src = 0;
	CHECK(lg_reorder_hold(&r, &a, 9, &pkt, NULL, 12 * MS, 4 * MS));
	CHECK(!lg_reorder_hold(&r, &a, 11, &pkt, NULL, 12 * MS, 4 * MS)); /* no room */
	CHECK(lg_reorder_oldest(&r) == &b);
	CHECK_EQ(lg_reorder_sources(&r, &b), 2);
	CHECK_EQ(lg_reorder_sources(&r, &a), 3);
	CHECK(lg_reorder_due(&r, 12 * MS));
	CHECK(lg_reorder_take(&r, 12 * MS, false, &s));
	CHECK(s.o == &b && s.seq == 103 && s.src == 1);
	CHECK_EQ(atomic_load(&b.missing), 2); /* 101, 102 */
	lg_order_deliver(&b, s.seq);
	lg_reorder_done(&r, &s);
	CHECK(!lg_reorder_take(&r, 12 * MS, false, &s)); /* a's gap (8) is not due yet */
	/* force (a new generation, the end): a's gap goes too, 9 then 10 */
	CHECK(lg_reorder_take(&r, 12 * MS, true, &s));
	CHECK(s.seq == 9 && s.src == 0);
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK(lg_reorder_take(&r, 12 * MS, true, &s));
	CHECK_EQ(s.seq, 10);
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(r.nfree, 4);
	CHECK_EQ(atomic_load(&a.missing), 2); /* 5 and 8 */
	/* too large to hold */
	pkt.len = LG_REORDER_MAX + 1;
	CHECK(!lg_reorder_hold(&r, &a, 12, &pkt, NULL, 0, 4 * MS));
	/* near 2^64 - 1: the last sequence ends the device's sequence; nothing follows it */
	memset(&a, 0, sizeof(a));
	pkt.len = 100;
	lg_order_deliver(&a, UINT64_MAX - 3);
	CHECK_EQ(lg_order_check(&a, UINT64_MAX, true), LG_ORDER_AHEAD);
	CHECK(lg_reorder_hold(&r, &a, UINT64_MAX, &pkt, NULL, 0, 4 * MS));
	CHECK(lg_reorder_take(&r, 5 * MS, false, &s));
	CHECK_EQ(atomic_load(&a.missing), 2); /* 2^64 - 3, 2^64 - 2 */
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK(a.ended);
	CHECK_EQ(a.next, 0);
	CHECK_EQ(lg_order_check(&a, UINT64_MAX - 1, true), LG_ORDER_LATE);
	CHECK_EQ(lg_order_check(&a, 1, true), LG_ORDER_LATE);
	memset(&a, 0, sizeof(a));
	lg_order_deliver(&a, UINT64_MAX - 1);
	CHECK_EQ(lg_order_check(&a, UINT64_MAX, true), LG_ORDER_IN);
	lg_order_deliver(&a, UINT64_MAX);
	CHECK(a.ended);
	CHECK_EQ(atomic_load(&a.missing), 0);
	lg_reorder_free(&r);
}

/* A gap wider than LG_SEQ_JUMP is one jump of the sender's numbering, not 2^64 frames lost
 * (trial J: a valid 2^64 - 1 after 302 added 1.8e19 to missing; the boot-counter scheme of
 * docs/wire-format.md about 4e9 per reboot). */
static void test_jumps(void)
{
	struct lg_reorder r;
	struct lg_seq_order a;
	struct lg_reorder_slot s;
	struct lg_rx_pkt pkt = { .len = 100 };
	uint8_t body[100] = { 0 };

	pkt.data = body;
	CHECK_EQ(lg_reorder_init(&r, 4), 0);
	/* in order, then 2^64 - 1 delivered directly (no holding) */
	memset(&a, 0, sizeof(a));
	lg_order_deliver(&a, 301);
	lg_order_deliver(&a, 302);
	lg_order_deliver(&a, UINT64_MAX);
	CHECK_EQ(atomic_load(&a.missing), 0);
	CHECK_EQ(atomic_load(&a.jumps), 1);
	CHECK(a.ended);
	/* the boot-counter scheme: boot 7's frame 1000, then boot 8's frame 1 */
	memset(&a, 0, sizeof(a));
	lg_order_deliver(&a, 7ull << 32 | 1000);
	lg_order_deliver(&a, 8ull << 32 | 1);
	CHECK_EQ(atomic_load(&a.missing), 0);
	CHECK_EQ(atomic_load(&a.jumps), 1);
	/* the edge: exactly LG_SEQ_JUMP skipped is frames lost; one more is a jump */
	memset(&a, 0, sizeof(a));
	lg_order_deliver(&a, 1);
	lg_order_deliver(&a, 2 + LG_SEQ_JUMP);
	CHECK_EQ(atomic_load(&a.missing), LG_SEQ_JUMP);
	CHECK_EQ(atomic_load(&a.jumps), 0);
	lg_order_deliver(&a, 3 + 2 * LG_SEQ_JUMP + 1);
	CHECK_EQ(atomic_load(&a.missing), LG_SEQ_JUMP);
	CHECK_EQ(atomic_load(&a.jumps), 1);
	/* through the pool: a held frame far ahead, its gap given up, is a jump too */
	memset(&a, 0, sizeof(a));
	lg_order_deliver(&a, 5);
	CHECK_EQ(lg_order_check(&a, 1ull << 63, true), LG_ORDER_AHEAD);
	CHECK(lg_reorder_hold(&r, &a, 1ull << 63, &pkt, NULL, 0, 4 * MS));
	CHECK(lg_reorder_take(&r, 5 * MS, false, &s));
	CHECK_EQ(s.seq, 1ull << 63);
	lg_order_deliver(&a, s.seq);
	lg_reorder_done(&r, &s);
	CHECK_EQ(atomic_load(&a.missing), 0);
	CHECK_EQ(atomic_load(&a.jumps), 1);
	CHECK_EQ(a.next, (1ull << 63) + 1);
	lg_reorder_free(&r);
}

/* LGF frames through the worker with holding on (two paths, as with afxdp and 2 workers). */
static void test_lgf(void)
{
	struct lg_dev_state *s1 = state(1), *s2 = state(2);
	uint64_t late0 = atomic_load(&w->st.reason[LG_DROP_LATE]);

	w->rows = 0;
	/* 1 2 | 4 3 | 5 6: the rows must be means 1.5, 3.5, 5.5 (not 1.5, 3.5 from 4 3...) */
	CHECK_EQ(lgf(1, 1, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 2, 2, 0), LG_OK);
	CHECK_EQ(lgf(1, 4, 4, 0), LG_HELD);
	CHECK_EQ(s1->fill, 0);
	CHECK_EQ(s1->replay.highest, 2);    /* nothing committed for a held frame */
	CHECK_EQ(lgf(1, 4, 4, 0), LG_HELD); /* a copy held too: refused when released */
	CHECK_EQ(lgf(1, 3, 3, 0), LG_OK);   /* fills the gap: 4 goes on right after */
	CHECK_EQ(w->rows, 2);
	CHECK_NEAR(row_mean(0), 1.5, 1e-6);
	CHECK_NEAR(row_mean(1), 3.5, 1e-6);
	CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_REPLAYED]), 1);
	CHECK_EQ(reordered(s1), 2);
	CHECK_EQ(missing(s1), 0);
	CHECK_EQ(w->ro.n, 0);
	/* a gap that times out: 7 is lost; 8 and 9 wait, then go on in order at 4 ms */
	CHECK_EQ(lgf(1, 5, 5, 0), LG_OK);
	CHECK_EQ(lgf(1, 6, 6, 0), LG_OK);
	CHECK_EQ(lgf(1, 9, 9, 1 * MS), LG_HELD);
	CHECK_EQ(lgf(1, 8, 8, 1 * MS), LG_HELD);
	CHECK_EQ(w->rows, 3);
	CHECK_EQ(w->ro.n, 2);
	lg_worker_held_due(w, 3 * MS); /* not yet: held at lg_now_ns(), due 4 ms later */
	CHECK_EQ(w->ro.n, 2);
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(w->rows, 4);
	CHECK_NEAR(row_mean(2), 5.5, 1e-6);
	CHECK_NEAR(row_mean(3), 8.5, 1e-6);
	CHECK_EQ(missing(s1), 1);
	/* late after the give-up: dropped, counted, nothing committed, no row */
	CHECK_EQ(lgf(1, 7, 7, 0), LG_DROP_LATE);
	CHECK_EQ(atomic_load(&s1->drops[LG_DROP_LATE]), 1);
	CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_LATE]) - late0, 1);
	CHECK_EQ(s1->fill, 0);
	/* the pool full (4 here): the oldest gap is given up at once, in order */
	CHECK_EQ(lgf(1, 12, 12, 0), LG_HELD);
	CHECK_EQ(lgf(1, 13, 13, 0), LG_HELD);
	CHECK_EQ(lgf(1, 14, 14, 0), LG_HELD);
	CHECK_EQ(lgf(1, 15, 15, 0), LG_HELD); /* the fourth: released right after */
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(missing(s1), 3); /* 10, 11 */
	CHECK_EQ(w->rows, 6);
	CHECK_NEAR(row_mean(4), 12.5, 1e-6);
	CHECK_NEAR(row_mean(5), 14.5, 1e-6);
	CHECK_EQ(lgf(1, 11, 11, 0), LG_DROP_LATE);
	/* the first frame of a device, not 1: waits for an earlier one its hold time */
	CHECK_EQ(lgf(2, UINT64_MAX - 1, 7, 0), LG_HELD);
	CHECK_EQ(lgf(2, UINT64_MAX - 2, 6, 0), LG_HELD);
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(missing(s2), 0); /* nothing is missing before the first */
	/* 2^64 - 2 is the sequence's first; 2^64 - 1 came before it: reordered, it alone
	 * (trial P, s22: both were counted) */
	CHECK_EQ(reordered(s2), 1);
	CHECK_EQ(w->rows, 7);
	CHECK_NEAR(row_mean(6), 6.5, 1e-6);
	/* 2^64 - 1 ends the sequence: it goes in; every later one is refused */
	CHECK_EQ(lgf(2, UINT64_MAX, 8, 0), LG_OK);
	CHECK(s2->order.ended);
	CHECK_EQ(lgf(2, UINT64_MAX - 3, 1, 0), LG_DROP_LATE);
	CHECK_EQ(lgf(2, 1, 1, 0), LG_DROP_TOO_OLD);
	/* the worker's counters: every frame judged once (held ones when released) */
	{
		uint64_t all = 0;

		for (int r = 0; r < LG_REASON_MAX; r++)
			all += atomic_load(&w->st.reason[r]);
		CHECK_EQ(all, atomic_load(&w->st.rx));
	}
}

/* UADP, replay: sequence: the 16-bit SequenceNumber, unwrapped, is the order. */
static void test_uadp(void)
{
	struct lg_dev_state *s3 = state(3);

	w->rows = 0;
	/* 65534 65535 | 1 0 (across the wrap: 0 fills the gap) | 2 3 */
	CHECK_EQ(uadp(65534, 1, 0), LG_HELD); /* a first frame, not the first sequence: waits */
	CHECK_EQ(uadp(65535, 2, 0), LG_HELD);
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(w->rows, 1);
	CHECK_NEAR(row_mean(0), 1.5, 1e-6);
	CHECK_EQ(uadp(1, 4, 0), LG_HELD);
	CHECK_EQ(uadp(0, 3, 0), LG_OK);
	CHECK_EQ(w->rows, 2);
	CHECK_NEAR(row_mean(1), 3.5, 1e-6);
	/* 65534 and 65535 waited as a start's first frames, in order: not reordered (trial P,
	 * s22: a restart's first two frames were counted); 1, ahead of 0: reordered */
	CHECK_EQ(reordered(s3), 1);
	CHECK_EQ(missing(s3), 0);
	/* a lost one (2) given up at the hold's end; then it is late */
	CHECK_EQ(uadp(3, 5, 0), LG_HELD);
	CHECK_EQ(uadp(4, 6, 0), LG_HELD);
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(w->rows, 3);
	CHECK_NEAR(row_mean(2), 5.5, 1e-6);
	CHECK_EQ(missing(s3), 1);
	CHECK_EQ(uadp(2, 9, 0), LG_DROP_LATE);
	CHECK_EQ(atomic_load(&s3->drops[LG_DROP_LATE]), 1);
	CHECK_EQ(atomic_load(&s3->admitted), 6);
}

/* One path (hold 0): never held; a gap is lost at once, a frame behind it late. */
static void test_one_path(void)
{
	struct lg_dev_state *s1 = state(1);
	uint64_t m0 = missing(s1), r0 = reordered(s1);

	w->dp->hold_lgf_ns = 0;
	w->rows = 0;
	CHECK_EQ(lgf(1, 40, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 41, 1, 0), LG_OK);
	CHECK_EQ(missing(s1) - m0, 24); /* 16..39 */
	CHECK_EQ(lgf(1, 43, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 42, 1, 0), LG_DROP_LATE);
	CHECK_EQ(missing(s1) - m0, 25);
	CHECK_EQ(reordered(s1), r0);
	CHECK_EQ(w->ro.n, 0);
	w->dp->hold_lgf_ns = 4 * MS;
}

/* One path with holds (one worker, or a steering backend): only the network reorders, so a
 * gap waits for the device's next frame; a second frame ahead ends it at the next look. */
static void test_one_path_held(void)
{
	struct lg_dev_state *s1 = state(1);
	uint64_t m0 = missing(s1), r0 = reordered(s1), l0 = atomic_load(&s1->drops[LG_DROP_LATE]);

	w->dp->one_path_lgf = true;
	/* the network swapped 45 and 44: both go in, in order, none late */
	CHECK_EQ(lgf(1, 44, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 46, 1, 0), LG_HELD);
	CHECK_EQ(lgf(1, 45, 1, 0), LG_OK);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(reordered(s1) - r0, 1);
	/* 47 lost (a socket overflow): 48 waits; 49, a second frame ahead, ends the gap now */
	CHECK_EQ(lgf(1, 48, 1, 0), LG_HELD);
	CHECK_EQ(lgf(1, 49, 1, 0), LG_HELD);
	/* due at once (the worker's loop looks after each burst; here, now) */
	CHECK(!w->ro.n || lg_reorder_due(&w->ro, lg_now_ns()));
	lg_worker_release_held(w, lg_now_ns(), false);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(missing(s1) - m0, 1);
	CHECK_EQ(reordered(s1) - r0, 3);
	CHECK_EQ(lgf(1, 50, 1, 0), LG_OK);
	CHECK_EQ(lgf(1, 47, 1, 0), LG_DROP_LATE);
	CHECK_EQ(atomic_load(&s1->drops[LG_DROP_LATE]) - l0, 1);
	/* two paths (the default here): a second frame ahead waits its hold time */
	w->dp->one_path_lgf = false;
	CHECK_EQ(lgf(1, 52, 1, 0), LG_HELD);
	CHECK_EQ(lgf(1, 53, 1, 0), LG_HELD);
	CHECK(!lg_reorder_due(&w->ro, lg_now_ns()));
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(missing(s1) - m0, 2);
}

/* A held frame's tag is checked once, when it arrives: the pool's copy is not verified
 * again when it is released (a changed byte of the copy is not seen); a forged frame is
 * still refused on arrival. */
static void test_verified_once(void)
{
	struct lg_dev_state *s1 = state(1);
	uint64_t bad0 = atomic_load(&w->st.reason[LG_DROP_BAD_TAG]);
	uint64_t adm0 = atomic_load(&s1->admitted);
	int len;

	w->rows = 0;
	CHECK_EQ(lgf(1, 55, 7, 0), LG_HELD); /* 54 has not come */
	CHECK_EQ(w->ro.n, 1);
	w->ro.slot[0].buf[w->ro.slot[0].pkt.len - 1] ^= 1;
	CHECK_EQ(lgf(1, 54, 7, 0), LG_OK);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(s1->replay.highest, 55);
	CHECK_EQ(atomic_load(&s1->admitted) - adm0, 2);
	CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_BAD_TAG]) - bad0, 0);
	CHECK(!w->releasing);
	/* a frame with a changed tag byte on arrival: refused, counted */
	{
		float v[4] = {1, 1, 1, 1};
		struct lg_lgf_build bd = {.device_id = 1, .key_id = 1, .type = LGF_TYPE_SAMPLES,
					  .sample_format = LGF_FMT_F32, .channels = 1,
					  .sample_count = 4, .scale = 1, .sequence = 57, .samples = v};

		len = lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf));
		buf[len - 1] ^= 1;
		CHECK_EQ(judge(len, 0, 0), LG_DROP_BAD_TAG);
	}
	CHECK_EQ(atomic_load(&w->st.reason[LG_DROP_BAD_TAG]) - bad0, 1);
	CHECK_EQ(w->ro.n, 0);
}

/* An LGF frame of device dev stamped ts_ns, 4 samples of v at 1000 samples/s (4 ms a
 * frame); a heartbeat when hb. */
static enum lg_reason lgf_ts(uint32_t dev, uint64_t seq, float v, uint64_t ts_ns, bool hb)
{
	float x[4] = {v, v, v, v};
	struct lg_lgf_build bd = {.device_id = dev, .key_id = 1,
				  .type = hb ? LGF_TYPE_HEARTBEAT : LGF_TYPE_SAMPLES,
				  .sample_format = LGF_FMT_F32, .channels = hb ? 0 : 1,
				  .sample_count = hb ? 0 : 4, .sample_rate = hb ? 0 : 1000,
				  .scale = 1, .sequence = seq, .timestamp_ns = ts_ns,
				  .samples = hb ? NULL : x};

	return judge(lg_lgf_encode(&bd, k1, sizeof(k1), buf, sizeof(buf)), 0, 0);
}

/* No window spans a gap in its device's stream (trial s20 H H1: one lost frame made an alert
 * at 80-250x the threshold): a sequence gap cuts it; so does a pause of over a second of a
 * sender on its samples' clock (8 frames on time before it); a sender on another clock (a
 * load generator's wall clock) loses no window to its jitter; a heartbeat is no gap. */
static void test_window_gaps(void)
{
	struct lg_dev_state *s1 = state(1);
	const uint64_t F = 4000000, t = 1000000000000ull, P = 2000000000ull, tt = t + 100 * P;
	uint64_t g0;

	w->dp->hold_lgf_ns = 0;
	CHECK_EQ(lgf_ts(1, 100, 0, t, false), LG_OK); /* after the tests before: a gap anyway */
	g0 = atomic_load(&s1->window_gaps);
	CHECK_EQ(s1->fill, 4);
	w->rows = 0;
	CHECK_EQ(lgf_ts(1, 101, 1, t + F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 102, 2, t + 2 * F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 104, 3, t + 4 * F, false), LG_OK); /* 103 lost: 102's half dropped */
	CHECK_EQ(atomic_load(&s1->window_gaps), g0 + 1);
	CHECK_EQ(lgf_ts(1, 105, 3, t + 5 * F, false), LG_OK);
	for (uint64_t q = 106; q <= 113; q++) /* on the samples' clock: 8 frames on time */
		CHECK_EQ(lgf_ts(1, q, 4, t + (q - 100) * F, false), LG_OK);
	/* a pause of 2 s, the sequence unbroken */
	CHECK_EQ(lgf_ts(1, 114, 5, t + 14 * F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 115, 6, t + 15 * F + P, false), LG_OK);
	CHECK_EQ(atomic_load(&s1->window_gaps), g0 + 2);
	CHECK_EQ(lgf_ts(1, 116, 6, t + 16 * F + P, false), LG_OK);
	/* a load generator's wall clock: a second late, one step on time, then 1 ms apart: no
	 * gap (the sequence goes on) */
	CHECK_EQ(lgf_ts(1, 117, 7, tt, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 118, 7, tt + 1000000, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 119, 8, tt + 1000000 + F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 120, 8, tt + 2000000 + F, false), LG_OK);
	CHECK_EQ(atomic_load(&s1->window_gaps), g0 + 2);
	CHECK_EQ(lgf_ts(1, 121, 9, tt + 3000000 + F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 123, 10, tt + 4000000 + F, false), LG_OK); /* 122 lost */
	CHECK_EQ(atomic_load(&s1->window_gaps), g0 + 3);
	CHECK_EQ(lgf_ts(1, 124, 10, tt + 5000000 + F, false), LG_OK);
	/* a heartbeat between two frames of a window */
	CHECK_EQ(lgf_ts(1, 125, 11, tt + 6000000 + F, false), LG_OK);
	CHECK_EQ(lgf_ts(1, 126, 0, tt + 7000000 + F, true), LG_OK);
	CHECK_EQ(lgf_ts(1, 127, 11, tt + 8000000 + F, false), LG_OK);
	CHECK_EQ(atomic_load(&s1->window_gaps), g0 + 3);
	CHECK_EQ(w->rows, 11);
	{
		static const float want[] = { 0.5, 3, 4, 4, 4, 4, 6, 7, 8, 10, 11 };

		for (unsigned r = 0; r < 11; r++)
			CHECK_NEAR(row_mean(r), want[r], 1e-6);
	}
	w->dp->hold_lgf_ns = 4 * MS;
	/* UADP (replay: sequence): a DataSetMessage lost */
	{
		struct lg_dev_state *s3 = state(3);

		w->dp->hold_uadp_ns = 0;
		CHECK_EQ(uadp(10, 0, 0), LG_OK);
		g0 = atomic_load(&s3->window_gaps);
		CHECK_EQ(s3->fill, 4);
		CHECK_EQ(uadp(11, 1, 0), LG_OK);
		CHECK_EQ(uadp(12, 2, 0), LG_OK);
		CHECK_EQ(uadp(14, 3, 0), LG_OK); /* 13 lost */
		CHECK_EQ(uadp(15, 3, 0), LG_OK);
		CHECK_EQ(atomic_load(&s3->window_gaps), g0 + 1);
		CHECK_EQ(w->rows, 13);
		CHECK_NEAR(row_mean(11), 0.5, 1e-6);
		CHECK_NEAR(row_mean(12), 3, 1e-6);
		w->dp->hold_uadp_ns = 4 * MS;
	}
}

/* When a timed-out gap may be declared lost: no other worker can still hand its frame over. */
static void test_may_close(void)
{
	struct lg_dp *dp = w->dp;
	struct lg_worker *x = &dp->workers[1];
	struct lg_rx_pkt pkt = {.data = buf, .len = 10};

	dp->nworkers = 2;
	atomic_store(&x->caught_up_ns, 5 * MS);
	atomic_store(&x->rx_idle, false);
	CHECK(!lg_worker_gap_may_close(w, 6 * MS)); /* busy, last caught up before the hold */
	CHECK(lg_worker_gap_may_close(w, 5 * MS));  /* caught up since */
	atomic_store(&x->rx_idle, true);
	CHECK(lg_worker_gap_may_close(w, 6 * MS)); /* waiting for frames: nothing on its way */
	/* a frame in this worker's own handoff ring may be the one the gap waits for */
	CHECK_EQ(lg_handoff_init(&w->in), 0);
	CHECK(lg_handoff_push(&w->in, &pkt));
	CHECK(!lg_worker_gap_may_close(w, 6 * MS));
	lg_handoff_pop(&w->in);
	CHECK(lg_worker_gap_may_close(w, 6 * MS));
	lg_handoff_free(&w->in);
	atomic_store(&x->caught_up_ns, UINT64_MAX); /* its stream ended */
	atomic_store(&x->rx_idle, false);
	CHECK(lg_worker_gap_may_close(w, 6 * MS));
	dp->nworkers = 1;
}

/* A frame a replay window or more ahead is not held: the frames of the gap before it are
 * too old behind it whenever they come (trial X1, s26: 2^64 - 1 after 300, then 301.. in
 * the same burst were taken while it waited: admitted or refused by the pace). */
static void test_far_ahead(void)
{
	struct lg_dev_state *s4 = state(4);
	uint64_t next;

	/* one path (uring, pcap: they steer; one worker): a jump goes on at once */
	w->dp->one_path_lgf = true;
	CHECK_EQ(lgf(4, 1, 1, 0), LG_OK);
	/* 1023 ahead of its next (2): held, as near ones are */
	CHECK_EQ(lgf(4, 2 + LG_REPLAY_WINDOW - 1, 1, 0), LG_HELD);
	CHECK_EQ(lgf(4, 2, 1, 0), LG_OK);
	lg_worker_release_held(w, lg_now_ns() + 5 * MS, false);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(s4->replay.highest, 2 + LG_REPLAY_WINDOW - 1);
	next = s4->order.next;
	CHECK_EQ(next, 2 + LG_REPLAY_WINDOW);
	/* a window ahead: it goes on at once, and what it skipped is too old after it */
	CHECK_EQ(lgf(4, next + LG_REPLAY_WINDOW, 1, 0), LG_OK);
	CHECK_EQ(w->ro.n, 0);
	CHECK_EQ(lgf(4, next, 1, 0), LG_DROP_TOO_OLD);
	CHECK_EQ(lgf(4, next + 1, 1, 0), LG_DROP_LATE); /* in the window, but its gap was lost */
	/* 2^64 - 1: the sequence ends now; the low ones after it are too old, not admitted */
	CHECK_EQ(lgf(4, UINT64_MAX, 1, 0), LG_OK);
	CHECK(s4->order.ended);
	for (uint64_t q = next + LG_REPLAY_WINDOW + 1; q < next + LG_REPLAY_WINDOW + 17; q++)
		CHECK_EQ(lgf(4, q, 1, 0), LG_DROP_TOO_OLD);
	/* A device's first frame on one path is not held: 2^64 - 1 first, then 1..16, are too
	 * old whatever the pace (trial X3, s27: held, and admitted in a burst, refused when
	 * slower) */
	CHECK_EQ(lgf(5, UINT64_MAX, 1, 0), LG_OK);
	CHECK_EQ(w->ro.n, 0);
	for (uint64_t q = 1; q <= 16; q++)
		CHECK_EQ(lgf(5, q, 1, 0), LG_DROP_TOO_OLD);
	/* two paths (several queues): a queue may run a window ahead of another; held, and the
	 * frames of the gap go in first (a replay merging queues, reorder_dpdk's blocks) */
	w->dp->one_path_lgf = false;
	CHECK_EQ(lgf(6, 1, 1, 0), LG_OK);
	CHECK_EQ(lgf(6, 2 + LG_REPLAY_WINDOW, 1, 0), LG_HELD);
	for (uint64_t q = 2; q < 2 + LG_REPLAY_WINDOW; q++)
		if (lgf(6, q, 1, 0) != LG_OK)
			break;
	CHECK_EQ(state(6)->order.next, 3 + LG_REPLAY_WINDOW);
	CHECK_EQ(w->ro.n, 0);
}

static const char usage[] =
    "Usage: test_reorder [options]\n"
    "\n"
    "The reorder stage: a device's frames enter its window in sequence order (the pool\n"
    "alone, then LGF and UADP frames through the worker), gaps that fill, time out or\n"
    "overflow the pool, late frames, sequences near 2^64 - 1, one path that never holds\n"
    "(--reorder-hold 0) and one path that holds until the device's next frame.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_reorder: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static struct lg_modelset ms;
	static struct lg_scorer sc;
	struct lg_policy p;
	char err[256];

	lgt_cli(argc, argv, usage, 0, 0);
	test_pool();
	test_jumps();
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
	dp.hold_lgf_ns = dp.hold_uadp_ns = 4 * MS;
	w->dp = &dp;
	CHECK_EQ(lg_features_new(&sc.fx, NULL, LG_SPECTRUM_DEFAULT, 1), 0);
	CHECK_EQ(lg_features_prepare(sc.fx, 8), 0);
	ms.sc[0] = &sc;
	w->ms = &ms;
	CHECK_EQ(lg_worker_buffers(w, 64, 16, 16), 0);
	CHECK_EQ(lg_reorder_init(&w->ro, 4), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);

	test_lgf();
	test_uadp();
	test_one_path();
	test_one_path_held();
	test_verified_once();
	test_window_gaps();
	test_may_close();
	test_far_ahead();

	lg_gen_free(g, NULL);
	lg_features_free(sc.fx);
	lg_worker_buffers_free(w);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_reorder");
}
