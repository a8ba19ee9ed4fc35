// SPDX-License-Identifier: MIT
/*
 * The XDP admission program under BPF_PROG_RUN:
 *  - every shared case (admit_testlib.c) against the program and against the
 *    user-space build of the same decision; verdicts must be identical;
 *  - the token bucket on the kernel clock (real sleeps, bounds from the
 *    clock readings around them);
 *  - generation switches while frames run on another thread: a device in
 *    every generation is never dropped, no frame ever sees "no table";
 *  - with the afxdp backend's setting, a frame for an empty XSKMAP slot is no_reader;
 *  - the verifier accepts the program; its statistics are printed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "admit_testlib.h"
#include "lgadmit.h"
/* The program's .bss layout, to break a table on purpose (b_steal). */
#include "admit.skel.h"
#include "../lgt_cli.h"

static char verifier_log[1 << 16];

struct bpf_target {
	struct lg_admit *a;
};

static int open_admit(struct lg_admit **a, lg_u8 default_not_ours, int test_clock)
{
	struct lg_admit_opts o = {
	    .default_not_ours = default_not_ours,
	    .test_clock = (lg_u8)test_clock,
	    .log_buf = verifier_log,
	    .log_size = sizeof(verifier_log),
	};

	verifier_log[0] = 0;
	return lg_admit_open(&o, a);
}

static int b_reset(struct lgt_target *t, lg_u8 default_not_ours)
{
	struct bpf_target *b = t->ctx;

	lg_admit_close(b->a);
	b->a = NULL;
	return open_admit(&b->a, default_not_ours, 1);
}

static int b_apply(struct lgt_target *t, const struct lg_admit_cfg *cfg,
		   const struct lg_admit_entry *devs, size_t n)
{
	return lg_admit_apply(((struct bpf_target *)t->ctx)->a, cfg, devs, n, NULL);
}

static int b_export(struct lgt_target *t, lg_u32 id, lg_u64 seq)
{
	return lg_admit_export_seq(((struct bpf_target *)t->ctx)->a, id, seq);
}

/* One of the program's maps by name (the library keeps them to itself). */
static int map_fd_by_name(struct lg_admit *a, const char *name)
{
	struct bpf_prog_info info = {0};
	struct bpf_map_info minfo;
	__u32 ids[16], len = sizeof(info), i;
	int fd;

	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (bpf_obj_get_info_by_fd(lg_admit_prog_fd(a), &info, &len))
		return -errno;
	for (i = 0; i < info.nr_map_ids && i < 16; i++) {
		fd = bpf_map_get_fd_by_id(ids[i]);
		if (fd < 0)
			continue;
		memset(&minfo, 0, sizeof(minfo));
		len = sizeof(minfo);
		if (!bpf_obj_get_info_by_fd(fd, &minfo, &len) && !strcmp(minfo.name, name))
			return fd;
		close(fd);
	}
	return -ENOENT;
}

/*
 * Runtime state sits in an array at a slot the loader assigns, so it cannot
 * go missing by itself any more; the program still fails closed when a
 * table points outside the array. Make device id do that in every table.
 */
static int b_steal(struct lgt_target *t, lg_u32 id, lg_u32 junk_id)
{
	struct admit_bpf__bss *bss = malloc(sizeof(*bss));
	int fd = map_fd_by_name(((struct bpf_target *)t->ctx)->a, "admit_bp.bss");
	__u32 zero = 0, slot;
	int err = -ENOENT;

	(void)junk_id;
	if (!bss || fd < 0) {
		free(bss);
		return fd < 0 ? fd : -ENOMEM;
	}
	if (bpf_map_lookup_elem(fd, &zero, bss)) {
		err = -errno;
		goto out;
	}
	/* Both generation slots: whichever is live. */
	for (slot = 0; slot < 2; slot++) {
		struct lg_admit_dev *d;

		if (!bss->lg_gens[slot].cfg.generation)
			continue;
		d = (struct lg_admit_dev *)lg_admit_table_find(&bss->lg_gens[slot], id);
		if (d) {
			d->slot = LG_ADMIT_STATE_SLOTS;
			err = 0;
		}
	}
	if (!err && bpf_map_update_elem(fd, &zero, bss, BPF_ANY))
		err = -errno;
out:
	close(fd);
	free(bss);
	return err;
}

static void b_clock(struct lgt_target *t, lg_u64 now)
{
	lg_admit_set_test_clock(((struct bpf_target *)t->ctx)->a, now);
}

/* BPF_PROG_RUN takes a first buffer of any length (ctx data_end below the data's): 6.18+. */
static bool split_anywhere;

static int prog_run(int prog_fd, const lg_u8 *frame, lg_u32 len, int repeat, int *action)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len, .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog_fd, &o);

	if (err)
		return err;
	*action = (int)o.retval;
	return 0;
}

/*
 * A multi-buffer frame: BPF_PROG_RUN puts data_end (ctx) bytes in the first buffer,
 * the rest in page-sized fragments (xdp.frags programs). Kernels before 6.18 wanted
 * ctx's data_end to be the whole length and split at LGT_MB_LINEAR_MAX by themselves:
 * that split needs no ctx.
 */
static int prog_run_split(int prog_fd, const lg_u8 *frame, lg_u32 len, lg_u32 linear, int *action)
{
	struct xdp_md ctx = {.data = 0, .data_end = linear};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len, .repeat = 1,
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx));
	int err;

	if (linear == LGT_MB_LINEAR_MAX && !split_anywhere)
		return prog_run(prog_fd, frame, len, 1, action);
	err = bpf_prog_test_run_opts(prog_fd, &o);
	if (err)
		return err;
	*action = (int)o.retval;
	return 0;
}

/* The reason is whichever counter moved; exactly one must have moved, by one. */
static int b_run_split(struct lgt_target *t, const lg_u8 *frame, lg_u32 len, lg_u32 linear,
		       struct lgt_result *res)
{
	struct lg_admit *a = ((struct bpf_target *)t->ctx)->a;
	struct lg_admit_reason_ctr before[LG_R_MAX], after[LG_R_MAX];
	int err, r, moved = 0;

	err = lg_admit_read_reasons(a, before);
	if (!err && linear < len)
		err = prog_run_split(lg_admit_prog_fd(a), frame, len, linear, &res->action);
	else if (!err)
		err = prog_run(lg_admit_prog_fd(a), frame, len, 1, &res->action);
	if (!err)
		err = lg_admit_read_reasons(a, after);
	if (err)
		return err;
	res->reason = -1;
	res->audited = 0;
	for (r = 0; r < LG_R_MAX; r++) {
		lg_u64 d = after[r].frames - before[r].frames;
		lg_u64 da = after[r].audited - before[r].audited;

		if (d) {
			moved += (int)d;
			res->reason = r;
		}
		if (da == 1 && !res->audited)
			res->audited = r;
		else if (da)
			return -EPROTO;
	}
	return moved == 1 ? 0 : -EPROTO;
}

static int b_run(struct lgt_target *t, const lg_u8 *frame, lg_u32 len, struct lgt_result *res)
{
	return b_run_split(t, frame, len, len, res);
}

static int b_reasons(struct lgt_target *t, struct lg_admit_reason_ctr *out)
{
	return lg_admit_read_reasons(((struct bpf_target *)t->ctx)->a, out);
}

static int b_device(struct lgt_target *t, lg_u32 id, struct lg_admit_dev_ctr *out)
{
	return lg_admit_read_device(((struct bpf_target *)t->ctx)->a, id, out);
}

static void bpf_target_init(struct lgt_target *t, struct bpf_target *bt)
{
	memset(t, 0, sizeof(*t));
	t->name = "bpf";
	t->ctx = bt;
	t->reset = b_reset;
	t->apply = b_apply;
	t->export_seq = b_export;
	t->steal_state = b_steal;
	t->set_clock = b_clock;
	t->run = b_run;
	t->run_split = b_run_split;
	t->reasons = b_reasons;
	t->device = b_device;
	t->min_len = 14; /* test_run wants at least an Ethernet header */
}

static lg_u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (lg_u64)ts.tv_sec * 1000000000ULL + (lg_u64)ts.tv_nsec;
}

static const struct lg_admit_cfg CFG = {
    .lgf_port = LGF_DEFAULT_PORT,
    .not_ours = LG_ADMIT_NOT_OURS_DROP,
};

static const struct lg_admit_entry RD = {
    7, {.mac = {2, 0, 0, 0, 0, 7}, .family = 4, .addr = {10, 0, 0, 7}, .rate = 10, .burst = 2}};

static lg_u64 tokens_floor(lg_u64 elapsed_ns, lg_u32 rate, lg_u32 burst)
{
	lg_u64 t = elapsed_ns * rate / 1000000000ULL;

	return t > burst ? burst : t;
}

/* Send frames until one is dropped; returns how many passed, or -1. */
static int drain(int prog_fd, const lg_u8 *f, lg_u32 len, int max)
{
	int i, action;

	for (i = 0; i <= max; i++) {
		if (prog_run(prog_fd, f, len, 1, &action))
			return -1;
		if (action == LGT_XDP_DROP)
			return i;
		if (action != LGT_XDP_PASS)
			return -1;
	}
	return -1;
}

/*
 * bpf_ktime_get_ns() cannot be faked under BPF_PROG_RUN: the bucket runs on
 * the real clock here. The kernel's elapsed time lies between the clock
 * readings taken around the sleep, which bounds the frames that may pass.
 */
static int test_real_clock(void)
{
	struct lg_admit *a = NULL;
	struct lgt_pkt p;
	lg_u8 f[LGT_FRAME_MAX];
	lg_u32 len;
	int fd, n, fails = 0, attempt;

	if (open_admit(&a, LG_ADMIT_NOT_OURS_DROP, 0) || lg_admit_apply(a, &CFG, &RD, 1, NULL)) {
		fprintf(stderr, "FAIL real clock: setup\n");
		lg_admit_close(a);
		return 1;
	}
	fd = lg_admit_prog_fd(a);
	lgt_pkt_from(&p, &RD, 7, 1);
	len = (lg_u32)lgt_build(&p, f, sizeof(f));

	n = drain(fd, f, len, 4);
	if (n != 2) {
		fprintf(stderr, "FAIL real clock: burst 2, %d passed\n", n);
		fails++;
	}
	for (attempt = 0; attempt < 3; attempt++) {
		lg_u64 t_pre, t0, t1, lo, hi;
		struct timespec ts = {0, 130 * 1000000L};

		/* Empty the bucket; t_pre..t0 brackets the last refill. */
		t_pre = mono_ns();
		if (drain(fd, f, len, 4) < 0)
			break;
		t0 = mono_ns();
		nanosleep(&ts, NULL);
		t1 = mono_ns();
		n = drain(fd, f, len, 4);
		hi = tokens_floor(mono_ns() - t_pre, RD.dev.rate, RD.dev.burst);
		lo = tokens_floor(t1 - t0, RD.dev.rate, RD.dev.burst);
		printf("real clock: slept %.1f ms, %d passed (bounds %llu..%llu)\n",
		       (double)(t1 - t0) / 1e6, n, (unsigned long long)lo, (unsigned long long)hi);
		if (n < 0 || (lg_u64)n < lo || (lg_u64)n > hi) {
			fprintf(stderr, "FAIL real clock: %d passed, bounds %llu..%llu\n", n,
				(unsigned long long)lo, (unsigned long long)hi);
			fails++;
			break;
		}
		/* Conclusive only when the bounds pin a partial refill (one of two). */
		if (lo == 1 && hi == 1)
			break;
	}
	if (attempt == 3)
		printf("real clock: machine too slow for a conclusive partial refill\n");

	/* A long rest refills the whole burst, and no more. */
	{
		struct timespec ts = {0, 400 * 1000000L};

		nanosleep(&ts, NULL);
		n = drain(fd, f, len, 4);
		if (n != 2) {
			fprintf(stderr, "FAIL real clock: after 400 ms %d passed, want burst 2\n",
				n);
			fails++;
		}
	}
	lg_admit_close(a);
	return fails;
}

/*
 * The refill gate on the kernel's jiffies (bpf_jiffies64(), not the test clock): a device
 * whose bucket a 5 ms pause has filled sends 21 frames in one BPF_PROG_RUN call (a few
 * microseconds, normally inside one 4 ms tick). The first is clocked (a new tick): it
 * refills the bucket to its cap and takes a frame; the 20 after it are gated (same tick):
 * each takes a frame's tokens and refills nothing, so the bucket ends at exactly its cap
 * less 21 frames. The exact bucket would refill a little on every frame (at a million frames
 * a second, a thousandth of a frame a nanosecond) and end above that. One call, not a
 * clocked call and a gated one: on an Intel VM (s19) two BPF_PROG_RUN calls were 7-15 ms
 * apart, 2-3 ticks, on every attempt. A tick boundary inside the call (or a preemption over
 * one) spoils an attempt, so it is tried up to 50 times.
 */
static int test_real_jiffies(void)
{
	struct lg_admit_entry e = RD;
	struct lg_admit *a = NULL;
	struct lg_admit_state s;
	struct lgt_pkt p;
	lg_u8 f[LGT_FRAME_MAX];
	lg_u32 len;
	int fd, action, attempt, gated = 0, fails = 0;
	const lg_u64 cap = 1000000ull * LG_ADMIT_TOKEN_SCALE;

	e.dev.rate = 1000000;
	e.dev.burst = 1000000;
	if (open_admit(&a, LG_ADMIT_NOT_OURS_DROP, 0) || lg_admit_apply(a, &CFG, &e, 1, NULL)) {
		fprintf(stderr, "FAIL real jiffies: setup\n");
		lg_admit_close(a);
		return 1;
	}
	fd = lg_admit_prog_fd(a);
	lgt_pkt_from(&p, &e, 7, 1);
	len = (lg_u32)lgt_build(&p, f, sizeof(f));
	for (attempt = 0; attempt < 50 && !gated; attempt++) {
		struct timespec ts = {0, 5 * 1000000L}; /* a new tick, and a full bucket */

		nanosleep(&ts, NULL);
		if (prog_run(fd, f, len, 21, &action) || action != LGT_XDP_PASS ||
		    lg_admit_read_state(a, 7, &s)) {
			fprintf(stderr, "FAIL real jiffies: run or state\n");
			fails++;
			break;
		}
		if (!s.jiffy || !s.last_ns) {
			fprintf(stderr, "FAIL real jiffies: the clocked frame left tick %llu, "
				"last_ns %llu\n", (unsigned long long)s.jiffy,
				(unsigned long long)s.last_ns);
			fails++;
			break;
		}
		gated = (lg_u64)s.tokens == cap - 21 * LG_ADMIT_TOKEN_SCALE;
	}
	if (gated)
		printf("real jiffies: 20 frames taken without the clock, attempt %d\n", attempt);
	if (!fails && !gated) {
		fprintf(stderr, "FAIL real jiffies: 50 attempts, the bucket read the clock "
			"(tokens %lld, want %llu)\n", (long long)s.tokens,
			(unsigned long long)(cap - 21 * LG_ADMIT_TOKEN_SCALE));
		fails++;
	}
	lg_admit_close(a);
	return fails;
}

struct storm {
	int prog_fd;
	lg_u8 known[LGT_FRAME_MAX], unknown[LGT_FRAME_MAX];
	lg_u32 known_len, unknown_len;
	volatile int stop;
	int runs, err;
};

#define STORM_REPEAT 50

static void *storm_fn(void *arg)
{
	struct storm *s = arg;
	int action;

	while (!s->stop) {
		if (prog_run(s->prog_fd, s->known, s->known_len, STORM_REPEAT, &action) ||
		    action != LGT_XDP_PASS ||
		    prog_run(s->prog_fd, s->unknown, s->unknown_len, STORM_REPEAT, &action) ||
		    action != LGT_XDP_DROP) {
			s->err = 1;
			break;
		}
		s->runs++;
	}
	return NULL;
}

/* Switch generations while another thread runs frames through the program. */
static int test_switch_storm(void)
{
	static const struct lg_admit_entry D1 = {
	    1, {.mac = {2, 0, 0, 0, 0, 1}, .family = 4, .addr = {10, 0, 0, 1}}};
	static const struct lg_admit_entry DX = {
	    8, {.mac = {2, 0, 0, 0, 0, 8}, .family = 4, .addr = {10, 0, 0, 8}}};
	struct lg_admit_entry ga[] = {D1}, gb[] = {D1, DX};
	struct lg_admit_reason_ctr rc[LG_R_MAX];
	struct lg_admit_dev_ctr dc;
	struct lg_admit *a = NULL;
	struct storm s = {0};
	struct lgt_pkt p;
	pthread_t th;
	lg_u64 gen = 0, total;
	int i, fails = 0, switches = 200;

	if (open_admit(&a, LG_ADMIT_NOT_OURS_DROP, 0) || lg_admit_apply(a, &CFG, ga, 1, NULL)) {
		fprintf(stderr, "FAIL storm: setup\n");
		lg_admit_close(a);
		return 1;
	}
	s.prog_fd = lg_admit_prog_fd(a);
	lgt_pkt_from(&p, &D1, 1, 1);
	s.known_len = (lg_u32)lgt_build(&p, s.known, sizeof(s.known));
	lgt_pkt_from(&p, &D1, 99, 1);
	s.unknown_len = (lg_u32)lgt_build(&p, s.unknown, sizeof(s.unknown));
	if (pthread_create(&th, NULL, storm_fn, &s)) {
		lg_admit_close(a);
		return 1;
	}
	for (i = 0; i < switches && !s.err; i++) {
		if (lg_admit_apply(a, &CFG, i & 1 ? ga : gb, i & 1 ? 1 : 2, &gen)) {
			fprintf(stderr, "FAIL storm: apply %d\n", i);
			fails++;
			break;
		}
	}
	s.stop = 1;
	pthread_join(th, NULL);
	if (s.err) {
		fprintf(stderr, "FAIL storm: a frame got the wrong verdict during a switch\n");
		fails++;
	}
	total = (lg_u64)s.runs * STORM_REPEAT;
	if (lg_admit_read_reasons(a, rc) || lg_admit_read_device(a, 1, &dc)) {
		fprintf(stderr, "FAIL storm: counters\n");
		fails++;
	} else {
		printf("storm: %d generations, %llu frames each of known and unknown\n", (int)gen,
		       (unsigned long long)total);
		if (gen != (lg_u64)switches + 1 || !s.runs)
			fails++, fprintf(stderr, "FAIL storm: gen %llu runs %d\n",
					 (unsigned long long)gen, s.runs);
		if (rc[LG_R_ADMITTED].frames != total || rc[LG_R_UNKNOWN_DEVICE].frames != total ||
		    rc[LG_R_NO_TABLE].frames || rc[LG_R_STATE_FULL].frames)
			fails++, fprintf(stderr,
					 "FAIL storm: admitted %llu unknown %llu no_table %llu "
					 "state_full %llu, want %llu %llu 0 0\n",
					 (unsigned long long)rc[LG_R_ADMITTED].frames,
					 (unsigned long long)rc[LG_R_UNKNOWN_DEVICE].frames,
					 (unsigned long long)rc[LG_R_NO_TABLE].frames,
					 (unsigned long long)rc[LG_R_STATE_FULL].frames,
					 (unsigned long long)total, (unsigned long long)total);
		if (dc.admitted != total || dc.dropped)
			fails++, fprintf(stderr, "FAIL storm: D1 admitted %llu dropped %llu\n",
					 (unsigned long long)dc.admitted,
					 (unsigned long long)dc.dropped);
	}
	lg_admit_close(a);
	return fails;
}

static int uadp_map_count(int fd)
{
	struct lg_admit_uadp_key k, next;
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

/*
 * The identity map under lg_admit_apply(): one entry per live identity, a
 * key pointing at a device the live table lacks ends as UNKNOWN_DEVICE,
 * identities the next generation drops leave the map, bad identities are
 * refused.
 */
static int test_uadp_map(void)
{
	static const struct lg_admit_cfg ucfg = {
	    .lgf_port = LGF_DEFAULT_PORT, .uadp_port = 4840, .not_ours = LG_ADMIT_NOT_OURS_DROP};
	struct lg_admit_entry e[2] =
	    {
		{11,
		 {.mac = {2, 0, 0, 0, 1, 11}, .family = 4, .addr = {10, 0, 1, 11}},
		 1,
		 {.pub_type = 1, .writer_group_id = 100, .writer_id = 62541, .pub_num = 2234}},
		{12,
		 {.mac = {2, 0, 0, 0, 1, 12}, .family = 4, .addr = {10, 0, 1, 12}},
		 1,
		 {.pub_type = 4,
		  .pub_str_len = 4,
		  .writer_group_id = 1,
		  .writer_id = 1,
		  .pub_str = "gw-1"}},
	    },
			      orphan = e[0], bad;
	struct lg_admit_uadp_ids ids = {{99, 99}};
	struct lg_admit_reason_ctr before[LG_R_MAX], after[LG_R_MAX];
	struct lg_admit *a = NULL;
	lg_u8 f[LGT_FRAME_MAX];
	int fd = -1, fails = 0, action, n = 0;
	size_t len;

	if (open_admit(&a, LG_ADMIT_NOT_OURS_DROP, 1) || lg_admit_apply(a, &ucfg, e, 2, NULL)) {
		fprintf(stderr, "FAIL uadp map: setup\n");
		lg_admit_close(a);
		return 1;
	}
	fd = map_fd_by_name(a, "lg_uadp_ids");
	if (fd < 0 || (n = uadp_map_count(fd)) != 2)
		fails++, fprintf(stderr, "FAIL uadp map: %d entries after apply, want 2\n",
				 fd < 0 ? fd : n);
	len = lgt_build_uadp(&e[1], f, sizeof(f));
	if (!len || prog_run(lg_admit_prog_fd(a), f, (lg_u32)len, 1, &action) ||
	    action != LGT_XDP_PASS)
		fails++, fprintf(stderr, "FAIL uadp map: gw-1 not admitted\n");

	/* A key for a device no table has (as a failed apply could leave behind). */
	orphan.uadp.pub_num = 2235;
	if (fd >= 0 && bpf_map_update_elem(fd, &orphan.uadp, &ids, BPF_NOEXIST))
		fails++, fprintf(stderr, "FAIL uadp map: insert orphan: %d\n", -errno);
	len = lgt_build_uadp(&orphan, f, sizeof(f));
	if (lg_admit_read_reasons(a, before) ||
	    prog_run(lg_admit_prog_fd(a), f, (lg_u32)len, 1, &action) ||
	    lg_admit_read_reasons(a, after) || action != LGT_XDP_DROP ||
	    after[LG_R_UNKNOWN_DEVICE].frames != before[LG_R_UNKNOWN_DEVICE].frames + 1)
		fails++, fprintf(stderr, "FAIL uadp map: orphan key not unknown_device\n");

	/* Device 11 stays without UADP, 12 leaves: the map ends empty, orphan included. */
	e[0].has_uadp = 0;
	if (lg_admit_apply(a, &ucfg, e, 1, NULL) || (n = uadp_map_count(fd)) != 0)
		fails++, fprintf(stderr, "FAIL uadp map: %d entries left, want 0\n", n);
	len = lgt_build_uadp(&e[1], f, sizeof(f));
	if (prog_run(lg_admit_prog_fd(a), f, (lg_u32)len, 1, &action) || action != LGT_XDP_DROP)
		fails++, fprintf(stderr, "FAIL uadp map: gw-1 admitted after it left\n");

	/* Identities that could never match, and two devices with one identity. */
	bad = e[1];
	bad.uadp.pub_num = 1; /* a String id with a number */
	if (lg_admit_apply(a, &ucfg, &bad, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL uadp map: String id with pub_num accepted\n");
	bad = e[1];
	bad.uadp.pub_str[5] = 'x'; /* a byte past the length */
	if (lg_admit_apply(a, &ucfg, &bad, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL uadp map: bytes after the String accepted\n");
	bad = e[1];
	bad.uadp.pub_type = 5;
	if (lg_admit_apply(a, &ucfg, &bad, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL uadp map: PublisherId type 5 accepted\n");
	bad = e[0];
	bad.has_uadp = 1;
	bad.uadp = e[1].uadp;
	{
		struct lg_admit_entry two[2] = {bad, e[1]};

		if (lg_admit_apply(a, &ucfg, two, 2, NULL) != -EINVAL)
			fails++, fprintf(stderr, "FAIL uadp map: shared identity accepted\n");
	}
	if ((n = uadp_map_count(fd)) != 0)
		fails++, fprintf(stderr, "FAIL uadp map: refused applies left %d entries\n", n);
	printf("uadp map: %d failed checks\n", fails);
	if (fd >= 0)
		close(fd);
	lg_admit_close(a);
	return fails;
}

/* Library argument checks and the fail-closed apply. */
static int test_api(void)
{
	struct lg_admit_entry bad = {0, {.family = 4}};
	struct lg_admit_entry dup[2] = {{1, {.family = 4}}, {1, {.family = 4}}};
	struct lg_admit_entry fam = {1, {.family = 5}};
	struct lg_admit_cfg cfg = CFG;
	struct lg_admit_state st;
	struct lg_admit *a = NULL;
	lg_u64 gen = 0;
	int fails = 0;

	if (open_admit(&a, LG_ADMIT_NOT_OURS_DROP, 1))
		return 1;
	if (lg_admit_apply(a, &cfg, &bad, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL api: device id 0 accepted\n");
	if (lg_admit_apply(a, &cfg, dup, 2, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL api: duplicate device accepted\n");
	if (lg_admit_apply(a, &cfg, &fam, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL api: family 5 accepted\n");
	cfg.lgf_port = 0;
	if (lg_admit_apply(a, &cfg, NULL, 0, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL api: port 0 accepted\n");
	cfg = CFG;
	if (lg_admit_apply(a, &cfg, dup, 1, &gen) || gen != 1)
		fails++, fprintf(stderr, "FAIL api: first generation is %llu\n",
				 (unsigned long long)gen);
	if (lg_admit_read_state(a, 1, &st) || st.last_ns || st.highest_seq)
		fails++, fprintf(stderr, "FAIL api: state not seeded fresh\n");
	if (lg_admit_export_seq(a, 1, 5) || lg_admit_export_seq(a, 1, 3) ||
	    lg_admit_read_state(a, 1, &st) || st.highest_seq != 5)
		fails++, fprintf(stderr, "FAIL api: export_seq went backwards\n");
	if (lg_admit_export_seq(a, 2, 5) != -ENOENT)
		fails++, fprintf(stderr, "FAIL api: export_seq for a device not enrolled\n");
	if (lg_admit_attach(a, 0, LG_ADMIT_MODE_GENERIC) != -EINVAL)
		fails++, fprintf(stderr, "FAIL api: ifindex 0 accepted\n");
	if (lg_admit_detach(a))
		fails++, fprintf(stderr, "FAIL api: detach when not attached\n");
	lg_admit_close(a);
	lg_admit_close(NULL);
	return fails;
}

/*
 * No reader (issue 10): with lg_admit_set_xsk_readers() on (the afxdp backend), a frame that
 * would go to its queue's socket while the XSKMAP has none there (linegate stopped, killed,
 * restarting) is dropped and counted no_reader, not admitted; its device counts it dropped.
 * What goes to the stack anyway (not_ours passed, fragment_passed) and every drop stay as
 * they were, and with the setting off (uring) the frame goes to the stack as before.
 * BPF_PROG_RUN runs on RX queue 0, whose XSKMAP slot is empty here.
 */
static int test_no_reader(void)
{
	struct lg_admit_entry devs[2] = {
	    {7, {.mac = {2, 0, 0, 0, 0, 7}, .family = 4, .addr = {10, 0, 0, 7}}},
	    {8, {.mac = {2, 0, 0, 0, 0, 8}, .family = 4, .addr = {10, 0, 0, 8},
		 .flags = LG_ADMIT_DEV_AUDIT}},
	};
	struct lg_admit_cfg cfg = CFG;
	struct bpf_target bt = {0};
	struct lgt_target t;
	struct lg_admit_dev_ctr dc;
	struct lgt_result r;
	struct lgt_pkt p;
	lg_u8 f[LGT_FRAME_MAX];
	lg_u32 len;
	int fails = 0;
	struct {
		const char *what;
		lg_u32 id;
		int spoof, frag, not_ours;
		int readers, action, reason;
	} cases[] = {
	    {"admitted, no readers set (uring): to the stack", 7, 0, 0, 0, 0, LGT_XDP_PASS,
	     LG_R_ADMITTED},
	    {"admitted, readers set, no socket on the queue", 7, 0, 0, 0, 1, LGT_XDP_DROP,
	     LG_R_NO_READER},
	    {"audited (spoofed source, audit mode), no socket", 8, 1, 0, 0, 1, LGT_XDP_DROP,
	     LG_R_NO_READER},
	    {"audited, no readers set", 8, 1, 0, 0, 0, LGT_XDP_PASS, LG_R_AUDIT},
	    {"unknown device, readers set: still unknown", 99, 0, 0, 0, 1, LGT_XDP_DROP,
	     LG_R_UNKNOWN_DEVICE},
	    {"spoofed source, readers set: still spoofed", 7, 1, 0, 0, 1, LGT_XDP_DROP,
	     LG_R_SPOOFED_SOURCE},
	    {"fragment passed to the stack, readers set", 7, 0, 1, 0, 1, LGT_XDP_PASS,
	     LG_R_FRAGMENT_PASSED},
	    {"not ours (passed), readers set", 7, 0, 0, 1, 1, LGT_XDP_PASS, LG_R_NOT_OURS},
	    {"admitted again with readers off", 7, 0, 0, 0, 0, LGT_XDP_PASS, LG_R_ADMITTED},
	};
	lg_u64 seq = 1;
	size_t i;

	bpf_target_init(&t, &bt);
	cfg.not_ours = LG_ADMIT_NOT_OURS_PASS;
	cfg.fragments = LG_ADMIT_FRAGMENTS_REASSEMBLE;
	if (open_admit(&bt.a, LG_ADMIT_NOT_OURS_DROP, 1) || lg_admit_apply(bt.a, &cfg, devs, 2, NULL)) {
		fprintf(stderr, "FAIL no_reader: setup\n");
		lg_admit_close(bt.a);
		return 1;
	}
	if (lg_admit_xsk_readers(bt.a) != 0)
		fails++, fprintf(stderr, "FAIL no_reader: readers set on a fresh load\n");
	if (lg_admit_set_xsk_readers(NULL, 1) != -EINVAL)
		fails++, fprintf(stderr, "FAIL no_reader: a NULL handle accepted\n");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lgt_pkt_from(&p, &devs[cases[i].id == 8], cases[i].id, seq++);
		if (cases[i].spoof)
			p.src_ip[3] = 99;
		if (cases[i].frag)
			p.frag = 0x2000;
		if (cases[i].not_ours)
			p.dport = 53;
		len = (lg_u32)lgt_build(&p, f, sizeof(f));
		lg_admit_set_xsk_readers(bt.a, cases[i].readers);
		if (lg_admit_xsk_readers(bt.a) != cases[i].readers)
			fails++, fprintf(stderr, "FAIL no_reader: the setting did not stick\n");
		if (b_run(&t, f, len, &r) || r.action != cases[i].action ||
		    r.reason != cases[i].reason) {
			fails++;
			fprintf(stderr, "FAIL no_reader: %s: action %d reason %s, want %d %s\n",
				cases[i].what, r.action, lg_admit_reason_name(r.reason),
				cases[i].action, lg_admit_reason_name(cases[i].reason));
		}
	}
	/* Device 7: admitted twice, dropped as no_reader once and as spoofed once (the
	 * fragment and the not-ours frame are no device's); device 8: audited once, and the
	 * audited frame without a reader dropped. */
	if (lg_admit_read_device(bt.a, 7, &dc) || dc.admitted != 2 || dc.dropped != 2 ||
	    dc.audited)
		fails++, fprintf(stderr, "FAIL no_reader: device 7 admitted %llu dropped %llu\n",
				 (unsigned long long)dc.admitted, (unsigned long long)dc.dropped);
	if (lg_admit_read_device(bt.a, 8, &dc) || dc.admitted || dc.dropped != 1 ||
	    dc.audited != 1)
		fails++, fprintf(stderr, "FAIL no_reader: device 8 dropped %llu audited %llu\n",
				 (unsigned long long)dc.dropped, (unsigned long long)dc.audited);
	printf("no reader: %d failed checks\n", fails);
	lg_admit_close(bt.a);
	return fails;
}

#define LGT_STR_(x) #x
#define LGT_STR(x) LGT_STR_(x)

/*
 * Can BPF_PROG_RUN end the first buffer where the test says? 1 yes, 0 only at the kernel's
 * own split, negative errno when it does not run multi-buffer frames at all (an xdp program
 * without frags, or a kernel before 5.18).
 */
static int probe_split(int prog_fd)
{
	static lg_u8 f[LGT_FRAME_MAX];
	int action;

	memset(f, 0, sizeof(f));
	if (prog_run(prog_fd, f, LGT_FRAME_MAX, 1, &action))
		return -errno;
	split_anywhere = true;
	if (!prog_run_split(prog_fd, f, LGT_FRAME_MAX, 100, &action))
		return 1;
	split_anywhere = false;
	return errno == EINVAL ? 0 : -errno;
}

static const char usage[] =
	"Usage: test_admit_bpf [options]\n"
	"\n"
	"The XDP admission program under BPF_PROG_RUN (root): every shared case against the\n"
	"program and the user-space build of the same decision, whose verdicts must be\n"
	"identical; the token bucket on the kernel clock, and its refill gate on the kernel's\n"
	"jiffies; generation switches while frames run\n"
	"on another thread; the UADP map; multi-buffer frames (xdp.frags) split after, inside\n"
	"and between their headers; and a clean verifier log.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout the verifier's statistics, the clock, storm and UADP map results and\n"
	"\"model vs bpf: N frames, M differ\"; failures (FAIL ...) on stderr.\n"
	LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	struct bpf_target bt = {0};
	struct lgt_target model, bpf;
	struct lgt_log lm = {0}, lb = {0};
	struct lg_admit *probe = NULL;
	int err, fails = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	bpf_target_init(&bpf, &bt);
	err = open_admit(&probe, LG_ADMIT_NOT_OURS_DROP, 0);
	if (err == -EPERM) {
		printf("SKIP: loading BPF programs needs CAP_BPF/CAP_NET_ADMIN\n");
		return 77;
	}
	if (err) {
		fprintf(stderr, "FAIL load: %d\n%s\n", err, verifier_log);
		return 1;
	}
	/* A clean load: the stats line and nothing that reads as a complaint. */
	printf("verifier: %s", verifier_log);
	if (!strstr(verifier_log, "processed") || strcasestr(verifier_log, "warn")) {
		fprintf(stderr, "FAIL verifier log not clean\n");
		fails++;
	}
	lg_admit_close(probe);

	if (lgt_model_init(&model))
		return 1;
	model.min_len = bpf.min_len; /* same frames on both sides */
	fails += lgt_run_all(&model, &lm);
	fails += lgt_run_all(&bpf, &lb);
	err = probe_split(lg_admit_prog_fd(bt.a));
	if (err < 0) {
		fprintf(stderr, "FAIL BPF_PROG_RUN of a frame in several buffers: %d\n", err);
		fails++;
	} else {
		split_anywhere = err;
		printf("multi-buffer: first buffer %s\n", split_anywhere ?
		       "of any length (ctx data_end)" :
		       "of " LGT_STR(LGT_MB_LINEAR_MAX) " bytes only (this kernel splits there)");
		fails += lgt_run_multibuf(&model, &lm, split_anywhere ? LGT_MB_ANY_SPLIT : 0);
		fails += lgt_run_multibuf(&bpf, &lb, split_anywhere ? LGT_MB_ANY_SPLIT : 0);
	}
	err = lgt_log_compare(&lm, "model", &lb, "bpf");
	printf("model vs bpf: %zu frames, %d differ\n", lb.n, err);
	fails += err;
	lg_admit_close(bt.a);
	lgt_model_fini(&model);
	lgt_log_free(&lm);
	lgt_log_free(&lb);

	fails += test_api();
	fails += test_no_reader();
	fails += test_uadp_map();
	fails += test_real_clock();
	fails += test_real_jiffies();
	fails += test_switch_storm();
	printf("%d failed checks\n", fails);
	return fails ? 1 : 0;
}
