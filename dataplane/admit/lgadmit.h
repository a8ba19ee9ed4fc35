/* SPDX-License-Identifier: MIT */
/*
 * lgadmit: loads, attaches and feeds the XDP admission program
 * (bpf/admit.bpf.c). Policy is applied a whole generation at a time; runtime
 * state (token buckets, exported sequences) survives. Functions return 0 or
 * a negative errno and never print.
 */
#ifndef LINEGATE_LGADMIT_H
#define LINEGATE_LGADMIT_H

#include <stddef.h>
#include <linegate/admit.h>

struct lg_admit;

enum lg_admit_mode {
	LG_ADMIT_MODE_NATIVE = 0,  /* driver XDP (xdpdrv) */
	LG_ADMIT_MODE_GENERIC = 1, /* skb XDP (xdpgeneric), works everywhere, slower */
};

struct lg_admit_opts {
	lg_u16 default_lgf_port; /* LGF port before the first generation; 0: LGF_DEFAULT_PORT */
	lg_u8 default_not_ours;	 /* enum lg_admit_not_ours before the first generation */
	lg_u8 test_clock;	 /* tests: "now" comes from lg_admit_set_test_clock() */
	lg_u32 queues;		 /* XSKMAP entries (RX queues); 0: LG_ADMIT_DEFAULT_QUEUES */
	char *log_buf;		 /* optional: verifier statistics of the load */
	size_t log_size;
	/*
	 * Optional: pin the program and its maps in this directory (created;
	 * under /sys/fs/bpf a missing bpffs is mounted), and attach through a
	 * bpf_link pinned there too. Such an instance outlives its process:
	 * lg_admit_close() leaves it running, lg_admit_open_pinned() takes it
	 * over, lg_admit_unpin() ends it. -EEXIST if an instance is pinned there.
	 * The bpffs must outlive the process: one mounted by the library in a
	 * private mount namespace (as "ip netns exec" creates) dies with it.
	 */
	const char *pin_dir;
};

int lg_admit_open(const struct lg_admit_opts *opts, struct lg_admit **out);
/*
 * Take over an instance pinned in pin_dir by an earlier process: the live
 * generation, runtime state, counters and attachment are as it left them,
 * and frames kept flowing meanwhile (fail static).
 */
int lg_admit_open_pinned(const char *pin_dir, struct lg_admit **out);
/*
 * Whether this kernel lets XDP programs call bpf_xdp_adjust_meta(), so that frames
 * redirected to AF_XDP sockets carry their arrival time (struct lg_xdp_meta). Some kernels
 * (the project VM's 6.18) refuse it; the program then leaves the stamp out. Probed by
 * loading a 4-instruction program.
 */
int lg_admit_arrival_stamps(void);
/*
 * Release the handle. Without pins it detaches; a pinned instance keeps
 * admitting with its last generation. Accepts NULL.
 */
void lg_admit_close(struct lg_admit *a);
/* Detach a pinned instance and remove its pins; the handle stays usable until closed. */
int lg_admit_unpin(struct lg_admit *a);

/*
 * Whether only an AF_XDP socket of the program's XSKMAP could read what admission lets
 * through (the afxdp backend; a uring linegate while it starts and stops): a frame whose RX
 * queue has no socket (linegate stopped, killed or restarting) is then counted
 * LG_R_NO_READER and dropped, instead of going to the kernel's stack, where no socket of
 * linegate's listens. 0 (the default, and a running uring linegate): such frames go to the
 * stack. A pinned instance keeps the setting after the process: the next linegate sets its
 * own. Returns 0, -EINVAL without a handle.
 */
int lg_admit_set_xsk_readers(struct lg_admit *a, int on);
int lg_admit_xsk_readers(const struct lg_admit *a);
/*
 * Take the sockets of RX queues 0..nqueues-1 out of the XSKMAP and return once no program
 * that could still have found one runs (an RCU grace period): from then on nothing new
 * lands in their RX rings, and what XDP lets through for those queues is no_reader (with
 * the setting above). A stopping afxdp linegate calls it before its workers empty their
 * rings for the last time. Returns 0 or a negative errno.
 */
int lg_admit_xsk_unbind(struct lg_admit *a, unsigned nqueues);

int lg_admit_prog_fd(const struct lg_admit *a);
int lg_admit_xsks_fd(const struct lg_admit *a);
/* Interface the program is attached to (0: none); for a reopened handle, the pinned link's. */
int lg_admit_ifindex(const struct lg_admit *a);
/* The live generation (0: none applied yet). */
lg_u64 lg_admit_generation(const struct lg_admit *a);

int lg_admit_attach(struct lg_admit *a, int ifindex, enum lg_admit_mode mode);

/* What runs in XDP on an interface, as lg_admit_probe() finds it. */
struct lg_admit_iface {
	lg_u32 prog_id;  /* 0: no XDP program */
	char name[16];   /* the program's name */
	int ours;        /* 1: linegate's admission program (its name and its maps' names) */
	int generic;     /* attached in generic (skb) mode */
};
int lg_admit_probe(int ifindex, struct lg_admit_iface *out);
/*
 * Attach in place of a stale instance of our own program (prog_id, from lg_admit_probe(),
 * left by a linegate killed without pins): atomically (XDP_FLAGS_REPLACE) when the modes
 * agree and the new one is not pinned, else detach it and attach. -EBUSY when something
 * else is attached by then.
 */
int lg_admit_attach_replace(struct lg_admit *a, int ifindex, enum lg_admit_mode mode,
			    lg_u32 prog_id);
int lg_admit_detach(struct lg_admit *a);

/*
 * Build a device table aside from devs[0..n) and make it live together with
 * cfg in one step; the devices' UADP identities (has_uadp, uadp: canonical,
 * one device each, else -EINVAL) switch with it, and identities it drops
 * leave the program's map. cfg->generation is ignored; the new generation number
 * (previous + 1) is returned through *generation when not NULL. On error
 * nothing live has changed. Returns once no frame is still handled with the
 * previous generation. One caller at a time; the readers and
 * lg_admit_export_seq() may run meanwhile on other threads.
 */
int lg_admit_apply(struct lg_admit *a, const struct lg_admit_cfg *cfg,
		   const struct lg_admit_entry *devs, size_t n, lg_u64 *generation);

/* Per-reason counters summed over CPUs; out has LG_R_MAX entries. */
int lg_admit_read_reasons(struct lg_admit *a, struct lg_admit_reason_ctr *out);
/* Per-device counters summed over CPUs; -ENOENT when the device is not live or saw no frame. */
int lg_admit_read_device(struct lg_admit *a, lg_u32 device_id, struct lg_admit_dev_ctr *out);
int lg_admit_read_state(struct lg_admit *a, lg_u32 device_id, struct lg_admit_state *out);
int lg_admit_reset_counters(struct lg_admit *a);

/*
 * A worker verified sequence seq of device_id: frames more than the replay
 * window behind it are dropped at XDP from now on. Only moves forward.
 * -ENOENT when the device is not in the live table. No system call (an
 * atomic store into the mmapped state array): cheap enough per frame, and
 * safe from any thread, also during lg_admit_apply().
 */
int lg_admit_export_seq(struct lg_admit *a, lg_u32 device_id, lg_u64 seq);

/*
 * A datagram of device_id that reached linegate's socket as IP fragments (fragments:
 * reassemble; XDP passed each fragment without a device to charge, LG_R_FRAGMENT_PASSED),
 * judged whole by the worker that parsed its device id: the device's token bucket in the
 * program's state is charged as XDP charges an unfragmented frame (now_ns: CLOCK_MONOTONIC,
 * as bpf_ktime_get_ns()), and the verdict (LG_R_ADMITTED, LG_R_RATE_LIMITED, or LG_R_AUDIT
 * for a device in audit mode) is counted in the device's counters that
 * lg_admit_read_device() reads, not in the per-reason ones (those count what XDP saw: the
 * fragments). The source MAC cannot be checked: the kernel reassembled the datagram. The
 * caller checks the source address and port itself. -ENOENT (v: admitted, nothing counted)
 * when the device is not in the live table. No system call; a read lock. Any thread.
 */
int lg_admit_charge(struct lg_admit *a, lg_u32 device_id, lg_u64 now_ns,
		    struct lg_admit_verdict *v);

/*
 * The device's replay mark set to seq, also below the one it has: only for a device whose
 * keys were all replaced (no frame signed with them was ever accepted, so nothing verified
 * under the old mark can be replayed under the new keys): linegate's generation.c. -ENOENT
 * when the device is not in the live table.
 */
int lg_admit_reset_seq(struct lg_admit *a, lg_u32 device_id, lg_u64 seq);

/*
 * Only with opts.test_clock: the clock the program sees, and the tick of its token buckets'
 * refill gate, lg_admit_jiffy(now_ns) (as user-space admission and the model derive it).
 */
void lg_admit_set_test_clock(struct lg_admit *a, lg_u64 now_ns);

#endif /* LINEGATE_LGADMIT_H */
