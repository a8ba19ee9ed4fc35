// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * Zero-trust admission at XDP. The parser and the decision live in
 * include/linegate/admit.h; this file only finds the inputs, counts the
 * outcome and turns the verdict into an XDP action.
 *
 * A generation (configuration and device table) is one struct lg_admit_table.
 * lg_gens holds two: the live one, named by lg_live_gen, and the next one,
 * which user space fills while no program reads it and then makes live with
 * one aligned store into lg_live_gen: every frame sees either the old
 * generation whole or the new one whole. Runtime state (token buckets,
 * exported sequences) and per-device counters sit in arrays outside the
 * tables, at a slot the loader gives each device, and survive the switch.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <linegate/admit.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Load-time constants, set through the skeleton before load. */
const volatile __u16 lg_default_lgf_port = LGF_DEFAULT_PORT; /* before the first generation */
const volatile __u8 lg_default_not_ours = LG_ADMIT_NOT_OURS_DROP;
/*
 * Tests only: take "now" from lg_test_now_ns and the tick (the token bucket's refill gate)
 * from lg_test_jiffies instead of the kernel's clock and jiffies.
 */
const volatile __u8 lg_test_clock = 0;
/*
 * The kernel lets XDP programs call bpf_xdp_adjust_meta() (the loader probes it): where it
 * does not, the stamp below is dead code the verifier never walks, and the program loads.
 */
const volatile __u8 lg_xdp_meta = 1;

/* Live slot of lg_gens; user space stores the other one once that is filled. */
volatile __u32 lg_live_gen = 0;
/*
 * 1: only an AF_XDP socket could read a frame to let through, so one whose RX queue has no
 * socket in lg_xsks has no reader: counted NO_READER and dropped. Set for good by an afxdp
 * linegate (its sockets leave the map when it stops or dies), and by a uring linegate
 * while it starts (sockets not bound yet) and stops. 0 (uring running, the other backends,
 * a fresh load): such a frame goes to the stack, where a UDP socket may read it. Set by
 * lg_admit_set_xsk_readers(); with pins it outlives the process.
 */
volatile __u32 lg_xsk_readers = 0;
volatile __u64 lg_test_now_ns = 0;
volatile __u64 lg_test_jiffies = 0;

/*
 * Generations and runtime state as global arrays in .bss, which user space
 * mmaps: the program reaches them by address, without a map lookup. A slot
 * of lg_gens with generation 0 holds nothing. lg_state is indexed by
 * lg_admit_dev.slot; user space writes only highest_seq there.
 */
struct lg_admit_table lg_gens[2];
/*
 * The configuration before the first generation, in .bss rather than on the
 * stack (lg_admit_cfg carries the multicast groups, and lg_admit and
 * admit_full share 512 bytes of stack). Every CPU writes the same two values.
 */
struct lg_admit_cfg lg_none_cfg;
struct lg_admit_state lg_state[LG_ADMIT_STATE_SLOTS];

/*
 * All reason counters of a CPU in one element: its lookup has a constant key
 * and does not wait for the verdict, which then only picks an entry.
 */
struct lg_reason_ctrs {
	struct lg_admit_reason_ctr r[LG_R_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lg_reason_ctrs);
} lg_reason_ctr SEC(".maps");

/* Indexed by lg_admit_dev.slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LG_ADMIT_STATE_SLOTS);
	__type(key, __u32);
	__type(value, struct lg_admit_dev_ctr);
} lg_dev_ctr SEC(".maps");

/*
 * UADP identity -> device id in generation g at device_id[g & 1]. A hash map (the key
 * is 48 bytes), looked up only for UADP frames. Not preallocated: an element
 * replaced by an update is freed after an RCU grace period, so a frame never
 * reads a value that is being reused for another key.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LG_ADMIT_STATE_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lg_admit_uadp_key);
	__type(value, struct lg_admit_uadp_ids);
} lg_uadp_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, LG_ADMIT_DEFAULT_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} lg_xsks SEC(".maps");

/*
 * Tables and state are reached by address, the counters and the XSKMAP by
 * array lookups the verifier inlines: the only helper calls left on the LGF
 * paths are the clock (a device's bucket when the refill gate is shut) and the
 * XSK redirect (a socket bound); UADP frames add the identity lookup.
 */
static __always_inline void count(struct lg_reason_ctrs *c, const struct lg_admit_verdict *v,
				  __u64 bytes)
{
	if (!c || v->reason >= LG_R_MAX)
		return;
	c->r[v->reason].frames++;
	c->r[v->reason].bytes += bytes;
	if (v->reason == LG_R_AUDIT && v->audited < LG_R_MAX)
		c->r[v->audited].audited++;
}

static __always_inline void count_dev(__u32 slot, const struct lg_admit_verdict *v)
{
	struct lg_admit_dev_ctr *c = bpf_map_lookup_elem(&lg_dev_ctr, &slot);

	if (c)
		lg_admit_dev_count(c, v);
}

/*
 * Turn the verdict into an XDP action and count it. A frame to let through whose queue has
 * no socket while only a socket could read it (lg_xsk_readers) becomes NO_READER, a drop:
 * counted so, not as the verdict that would have let it through (every frame under one
 * reason), and for its device as dropped.
 */
static __always_inline int finish(struct xdp_md *ctx, struct lg_reason_ctrs *ctrs,
				  struct lg_admit_verdict *v, const struct lg_admit_dev *dev,
				  __u32 slot, __u64 bytes)
{
	__u32 q = ctx->rx_queue_index;
	int sock = 0;

	/* Only the stack reassembles fragments (for the UDP socket): never to an XSK. */
	if (v->pass && v->reason != LG_R_NOT_OURS && v->reason != LG_R_FRAGMENT_PASSED) {
		/*
		 * The XSKMAP lookup is inlined; the redirect is a helper call, worth
		 * skipping when it would only fall back to XDP_PASS. No socket on this
		 * queue: the stack's (a UDP backend) unless the workers read sockets.
		 */
		sock = bpf_map_lookup_elem(&lg_xsks, &q) != NULL;
		if (!sock && lg_xsk_readers) {
			v->pass = 0;
			v->reason = LG_R_NO_READER;
		}
	}
	count(ctrs, v, bytes);
	if (dev)
		count_dev(slot, v);
	if (!v->pass)
		return XDP_DROP;
	if (!sock)
		return XDP_PASS;
	/* Honest latency: the arrival time in the metadata area (struct lg_xdp_meta), read
	 * by the AF_XDP backend; only frames that go to a socket pay for the clock. Where a
	 * driver has no metadata area the frame goes without (its arrival is its pickup). */
	if (lg_xdp_meta && !bpf_xdp_adjust_meta(ctx, -(int)sizeof(struct lg_xdp_meta))) {
		struct lg_xdp_meta *m = (void *)(long)ctx->data_meta;

		if ((void *)(m + 1) <= (void *)(long)ctx->data) {
			m->rx_ns = bpf_ktime_get_ns();
			m->pad = 0;
			m->magic = LG_XDP_META_MAGIC;
		}
	}
	return bpf_redirect_map(&lg_xsks, q, XDP_PASS);
}

/* The device's runtime state and, for a bucket, the tick of the refill gate. */
static __always_inline struct lg_admit_state *dev_state(const struct lg_admit_dev *dev, __u32 *slot,
							__u64 *jiffy)
{
	struct lg_admit_state *st = NULL;

	*slot = dev->slot;
	/* An out-of-range slot (a corrupt table) leaves st NULL: STATE_FULL. */
	if (*slot < LG_ADMIT_STATE_SLOTS)
		st = &lg_state[*slot];
	/* bpf_jiffies64() is a load the verifier inlines on 64-bit JITs, no helper call. */
	if (st && dev->rate)
		*jiffy = lg_test_clock ? lg_test_jiffies : bpf_jiffies64();
	return st;
}

/*
 * The decision, reading the clock (a helper call, the dearest step of the allow path)
 * only when the token bucket's refill gate is shut: lg_admit_bucket_take_gated().
 */
static __always_inline void decide(int rc, const struct lg_admit_pkt *pkt,
				   const struct lg_admit_dev *dev, struct lg_admit_state *st,
				   const struct lg_admit_cfg *cfg, __u64 jiffy,
				   struct lg_admit_verdict *v)
{
	if (lg_admit_decide_gated(rc, pkt, dev, st, cfg, jiffy, v))
		lg_admit_decide_clocked(dev, st, lg_test_clock ? lg_test_now_ns : bpf_ktime_get_ns(),
					jiffy, v);
}

/*
 * An IP fragment of UDP: passed to the stack when the policy says reassemble
 * and its source address is bound to a device of the live generation (the
 * table's source index: a few loads, no helper call), dropped otherwise.
 */
static __always_inline void fragment_verdict(const struct lg_admit_table *table,
					     const struct lg_admit_cfg *cfg,
					     const struct lg_admit_pkt *pkt,
					     struct lg_admit_verdict *v)
{
	int bound = table && cfg->fragments == LG_ADMIT_FRAGMENTS_REASSEMBLE &&
		    lg_admit_table_source_bound(table, pkt);

	lg_admit_decide_fragment(cfg, pkt, bound, v);
}

/*
 * A datagram to the UADP port, or a multi-buffer frame whose first buffer
 * alone does not parse, in a subprogram of its own (a BPF-to-BPF call) that
 * parses the frame again with its whole length, UADP header included: the
 * LGF path shares no code, stack object or register with it. UADP is only
 * seen with a live generation (before one, cfg's uadp_port is 0).
 */
static __noinline int admit_full(struct xdp_md *ctx, const struct lg_admit_table *table,
				 const struct lg_admit_cfg *cfg, struct lg_reason_ctrs *ctrs,
				 __u32 frame_len)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct lg_admit_uadp_ids *u;
	const struct lg_admit_dev *dev = NULL;
	struct lg_admit_state *st = NULL;
	struct lg_admit_uadp_key ukey;
	struct lg_admit_pkt pkt;
	struct lg_admit_verdict v;
	__u32 slot = 0, id;
	__u64 jiffy = 0;
	int rc;

	rc = lg_admit_parse_len(data, data_end, frame_len, cfg, &pkt, &ukey);
	if (rc == LG_R_FRAGMENT) {
		fragment_verdict(table, cfg, &pkt, &v);
		return finish(ctx, ctrs, &v, NULL, 0, frame_len);
	}
	if (rc == LG_R_ADMITTED && table) {
		/* LGF names its device; UADP's identity has one in this generation (0: none). */
		id = pkt.device_id;
		if (pkt.kind == LG_ADMIT_KIND_UADP) {
			u = bpf_map_lookup_elem(&lg_uadp_ids, &ukey);
			id = u ? u->device_id[table->cfg.generation & 1] : 0;
		}
		dev = id ? lg_admit_table_find(table, id) : NULL;
		if (dev)
			st = dev_state(dev, &slot, &jiffy);
	}
	decide(rc, &pkt, dev, st, cfg, jiffy, &v);
	return finish(ctx, ctrs, &v, dev, slot, frame_len);
}

/*
 * xdp.frags: the program takes multi-buffer frames (jumbo frames on veth and
 * on drivers that build them from several buffers), and an interface may
 * have an MTU above a page with it attached. data_end then ends the first
 * buffer; admit.h reads headers from there and judges the IP length against
 * the whole frame.
 */
SEC("xdp.frags")
int lg_admit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct lg_admit_table *table = NULL;
	struct lg_reason_ctrs *ctrs;
	const struct lg_admit_cfg *cfg;
	const struct lg_admit_dev *dev = NULL;
	struct lg_admit_state *st = NULL;
	struct lg_admit_pkt pkt;
	struct lg_admit_verdict v;
	__u32 zero = 0, slot = 0, len = (__u32)(data_end - data), frame_len = len;
	__u64 jiffy = 0;
	int rc;

	ctrs = bpf_map_lookup_elem(&lg_reason_ctr, &zero);
	table = &lg_gens[lg_live_gen & 1];
	if (table->cfg.generation) {
		cfg = &table->cfg;
	} else {
		table = NULL;
		/* Nothing applied yet: frames for us fail closed (NO_TABLE). */
		lg_none_cfg.lgf_port = lg_default_lgf_port;
		lg_none_cfg.not_ours = lg_default_not_ours;
		cfg = &lg_none_cfg;
	}

	/*
	 * The first buffer as if it were the whole frame: a result other than
	 * malformed is the whole frame's too (admit.h), and the LGF path makes
	 * no helper call for the frame's length. Any other result asks for it:
	 * a frame that is malformed only for the first buffer's sake is parsed
	 * again whole, and the counters get the length on the wire. A frame
	 * whose IP packet ends in the first buffer is counted with that
	 * buffer's length, as no more of it is read.
	 */
	rc = lg_admit_parse_frame_len(data, data_end, len, cfg, &pkt);
	if (__builtin_expect(rc != LG_R_ADMITTED, 0)) {
		frame_len = (__u32)bpf_xdp_get_buff_len(ctx);
		if (rc == LG_ADMIT_RC_UADP || (rc == LG_R_MALFORMED && frame_len != len))
			return admit_full(ctx, table, cfg, ctrs, frame_len);
		if (rc == LG_R_FRAGMENT) {
			fragment_verdict(table, cfg, &pkt, &v);
			return finish(ctx, ctrs, &v, NULL, 0, frame_len);
		}
	}
	if (rc == LG_R_ADMITTED && table) {
		dev = lg_admit_table_find(table, pkt.device_id);
		if (dev)
			st = dev_state(dev, &slot, &jiffy);
	}
	decide(rc, &pkt, dev, st, cfg, jiffy, &v);
	return finish(ctx, ctrs, &v, dev, slot, frame_len);
}
