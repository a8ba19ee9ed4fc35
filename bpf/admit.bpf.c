// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * Zero-trust admission at XDP. The parser and the decision live in
 * include/linegate/admit.h; this file only finds the inputs in maps, counts
 * the outcome and turns the verdict into an XDP action.
 *
 * Device tables are double-buffered: lg_gens holds one table per generation
 * slot and lg_active_slot (in .bss, written by one aligned store from user
 * space) says which is live, so a whole new table becomes visible at once.
 * Runtime state (token buckets, exported sequences) is keyed by device id
 * outside the tables and survives the switch.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include <linegate/admit.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* Load-time constants, set through the skeleton before load. */
const volatile __u16 lg_default_lgf_port = LGF_DEFAULT_PORT; /* before the first generation */
const volatile __u8 lg_default_not_ours = LG_ADMIT_NOT_OURS_DROP;
/* Tests only: take "now" from lg_test_now_ns instead of the kernel clock. */
const volatile __u8 lg_test_clock = 0;

/* Live generation slot; user space flips it after the slot's table and config are in place. */
volatile __u32 lg_active_slot = 0;
volatile __u64 lg_test_now_ns = 0;

/*
 * Sizes, not BTF types: clang emits only a forward declaration for value
 * types of a map nested in __array(), and tables made by user space carry no
 * BTF either.
 */
struct lg_dev_table {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LG_ADMIT_MAX_DEVICES);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct lg_admit_dev));
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, LG_ADMIT_GEN_SLOTS);
	__type(key, __u32);
	__array(values, struct lg_dev_table);
} lg_gens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LG_ADMIT_GEN_SLOTS);
	__type(key, __u32);
	__type(value, struct lg_admit_cfg);
} lg_gen_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LG_ADMIT_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct lg_admit_state);
} lg_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LG_R_MAX);
	__type(key, __u32);
	__type(value, struct lg_admit_reason_ctr);
} lg_reason_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, LG_ADMIT_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct lg_admit_dev_ctr);
} lg_dev_ctr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, LG_ADMIT_DEFAULT_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} lg_xsks SEC(".maps");

static __always_inline struct lg_admit_state *state_get(__u32 id)
{
	struct lg_admit_state *st, fresh = {};

	st = bpf_map_lookup_elem(&lg_state, &id);
	if (st)
		return st;
	/* last_ns 0: the decision starts the bucket full. EEXIST means another CPU won. */
	bpf_map_update_elem(&lg_state, &id, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&lg_state, &id);
}

static __always_inline void count(const struct lg_admit_verdict *v, __u64 bytes)
{
	struct lg_admit_reason_ctr *c;
	__u32 key = v->reason;

	c = bpf_map_lookup_elem(&lg_reason_ctr, &key);
	if (c) {
		c->frames++;
		c->bytes += bytes;
	}
	if (v->reason != LG_R_AUDIT)
		return;
	key = v->audited;
	c = bpf_map_lookup_elem(&lg_reason_ctr, &key);
	if (c)
		c->audited++;
}

static __always_inline void count_dev(__u32 id, const struct lg_admit_verdict *v)
{
	struct lg_admit_dev_ctr *c, zero = {};

	c = bpf_map_lookup_elem(&lg_dev_ctr, &id);
	if (!c) {
		bpf_map_update_elem(&lg_dev_ctr, &id, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&lg_dev_ctr, &id);
		if (!c)
			return;
	}
	if (v->reason == LG_R_ADMITTED)
		c->admitted++;
	else if (v->reason == LG_R_AUDIT)
		c->audited++;
	else
		c->dropped++;
}

SEC("xdp")
int lg_admit(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct lg_admit_cfg none = {
	    .lgf_port = lg_default_lgf_port,
	    .not_ours = lg_default_not_ours,
	};
	const struct lg_admit_cfg *cfg;
	const struct lg_admit_dev *dev = NULL;
	struct lg_admit_state *st = NULL;
	struct lg_admit_pkt pkt = {};
	struct lg_admit_verdict v;
	void *table = NULL;
	__u32 slot = lg_active_slot;
	__u64 now;
	int rc;

	cfg = bpf_map_lookup_elem(&lg_gen_cfg, &slot);
	if (cfg && cfg->generation)
		table = bpf_map_lookup_elem(&lg_gens, &slot);
	/* Unknown slot, empty slot or a slot without a table: fail closed. */
	if (!cfg || !table)
		cfg = &none;

	rc = lg_admit_parse(data, data_end, cfg, &pkt);
	if (rc == LG_R_ADMITTED && table) {
		dev = bpf_map_lookup_elem(table, &pkt.device_id);
		if (dev)
			st = state_get(pkt.device_id);
	}
	/* The clock costs as much as a map lookup: read it only for a bucket. */
	now = !dev || !dev->rate ? 0 : lg_test_clock ? lg_test_now_ns : bpf_ktime_get_ns();
	lg_admit_decide(rc, &pkt, dev, st, cfg, now, &v);

	count(&v, (__u64)(data_end - data));
	if (dev)
		count_dev(pkt.device_id, &v);

	if (!v.pass)
		return XDP_DROP;
	if (v.reason == LG_R_NOT_OURS)
		return XDP_PASS;
	/* No socket bound on this queue: hand the frame to the stack (UDP backend). */
	return bpf_redirect_map(&lg_xsks, ctx->rx_queue_index, XDP_PASS);
}
