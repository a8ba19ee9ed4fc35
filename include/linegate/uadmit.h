/* SPDX-License-Identifier: MIT */
/*
 * User-space admission: the decision the XDP program runs (admit.h's lg_admit_parse() and
 * lg_admit_decide()), for frames that never pass XDP (the DPDK backend). The same device
 * table, the same runtime state (token buckets, the replay high-water mark the workers
 * export), the same per-reason and per-device counters as bpf/admit.bpf.c and its loader
 * (dataplane/admit/lgadmit.h), so that a frame gets the same verdict on either path.
 *
 * Readers are the receive queues (0 .. queues-1), each used by one thread at a time. They
 * take no lock: a policy generation is published with one pointer store, and
 * lg_uadmit_apply() returns only once no queue can still be judging with the one it
 * replaced (a per-queue sequence counter, odd while a queue is inside a burst). Runtime
 * state lives in slots that a device keeps from one generation to the next.
 *
 * Functions return 0 or a negative errno and never print.
 */
#ifndef LINEGATE_UADMIT_H
#define LINEGATE_UADMIT_H

#include <stddef.h>

#include <linegate/admit.h>

struct lg_uadmit;

struct lg_uadmit_opts {
	unsigned queues;	 /* readers (receive queues); 1..LG_UADMIT_MAX_QUEUES */
	lg_u16 default_lgf_port; /* LGF port before the first generation; 0: LGF_DEFAULT_PORT */
	lg_u8 default_not_ours;	 /* enum lg_admit_not_ours before the first generation */
};

#define LG_UADMIT_MAX_QUEUES 64

int lg_uadmit_create(const struct lg_uadmit_opts *opts, struct lg_uadmit **out);
/* Accepts NULL. No reader may be running. */
void lg_uadmit_destroy(struct lg_uadmit *ua);

/*
 * The contract of lg_admit_apply(): a device table built aside from devs[0..n) becomes live
 * with cfg in one step (cfg->generation is ignored; the new one is previous + 1, returned
 * through *generation when not NULL); devices that stay keep their runtime state and
 * counters, new ones start fresh, departed ones lose both. -EINVAL for a bad cfg, a
 * duplicate id or UADP identity; on error nothing live has changed. Returns once no queue
 * still judges with the previous generation. One caller at a time (serialised inside).
 */
int lg_uadmit_apply(struct lg_uadmit *ua, const struct lg_admit_cfg *cfg,
		    const struct lg_admit_entry *devs, size_t n, lg_u64 *generation);
lg_u64 lg_uadmit_generation(struct lg_uadmit *ua);

/*
 * Judge n whole frames (Ethernet onwards) received on queue q at now_ns (CLOCK_MONOTONIC;
 * only read for devices with a rate; the token buckets' refill gate ticks at
 * lg_admit_jiffy(now_ns), as XDP's at jiffies): v[i] is frame i's verdict, every frame counted under
 * exactly one reason. Frames whose verdict does not pass are the caller's to drop.
 */
void lg_uadmit_judge_burst(struct lg_uadmit *ua, unsigned q, const lg_u8 *const *frames,
			   const lg_u32 *lens, unsigned n, lg_u64 now_ns,
			   struct lg_admit_verdict *v);

static inline void lg_uadmit_judge(struct lg_uadmit *ua, unsigned q, const lg_u8 *frame,
				   lg_u32 len, lg_u64 now_ns, struct lg_admit_verdict *v)
{
	lg_uadmit_judge_burst(ua, q, &frame, &len, 1, now_ns, v);
}

/*
 * A worker on queue q verified sequence seq of device_id: frames more than the replay
 * window behind it are refused as LG_R_REPLAYED from now on. Only moves forward. -ENOENT
 * when the device is not in the live table.
 */
int lg_uadmit_export_seq(struct lg_uadmit *ua, unsigned q, lg_u32 device_id, lg_u64 seq);
/* The mark set to seq, also below the one it has: a device whose keys were all replaced
 * (lgadmit.h, lg_admit_reset_seq()). */
int lg_uadmit_reset_seq(struct lg_uadmit *ua, unsigned q, lg_u32 device_id, lg_u64 seq);

/* Admission's clock: the newest now_ns any queue judged a frame at, 0 before the first. In
 * a replay (pcap) it is the recording's clock, which the control thread's rate judgements
 * (flood_watch.c) then follow too. */
lg_u64 lg_uadmit_clock(struct lg_uadmit *ua);

/* Per-reason counters summed over queues; out has LG_R_MAX entries. */
void lg_uadmit_read_reasons(struct lg_uadmit *ua, struct lg_admit_reason_ctr *out);
/* -ENOENT when the device is not live or saw no frame. */
int lg_uadmit_read_device(struct lg_uadmit *ua, lg_u32 device_id, struct lg_admit_dev_ctr *out);
int lg_uadmit_read_state(struct lg_uadmit *ua, lg_u32 device_id, struct lg_admit_state *out);

/*
 * Tests only: device_id's entry in the live table loses its state slot, as a corrupt table
 * would, so that its frames fail closed (LG_R_STATE_FULL). No queue may be judging.
 */
int lg_uadmit_test_unslot(struct lg_uadmit *ua, lg_u32 device_id);

#endif /* LINEGATE_UADMIT_H */
