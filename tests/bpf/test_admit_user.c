// SPDX-License-Identifier: MIT
/*
 * The admission cases (admit_testlib.c) against the production user-space admission
 * (include/linegate/uadmit.h, the DPDK path): a third target next to the XDP program and
 * the model, with the same expectations frame by frame and counter by counter, and a
 * per-frame log identical to the model's. Then what only a multi-threaded reader shows:
 * generations switched while another thread judges keep every device's verdicts, token
 * bucket and replay high-water mark.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linegate/uadmit.h>

#include "admit_testlib.h"
#include "../lgt_cli.h"

struct utarget {
	struct lg_uadmit *ua;
	lg_u64 now;
};

static int u_reset(struct lgt_target *t, lg_u8 default_not_ours)
{
	struct utarget *u = t->ctx;
	struct lg_uadmit_opts o = {.queues = 2, .default_not_ours = default_not_ours};

	lg_uadmit_destroy(u->ua);
	u->ua = NULL;
	return lg_uadmit_create(&o, &u->ua);
}

static int u_apply(struct lgt_target *t, const struct lg_admit_cfg *cfg,
		   const struct lg_admit_entry *devs, size_t n)
{
	return lg_uadmit_apply(((struct utarget *)t->ctx)->ua, cfg, devs, n, NULL);
}

static int u_export(struct lgt_target *t, lg_u32 id, lg_u64 seq)
{
	return lg_uadmit_export_seq(((struct utarget *)t->ctx)->ua, 1, id, seq);
}

static int u_steal(struct lgt_target *t, lg_u32 id, lg_u32 junk_id)
{
	(void)junk_id;
	return lg_uadmit_test_unslot(((struct utarget *)t->ctx)->ua, id);
}

static void u_clock(struct lgt_target *t, lg_u64 now)
{
	((struct utarget *)t->ctx)->now = now;
}

static int u_run(struct lgt_target *t, const lg_u8 *frame, lg_u32 len, struct lgt_result *res)
{
	struct utarget *u = t->ctx;
	struct lg_admit_verdict v;

	lg_uadmit_judge(u->ua, 0, frame, len, u->now, &v);
	res->action = v.pass ? LGT_XDP_PASS : LGT_XDP_DROP;
	res->reason = v.reason;
	res->audited = v.reason == LG_R_AUDIT ? v.audited : 0;
	return 0;
}

static int u_reasons(struct lgt_target *t, struct lg_admit_reason_ctr *out)
{
	lg_uadmit_read_reasons(((struct utarget *)t->ctx)->ua, out);
	return 0;
}

static int u_device(struct lgt_target *t, lg_u32 id, struct lg_admit_dev_ctr *out)
{
	return lg_uadmit_read_device(((struct utarget *)t->ctx)->ua, id, out);
}

/* ---- switching generations under a reader ---- */

#define NS 1000000000ULL

static const struct lg_admit_entry R1 = {
    1, {.mac = {2, 0, 0, 0, 0, 1}, .family = 4, .addr = {10, 0, 0, 1}, .rate = 1, .burst = 100}};
static const struct lg_admit_entry R2 = {
    2, {.mac = {2, 0, 0, 0, 0, 2}, .family = 4, .addr = {10, 0, 0, 2}}};

struct race {
	struct lg_uadmit *ua;
	_Atomic int stop;
	lg_u64 frames, admitted, rate_limited, other;
};

/* Queue 1: device 1's frames, new sequences, at a frozen clock: exactly the burst passes. */
static void *race_reader(void *arg)
{
	struct race *r = arg;
	struct lg_admit_verdict v;
	lg_u8 f[LGT_FRAME_MAX];
	struct lgt_pkt p;
	lg_u64 seq = 1;

	while (!atomic_load(&r->stop)) {
		size_t len;

		lgt_pkt_from(&p, &R1, 1, seq++);
		len = lgt_build(&p, f, sizeof(f));
		lg_uadmit_judge(r->ua, 1, f, (lg_u32)len, 5 * NS, &v);
		r->frames++;
		if (v.reason == LG_R_ADMITTED)
			r->admitted++;
		else if (v.reason == LG_R_RATE_LIMITED)
			r->rate_limited++;
		else
			r->other++;
	}
	return NULL;
}

static int test_switch_under_reader(void)
{
	const struct lg_admit_cfg cfg = {.lgf_port = LGF_DEFAULT_PORT, .replay_window = 0};
	struct lg_admit_entry with2[] = {R1, R2}, without2[] = {R1};
	struct lg_uadmit_opts o = {.queues = 2};
	struct race r = {0};
	struct lg_admit_state st;
	struct lg_admit_verdict v;
	lg_u8 f[LGT_FRAME_MAX];
	struct lgt_pkt p;
	pthread_t th;
	lg_u64 gen = 0;
	int fails = 0, i;
	size_t len;

	if (lg_uadmit_create(&o, &r.ua))
		return 1;
	if (lg_uadmit_apply(r.ua, &cfg, with2, 2, NULL))
		fails++;
	lg_uadmit_export_seq(r.ua, 0, 2, 1000);
	if (pthread_create(&th, NULL, race_reader, &r)) {
		lg_uadmit_destroy(r.ua);
		return 1;
	}
	/* Device 2 leaves and comes back; device 1 stays in every generation. */
	for (i = 0; i < 400; i++)
		if (lg_uadmit_apply(r.ua, &cfg, i & 1 ? with2 : without2, i & 1 ? 2 : 1, &gen))
			fails++;
	atomic_store(&r.stop, 1);
	pthread_join(th, NULL);
	if (gen != 401)
		fails++, fprintf(stderr, "FAIL switch: generation %llu, want 401\n",
				 (unsigned long long)gen);
	/* One bucket across 401 generations: 100 frames of burst, the clock never moved. */
	if (r.admitted != 100 || r.other || r.admitted + r.rate_limited != r.frames)
		fails++, fprintf(stderr,
				 "FAIL switch: %llu frames, %llu admitted, %llu rate limited, "
				 "%llu other; want 100 admitted, 0 other\n",
				 (unsigned long long)r.frames, (unsigned long long)r.admitted,
				 (unsigned long long)r.rate_limited, (unsigned long long)r.other);
	if (lg_uadmit_read_state(r.ua, 1, &st) || st.last_ns != 5 * NS)
		fails++, fprintf(stderr, "FAIL switch: device 1's bucket was reset\n");
	/* Device 2 left and came back: fresh state, its exported sequence is gone. */
	lgt_pkt_from(&p, &R2, 2, 10);
	len = lgt_build(&p, f, sizeof(f));
	lg_uadmit_judge(r.ua, 0, f, (lg_u32)len, 6 * NS, &v);
	if (v.reason != LG_R_ADMITTED)
		fails++, fprintf(stderr, "FAIL switch: re-enrolled device 2 got %s\n",
				 lg_admit_reason_name(v.reason));
	/* Device 1's high-water mark survives: export, switch, then an old frame. */
	lg_uadmit_export_seq(r.ua, 0, 1, 5000);
	lg_uadmit_apply(r.ua, &cfg, without2, 1, NULL);
	lgt_pkt_from(&p, &R1, 1, 4000);
	len = lgt_build(&p, f, sizeof(f));
	lg_uadmit_judge(r.ua, 0, f, (lg_u32)len, 6 * NS, &v);
	if (v.reason != LG_R_REPLAYED)
		fails++, fprintf(stderr, "FAIL switch: old frame after a switch got %s\n",
				 lg_admit_reason_name(v.reason));
	printf("switch: %llu frames judged during 400 switches, %llu admitted\n",
	       (unsigned long long)r.frames, (unsigned long long)r.admitted);
	lg_uadmit_destroy(r.ua);
	return fails;
}

/* Policies the XDP loader refuses are refused here too, and change nothing. */
static int test_refusals(void)
{
	struct lg_admit_cfg cfg = {.lgf_port = LGF_DEFAULT_PORT};
	struct lg_admit_entry dup[] = {R1, R1}, bad = R1;
	struct lg_uadmit_opts o = {.queues = 1};
	struct lg_uadmit *ua;
	int fails = 0;

	if (lg_uadmit_create(&o, &ua))
		return 1;
	if (lg_uadmit_apply(ua, &cfg, dup, 2, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL refusals: duplicate id taken\n");
	bad.dev.burst = 0;
	if (lg_uadmit_apply(ua, &cfg, &bad, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL refusals: a rate without a burst taken\n");
	cfg.uadp_port = cfg.lgf_port;
	if (lg_uadmit_apply(ua, &cfg, &R1, 1, NULL) != -EINVAL)
		fails++, fprintf(stderr, "FAIL refusals: uadp_port == lgf_port taken\n");
	if (lg_uadmit_generation(ua) != 0)
		fails++, fprintf(stderr, "FAIL refusals: a refused apply changed the generation\n");
	o.queues = 0;
	if (lg_uadmit_create(&o, &(struct lg_uadmit *){NULL}) != -EINVAL)
		fails++, fprintf(stderr, "FAIL refusals: 0 queues taken\n");
	lg_uadmit_destroy(ua);
	printf("refusals: %s\n", fails ? "FAIL" : "ok");
	return fails;
}

static const char usage[] =
	"Usage: test_admit_user [options]\n"
	"\n"
	"The admission cases (admit_testlib.c) against the user-space admission of the DPDK\n"
	"path (dataplane/admit/uadmit.c): every verdict and counter as XDP and the model give\n"
	"them, with a per-frame log identical to the model's; generations switched 400 times\n"
	"while another thread judges keep the device's bucket and replay high-water mark; and\n"
	"the policies the XDP loader refuses are refused.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout a line per case, then \"N frames, M failed checks\"; failures on\n"
	"stderr.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct utarget u = {0};
	struct lgt_target user = {
	    .name = "user",
	    .ctx = &u,
	    .reset = u_reset,
	    .apply = u_apply,
	    .export_seq = u_export,
	    .steal_state = u_steal,
	    .set_clock = u_clock,
	    .run = u_run,
	    .reasons = u_reasons,
	    .device = u_device,
	    .min_len = 0,
	    .no_reassembly = 1,
	};
	struct lgt_target model;
	struct lgt_log ulog = {0}, mlog = {0};
	int fails;

	lgt_cli(argc, argv, usage, 0, 0);
	if (lgt_model_init(&model)) {
		fprintf(stderr, "FAIL model init\n");
		return 1;
	}
	/* As the user-space admission it is compared with: no stack to reassemble fragments. */
	model.no_reassembly = 1;
	model.run_split = NULL; /* nor frames in several buffers */
	fails = lgt_run_all(&user, &ulog);
	fails += lgt_run_all(&model, &mlog);
	fails += lgt_log_compare(&ulog, "user", &mlog, "model");
	fails += test_switch_under_reader();
	fails += test_refusals();
	printf("%zu frames, %d failed checks\n", ulog.n, fails);
	lgt_log_free(&ulog);
	lgt_log_free(&mlog);
	lgt_model_fini(&model);
	lg_uadmit_destroy(u.ua);
	return fails ? 1 : 0;
}
