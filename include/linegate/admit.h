/* SPDX-License-Identifier: MIT */
/*
 * Zero-trust admission: the contract between the XDP program (bpf/admit.bpf.c),
 * its loader (dataplane/admit/) and every user-space copy of the decision
 * (unit tests, the DPDK backend).
 *
 * Map keys and values are defined here once. The packet parser and the
 * admission decision are header-only so that clang compiles them for BPF and
 * the C compiler for user space: one truth, several users. Only fixed-width
 * types, no libc, no helpers: the functions below see plain structs and
 * (data, data_end) pointers and nothing else.
 *
 * The glue around them is small and the same everywhere:
 *
 *	rc = lg_admit_parse(data, data_end, cfg, &pkt, &ukey);
 *	(multi-buffer: lg_admit_parse_len(data, first_buffer_end, frame_len, ...))
 *	if (rc == LG_R_FRAGMENT)			(XDP: the stack can reassemble it)
 *		lg_admit_decide_fragment(cfg, &pkt, lg_admit_table_source_bound(table, &pkt),
 *					 &verdict);
 *	if (rc == LG_R_ADMITTED && !pkt.device_id)	(UADP: identity -> device id, 0 = none)
 *		pkt.device_id = <ukey's lg_admit_uadp_ids.device_id[generation & 1]>;
 *	dev = rc == LG_R_ADMITTED && pkt.device_id ?
 *	      lg_admit_table_find(table, pkt.device_id) : NULL;
 *	st = dev ? <runtime state at dev->slot> : NULL;
 *	lg_admit_decide(rc, &pkt, dev, st, cfg, now_ns, jiffy, &verdict);
 *	(XDP reads the clock only when the bucket needs it:
 *	 if (lg_admit_decide_gated(rc, &pkt, dev, st, cfg, jiffy, &verdict))
 *		lg_admit_decide_clocked(dev, st, now_ns, jiffy, &verdict);)
 *
 * (lg_admit_decide() drops a fragment as LG_R_FRAGMENT: what callers without a
 * reassembler behind them want.) UADP keys, wherever built, come from
 * lg_admit_uadp_key_make().
 */
#ifndef LINEGATE_ADMIT_H
#define LINEGATE_ADMIT_H

#include "lgf.h"

#define LG_ADMIT_INLINE static inline __attribute__((always_inline))

/* Device table capacity of one generation. */
#define LG_ADMIT_MAX_DEVICES 4096
/*
 * Runtime state and per-device counters live in arrays indexed by a slot the
 * loader gives each device and keeps while the device stays enrolled. During
 * a switch the outgoing and the incoming generation both hold slots, hence
 * twice the table capacity.
 */
#define LG_ADMIT_STATE_SLOTS (2 * LG_ADMIT_MAX_DEVICES)
/*
 * Device tables are open-addressed hash tables (linear probing) in one array
 * map value: a lookup is a few loads without a helper call. Four index
 * positions per device keep probe sequences short; the loader picks a hash
 * seed under which every device sits within LG_ADMIT_MAX_PROBES of its home.
 */
#define LG_ADMIT_INDEX_BITS 14
#define LG_ADMIT_INDEX_SLOTS (1u << LG_ADMIT_INDEX_BITS)
#define LG_ADMIT_MAX_PROBES 8
/* Multicast groups a generation takes (lg_admit_cfg.groups); uadp_multicast's limit too. */
#define LG_ADMIT_MAX_GROUPS 8
/* VLAN ids (12 bits): lg_admit_cfg.vlan_ids has a bit for each. */
#define LG_ADMIT_VLAN_IDS 4096
/* Default number of XSKMAP entries (RX queues) unless the loader says otherwise. */
#define LG_ADMIT_DEFAULT_QUEUES 64
/* One frame's worth of tokens; buckets count in nanoframes so refill needs no division. */
#define LG_ADMIT_TOKEN_SCALE 1000000000ULL
/*
 * The token bucket's refill gate (lg_admit_bucket_take_gated()) compares ticks: XDP uses the
 * kernel's jiffies (bpf_jiffies64(), inlined by the verifier; CONFIG_HZ 250 on the project's
 * kernel); user space and the test clock derive one from their nanosecond clock with
 * lg_admit_jiffy(), LG_ADMIT_JIFFY_NS long, so that every user judges alike. Tick 0 is "no
 * tick": the gate stays shut and every frame of a bucket reads the clock (the exact bucket).
 */
#define LG_ADMIT_JIFFY_NS 4000000ULL

/*
 * Why a frame was admitted or dropped; index of the per-reason counter array.
 * Every frame the program sees is counted under exactly one reason.
 * X(enum suffix, metric label, what causes it): the enum for BPF and user space, the
 * names for metrics, and docs/drop-reasons.md (`linegate --drop-reasons` prints it and a
 * test compares).
 */
#define LG_ADMIT_REASONS(X)                                                                       \
	X(ADMITTED, "admitted", "enrolled, bound source, in rate, not replayed")                    \
	X(UNKNOWN_DEVICE, "unknown_device", "device id or UADP identity not in the live table")     \
	X(SPOOFED_SOURCE, "spoofed_source", "MAC, IP, family or UDP port differ from the binding") \
	X(RATE_LIMITED, "rate_limited", "the device's token bucket is empty")                       \
	X(REPLAYED, "replayed",                                                                    \
	  "sequence at least a replay window below the highest one a worker verified (the "        \
	  "workers' too_old): a replay, or a device whose sequence went back")                     \
	X(MALFORMED, "malformed",                                                                  \
	  "truncated or inconsistent headers, IPv4 options other than padding, bad LGF or UADP "   \
	  "header")                                                                                \
	X(NOT_OURS, "not_ours",                                                                    \
	  "not LGF or UADP traffic, or sent to a multicast group linegate did not join "           \
	  "(uadp_multicast); passed or dropped as not_ours says")                                  \
	X(AUDIT, "audit", "audit mode: enforce would have dropped it, let through")                 \
	X(NO_TABLE, "no_table", "no live generation (nothing applied yet): fail closed")            \
	X(STATE_FULL, "state_full", "runtime state missing and could not be created: fail closed")  \
	X(FRAGMENT, "fragment",                                                                    \
	  "an IP fragment of UDP: fragments: drop, or its source address is no enrolled device's") \
	X(FRAGMENT_PASSED, "fragment_passed",                                                      \
	  "an IP fragment from an enrolled device's source address, passed to the kernel to "      \
	  "reassemble (fragments: reassemble)")                                                    \
	X(VLAN, "vlan",                                                                            \
	  "LGF, UADP or a fragment in a VLAN tag whose id the policy's vlans does not list (with "  \
	  "uring: or no VLAN interface of the kernel's would deliver)")                          \
	X(NO_READER, "no_reader",                                                                  \
	  "admitted (or audited), but no linegate reads it: afxdp with no AF_XDP socket on its RX " \
	  "queue (linegate stopped, killed or restarting), uring while linegate stops or starts: " \
	  "dropped")                                                                               \
	X(BAD_CHECKSUM, "bad_checksum",                                                            \
	  "the IPv4 header checksum is wrong: dropped here, where the kernel would drop it "       \
	  "uncounted before any socket (IpInHdrErrors)")

enum lg_admit_reason {
#define LG_ADMIT_REASON_ENUM(e, name, desc) LG_R_##e,
	LG_ADMIT_REASONS(LG_ADMIT_REASON_ENUM)
#undef LG_ADMIT_REASON_ENUM
	LG_R_MAX,
};
_Static_assert(LG_R_ADMITTED == 0 && LG_R_STATE_FULL == 9 && LG_R_FRAGMENT_PASSED == 11 &&
		   LG_R_VLAN == 12 && LG_R_NO_READER == 13 && LG_R_BAD_CHECKSUM == 14,
	       "counter indices are stable");

#ifndef __BPF__
/* Stable lower-case names of the reasons, e.g. for metrics labels; "?" if out of range. */
static inline const char *lg_admit_reason_name(int reason)
{
	static const char *const names[LG_R_MAX] = {
#define LG_ADMIT_REASON_NAME(e, name, desc) [LG_R_##e] = name,
		LG_ADMIT_REASONS(LG_ADMIT_REASON_NAME)
#undef LG_ADMIT_REASON_NAME
	};

	return reason >= 0 && reason < LG_R_MAX ? names[reason] : "?";
}

/* What causes a reason; "" if out of range. */
static inline const char *lg_admit_reason_desc(int reason)
{
	static const char *const descs[LG_R_MAX] = {
#define LG_ADMIT_REASON_DESC(e, name, desc) [LG_R_##e] = desc,
		LG_ADMIT_REASONS(LG_ADMIT_REASON_DESC)
#undef LG_ADMIT_REASON_DESC
	};

	return reason >= 0 && reason < LG_R_MAX ? descs[reason] : "";
}
#endif

/* cfg.not_ours: what happens to traffic that is neither LGF nor UADP. */
enum lg_admit_not_ours {
	LG_ADMIT_NOT_OURS_DROP = 0,
	LG_ADMIT_NOT_OURS_PASS = 1,
};

/* cfg.fragments: what happens to IP fragments of UDP (they carry no UDP header to judge). */
enum lg_admit_fragments {
	LG_ADMIT_FRAGMENTS_DROP = 0,	   /* counted under LG_R_FRAGMENT */
	LG_ADMIT_FRAGMENTS_REASSEMBLE = 1, /* from a bound source: to the kernel, LG_R_FRAGMENT_PASSED */
};

/* lg_admit_dev.family and lg_admit_pkt.family. */
#define LG_ADMIT_AF_INET 4
#define LG_ADMIT_AF_INET6 6

/* lg_admit_dev.flags */
#define LG_ADMIT_DEV_AUDIT 0x01	  /* count what enforce would drop, let it through */
#define LG_ADMIT_DEV_ANY_MAC 0x02 /* do not check the source MAC (device behind a router) */

/* lg_admit_pkt.kind */
#define LG_ADMIT_KIND_LGF 1
#define LG_ADMIT_KIND_UADP 2

/*
 * Per-generation configuration, the head of the generation's device table.
 * Without a table (generation 0) frames for us are dropped as LG_R_NO_TABLE.
 */
struct lg_admit_cfg {
	lg_u64 generation; /* policy generation, increasing; 0 = slot empty */
	lg_u16 lgf_port;   /* UDP destination port of LGF, host order */
	lg_u16 uadp_port;  /* UDP destination port of UADP, host order; 0 = off */
	lg_u8 not_ours;	   /* enum lg_admit_not_ours */
	lg_u8 fragments;   /* enum lg_admit_fragments */
	lg_u8 groups_only; /* 1: see groups below */
	lg_u8 ngroups;	   /* entries of groups[] in use, at most LG_ADMIT_MAX_GROUPS */
	lg_u32 replay_window; /* frames this far behind the verified sequence may still pass */
	lg_u32 pad2;
	/*
	 * VLANs (policy 'vlans'): bit (id & 7) of vlan_ids[id >> 3] is set when frames tagged
	 * with VLAN id are the line's. A frame of ours (LGF, UADP, a fragment) with tags is
	 * judged only when each of its tags (one, or two: QinQ) has a listed id; else it is
	 * dropped as LG_R_VLAN (lg_admit_vlan_ok()). Untagged frames are not affected.
	 */
	lg_u8 vlan_ids[LG_ADMIT_VLAN_IDS / 8];
	/*
	 * Multicast groups (uadp_multicast). With groups_only, an IP packet to a
	 * multicast address is ours only when the address is one of these, the
	 * groups linegate's socket joined: the kernel would drop any other
	 * uncounted, so it is LG_R_NOT_OURS here. group_family[i] is
	 * LG_ADMIT_AF_INET (address in groups[i][0..3]) or LG_ADMIT_AF_INET6.
	 * Without groups_only (callers that read frames, not a socket: afxdp,
	 * DPDK, pcap) any group is judged like a unicast address.
	 */
	lg_u8 group_family[LG_ADMIT_MAX_GROUPS];
	lg_u8 groups[LG_ADMIT_MAX_GROUPS][16];
};
_Static_assert(sizeof(struct lg_admit_cfg) == 24 + LG_ADMIT_VLAN_IDS / 8 + 17 * LG_ADMIT_MAX_GROUPS,
	       "lg_admit_cfg layout");

/*
 * Device table value, key is the u32 device id. Built by the control plane
 * from the policy, read-only for the data plane.
 */
struct lg_admit_dev {
	lg_u8 mac[6];	 /* bound source MAC (ignored with LG_ADMIT_DEV_ANY_MAC) */
	lg_u8 family;	 /* LG_ADMIT_AF_INET or LG_ADMIT_AF_INET6 */
	lg_u8 flags;	 /* LG_ADMIT_DEV_* */
	lg_u8 addr[16];	 /* bound source address, network order; IPv4 in addr[0..3] */
	lg_u16 src_port; /* bound UDP source port, host order; 0 = any */
	lg_u16 group;	 /* device group from the policy (audit mode is set per group) */
	lg_u32 rate;	 /* token bucket rate in frames per second; 0 = unlimited */
	lg_u32 burst;	 /* token bucket depth in frames */
	lg_u32 slot;	 /* runtime state/counter slot; set by the loader, ignored on input */
};
_Static_assert(sizeof(struct lg_admit_dev) == 40, "lg_admit_dev layout");

/*
 * The identity of an OPC UA PubSub (UADP) publisher's DataSetMessages:
 * PublisherId (type and value), WriterGroupId, DataSetWriterId: the one
 * layout the XDP program, user-space admission, the policy compiler and the
 * workers build, all through lg_admit_uadp_key_make(), so that all build the
 * same 48 bytes. Zero-filled: hashed and compared as bytes.
 *
 * A NetworkMessage without a PublisherId is identified by where it comes
 * from: pub_type LG_ADMIT_UADP_PUBID_NONE, pub_str the source address
 * (IPv4 as a v4-mapped IPv6 address), pub_str_len 16, pub_num 0. Without a
 * GroupHeader or WriterGroupId, writer_group_id is 0. Without a
 * PayloadHeader, writer_id is the 1-based position of the DataSetMessage in
 * the NetworkMessage and flags has LG_ADMIT_UADP_KEY_POSITION, so that a
 * position never equals a DataSetWriterId.
 */
#define LG_ADMIT_UADP_STR_MAX 32
/* pub_type of a NetworkMessage without PublisherId (the wire's types are 0..4). */
#define LG_ADMIT_UADP_PUBID_NONE 5
/* lg_admit_uadp_key.flags: writer_id is a DataSetMessage's position, not its writer id. */
#define LG_ADMIT_UADP_KEY_POSITION 0x0001
struct lg_admit_uadp_key {
	lg_u8 pub_type; /* enum lg_uadp_pubid_type: 0 Byte, 1 UInt16 ... 4 String; 5 none */
	lg_u8 pub_str_len;
	lg_u16 writer_group_id; /* 0: the message has no WriterGroupId */
	lg_u16 writer_id;	/* DataSetWriterId, or with LG_ADMIT_UADP_KEY_POSITION a position */
	lg_u16 flags;		/* LG_ADMIT_UADP_KEY_* */
	lg_u64 pub_num;			      /* numeric PublisherId; 0 for a String or none */
	lg_u8 pub_str[LG_ADMIT_UADP_STR_MAX]; /* String PublisherId or (none) the source address,
					       * zero after pub_str_len */
};
_Static_assert(sizeof(struct lg_admit_uadp_key) == 48, "lg_admit_uadp_key layout");

/*
 * Value of the UADP identity map: the device id the identity belongs to in
 * generation g at device_id[g & 1] (0 = none); consecutive generations
 * alternate. A frame reads the entry of its table's generation, so
 * identities switch together with the table they point into: a frame never
 * pairs one generation's identities with another's table.
 */
struct lg_admit_uadp_ids {
	lg_u32 device_id[2];
};

/* One enrolled device of a generation, as the policy compiler hands it over. */
struct lg_admit_entry {
	lg_u32 device_id;
	struct lg_admit_dev dev;
	lg_u32 has_uadp; /* 1: the device also publishes UADP under identity uadp */
	struct lg_admit_uadp_key uadp;
};

/*
 * One generation: its configuration and device table (in XDP, one of the
 * two lg_gens slots in the program's .bss). ids[pos] is the device id at
 * index position pos (0 = empty), devs[pos] its entry. srcs is a second
 * index over the same entries, by bound source address (family and
 * address): srcs[pos] is 1 + the position in devs of a device bound to an
 * address whose home is near pos, 0 = empty; one per address however many
 * devices share it. It answers "is this source an enrolled device's?" for
 * IP fragments, which carry no UDP header and no device id. Built whole by
 * user space, read-only for the data plane, replaced whole by the next
 * generation: the source set switches with the table.
 */
struct lg_admit_table {
	struct lg_admit_cfg cfg;
	lg_u32 seed; /* hash seed the table was built with */
	lg_u32 count;
	lg_u32 ids[LG_ADMIT_INDEX_SLOTS];
	struct lg_admit_dev devs[LG_ADMIT_INDEX_SLOTS];
	lg_u16 srcs[LG_ADMIT_INDEX_SLOTS];
};

/* Multiplicative (Fibonacci) hashing; the seed varies per table. */
LG_ADMIT_INLINE lg_u32 lg_admit_hash(lg_u32 id, lg_u32 seed)
{
	return ((id ^ seed) * 0x9e3779b1u) >> (32 - LG_ADMIT_INDEX_BITS);
}

/*
 * The entry of device id (not 0), or NULL. A miss usually ends at the first
 * empty position, and never takes more than LG_ADMIT_MAX_PROBES loads, so a
 * flood of unknown ids costs a bounded few loads per frame.
 */
LG_ADMIT_INLINE const struct lg_admit_dev *lg_admit_table_find(const struct lg_admit_table *t,
							       lg_u32 id)
{
	lg_u32 h = lg_admit_hash(id, t->seed), pos, at;
	int i;

	for (i = 0; i < LG_ADMIT_MAX_PROBES; i++) {
		pos = (h + (lg_u32)i) & (LG_ADMIT_INDEX_SLOTS - 1);
		at = t->ids[pos];
		if (at == id)
			return &t->devs[pos];
		if (!at)
			return 0;
	}
	return 0;
}

/*
 * Runtime state, array indexed by the device's slot. Survives generation
 * switches while the device stays enrolled. The XDP program owns tokens and
 * last_ns; workers export highest_seq after a frame's MAC verified (and only
 * move it forward, with an atomic compare-and-swap in the mmapped array).
 *
 * Updates are not atomic across CPUs: RSS keeps one device's flow on one RX
 * queue, so the bucket of a device is normally touched by one CPU only. Two
 * CPUs racing on one bucket can gain a frame's worth of tokens (both take
 * from the same level) or lose one refill (one CPU writes back a level read
 * before the other's refill: the tokens since the last refill, at most the
 * burst); the refill gate adds no other outcome, but makes the lost refill
 * more likely, as gated frames write tokens without the clock.
 */
struct lg_admit_state {
	lg_u64 tokens;	    /* nanoframes (LG_ADMIT_TOKEN_SCALE per frame) */
	lg_u64 last_ns;	    /* ktime of the last refill; 0 = fresh, bucket starts full */
	lg_u64 highest_seq; /* highest sequence a worker verified; 0 = none yet */
	lg_u64 jiffy;	    /* tick of the last clocked refill (the gate's); 0 = none */
};
_Static_assert(sizeof(struct lg_admit_state) == 32, "lg_admit_state layout");

/* The tick of a nanosecond clock reading, for callers without jiffies (never 0). */
LG_ADMIT_INLINE lg_u64 lg_admit_jiffy(lg_u64 now_ns)
{
	return now_ns / LG_ADMIT_JIFFY_NS + 1;
}

/*
 * Honest latency (issue 12): what the XDP program puts in the metadata area in front of a
 * frame it redirects to an AF_XDP socket: bpf_ktime_get_ns() (CLOCK_MONOTONIC, the clock the
 * workers read) when XDP saw the frame, so that the time it waited in the XSK ring counts.
 * The backend reads it at data - sizeof(struct lg_xdp_meta) and clears magic, so that a
 * frame some other program redirected without it is never taken for stamped.
 */
#define LG_XDP_META_MAGIC 0x6c677473u /* "lgts" */
struct lg_xdp_meta {
	lg_u64 rx_ns;
	lg_u32 pad;
	lg_u32 magic;
};
_Static_assert(sizeof(struct lg_xdp_meta) == 16, "lg_xdp_meta layout");

/* Per-reason counters, indexed by enum lg_admit_reason (per CPU). */
struct lg_admit_reason_ctr {
	lg_u64 frames;	/* frames counted under this reason */
	lg_u64 bytes;	/* their length on the wire (L2) */
	lg_u64 audited; /* frames audit mode let through that enforce would drop for this reason */
};

/* Per-device counters, PERCPU_ARRAY indexed by the device's slot (enrolled devices only). */
struct lg_admit_dev_ctr {
	lg_u64 admitted;
	lg_u64 dropped;
	lg_u64 audited; /* let through by audit mode, would have been dropped */
	/*
	 * Of dropped and audited: refused by the device's token bucket. Admission cannot check
	 * a tag, so frames forged with the device's id from its bound address spend its budget
	 * as its own frames do: compared with what the worker verified, this tells a device
	 * over its rate from one flooded in its name (docs/admission.md, "Token bucket").
	 */
	lg_u64 rate_limited;
};

/* What the parser extracted from a frame; input of the decision. */
struct lg_admit_pkt {
	lg_u8 src_mac[6];
	lg_u8 family; /* LG_ADMIT_AF_INET / LG_ADMIT_AF_INET6 */
	lg_u8 kind;   /* LG_ADMIT_KIND_* */
	lg_u8 src_addr[16];
	lg_u16 src_port; /* host order */
	lg_u16 dst_port; /* host order */
	lg_u8 vlans;	 /* number of VLAN tags (0..2) */
	lg_u8 pad;
	lg_u16 payload_off; /* where the UDP payload starts, from the frame's start: UADP in
			     * BPF; every admitted or UADP datagram in user space */
	lg_u32 device_id;   /* LGF: from the frame; UADP: 0 until the identity is looked up */
	lg_u32 payload_len; /* UDP payload length */
	lg_u16 vid[2];	    /* the tags' VLAN ids, outer first; vid[i] for i < vlans, else 0 */
	lg_u64 sequence;    /* 0 = the format carries none usable for the replay pre-check */
};

/* Outcome of the decision. */
struct lg_admit_verdict {
	lg_u8 pass;    /* 1: let through (to the XSK or the stack), 0: drop */
	lg_u8 reason;  /* enum lg_admit_reason, the counter to bump */
	lg_u8 audited; /* with LG_R_AUDIT: the reason enforce would have dropped for */
	lg_u8 pad;
};

/* Count one verdict for the device it belongs to: XDP, user-space admission and the tests. */
LG_ADMIT_INLINE void lg_admit_dev_count(struct lg_admit_dev_ctr *c,
					const struct lg_admit_verdict *v)
{
	if (v->reason == LG_R_ADMITTED)
		c->admitted++;
	else if (v->reason == LG_R_AUDIT)
		c->audited++;
	else
		c->dropped++;
	if (v->reason == LG_R_RATE_LIMITED ||
	    (v->reason == LG_R_AUDIT && v->audited == LG_R_RATE_LIMITED))
		c->rate_limited++;
}

/*
 * Wide loads from packet bytes at any alignment. The BPF JITs of the 64-bit
 * targets handle unaligned loads and the verifier allows them on packet
 * pointers there, so BPF dereferences directly; user space goes through
 * memcpy, which compiles to the same single load without the undefined
 * behaviour. Values come back in wire order; lg_admit_be16() and the LE
 * readers convert.
 */
#ifdef __BPF__
#define LG_ADMIT_LOAD(type, name)                                                                  \
	LG_ADMIT_INLINE type name(const void *p)                                                   \
	{                                                                                          \
		return *(const type *)p;                                                           \
	}
#else
#define LG_ADMIT_LOAD(type, name)                                                                  \
	LG_ADMIT_INLINE type name(const void *p)                                                   \
	{                                                                                          \
		type v;                                                                            \
		__builtin_memcpy(&v, p, sizeof(v));                                                \
		return v;                                                                          \
	}
#endif
LG_ADMIT_LOAD(lg_u16, lg_admit_ld16)
LG_ADMIT_LOAD(lg_u32, lg_admit_ld32)
LG_ADMIT_LOAD(lg_u64, lg_admit_ld64)

/* Stores into the parser's own (aligned) struct. */
#define LG_ADMIT_ST16(p, v) __builtin_memcpy((p), &(lg_u16){(v)}, 2)
#define LG_ADMIT_ST32(p, v) __builtin_memcpy((p), &(lg_u32){(v)}, 4)
#define LG_ADMIT_ST64(p, v) __builtin_memcpy((p), &(lg_u64){(v)}, 8)

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LG_ADMIT_BE16(x) ((lg_u16)((((x)&0xff) << 8) | (((x) >> 8) & 0xff)))
#define LG_ADMIT_LE16(x) (x)
#define LG_ADMIT_LE32(x) (x)
#define LG_ADMIT_LE64(x) (x)
#else
#define LG_ADMIT_BE16(x) ((lg_u16)(x))
#define LG_ADMIT_LE16(x) __builtin_bswap16(x)
#define LG_ADMIT_LE32(x) __builtin_bswap32(x)
#define LG_ADMIT_LE64(x) __builtin_bswap64(x)
#endif

/* A big-endian 16-bit field in host order. */
LG_ADMIT_INLINE lg_u16 lg_admit_be16(const lg_u8 *p)
{
	lg_u16 v = lg_admit_ld16(p);

	return LG_ADMIT_BE16(v);
}

LG_ADMIT_INLINE lg_u32 lg_admit_le32(const lg_u8 *p)
{
	lg_u32 v = lg_admit_ld32(p);

	return LG_ADMIT_LE32(v);
}

LG_ADMIT_INLINE lg_u64 lg_admit_le64(const lg_u8 *p)
{
	lg_u64 v = lg_admit_ld64(p);

	return LG_ADMIT_LE64(v);
}

#define LG_ETH_HLEN 14
#define LG_ETH_P_IP 0x0800
#define LG_ETH_P_IPV6 0x86DD
#define LG_ETH_P_8021Q 0x8100
#define LG_ETH_P_8021AD 0x88A8
#define LG_IPPROTO_UDP 17
#define LG_UDP_HLEN 8

/* proto in wire order, as loaded. */
LG_ADMIT_INLINE int lg_admit_is_vlan(lg_u16 proto)
{
	return proto == LG_ADMIT_BE16(LG_ETH_P_8021Q) || proto == LG_ADMIT_BE16(LG_ETH_P_8021AD);
}

#define LG_IPPROTO_HOPOPTS 0
#define LG_IPPROTO_ROUTING 43
#define LG_IPPROTO_FRAGMENT 44
#define LG_IPPROTO_ESP 50
#define LG_IPPROTO_AH 51
#define LG_IPPROTO_DSTOPTS 60

/*
 * IPv6 extension headers the parser walks in front of the upper-layer
 * header, at most this many. Each is at most 2048 bytes (Hop-by-Hop,
 * Routing, Destination Options) or 1028 (AH), so four keep the UDP payload
 * within LG_ADMIT_PAYLOAD_OFF_MASK of the frame's start.
 */
#define LG_ADMIT_IPV6_EXT_MAX 4
/*
 * pkt->payload_off is masked with this before the UADP parser adds it to
 * data: the verifier needs a bound on the offset, and no frame the parser
 * accepts has a larger one (Ethernet, two tags, IPv6, the extension
 * headers, UDP).
 */
#define LG_ADMIT_PAYLOAD_OFF_MASK 0x3fff
_Static_assert(LG_ETH_HLEN + 8 + 40 + LG_ADMIT_IPV6_EXT_MAX * 2048 + LG_UDP_HLEN <=
		   LG_ADMIT_PAYLOAD_OFF_MASK,
	       "the UADP payload offset of an accepted frame fits the mask");

#define LG_ADMIT_EXT_BIT(nh) (1ULL << (nh))
/* The extension headers below 64 (the rest: 135, 139, 140, 253, 254). */
#define LG_ADMIT_EXT_LOW                                                                           \
	(LG_ADMIT_EXT_BIT(LG_IPPROTO_HOPOPTS) | LG_ADMIT_EXT_BIT(LG_IPPROTO_ROUTING) |             \
	 LG_ADMIT_EXT_BIT(LG_IPPROTO_FRAGMENT) | LG_ADMIT_EXT_BIT(LG_IPPROTO_ESP) |                \
	 LG_ADMIT_EXT_BIT(LG_IPPROTO_AH) | LG_ADMIT_EXT_BIT(LG_IPPROTO_DSTOPTS))
/* Walked by lg_admit_ipv6_ext(): as the first header, and after another one. */
#define LG_ADMIT_EXT_WALK_LATER                                                                    \
	(LG_ADMIT_EXT_BIT(LG_IPPROTO_ROUTING) | LG_ADMIT_EXT_BIT(LG_IPPROTO_DSTOPTS) |             \
	 LG_ADMIT_EXT_BIT(LG_IPPROTO_AH))
#define LG_ADMIT_EXT_WALK_FIRST (LG_ADMIT_EXT_WALK_LATER | LG_ADMIT_EXT_BIT(LG_IPPROTO_HOPOPTS))

/* IPv6 extension headers (RFC 8200 and the IANA list). */
LG_ADMIT_INLINE int lg_admit_ipv6_is_ext(lg_u8 nh)
{
	if (nh < 64)
		return LG_ADMIT_EXT_LOW >> nh & 1;
	return nh == 135 || nh == 139 || nh == 140 || nh == 253 || nh == 254;
}

/*
 * One step of lg_admit_ipv6_ext(): if *nh is in the set walk (bit n for
 * protocol n), skip the header at *p, which must lie within the payload,
 * and return 1 with *p and *nh at the next one; 0 if *nh is not to be
 * walked; -1 if the header is cut short or runs past the payload.
 */
LG_ADMIT_INLINE int lg_admit_ipv6_ext_one(const lg_u8 **p, lg_u8 *nh, const lg_u8 *l4_end,
					  const lg_u8 *end, lg_u64 walk)
{
	const lg_u8 *h = *p;
	lg_u32 len, ah;

	/* A shift instead of a compare per protocol number: fewer paths to verify. */
	if (*nh >= 64 || !(walk >> *nh & 1))
		return 0;
	/* Every one of them is at least 8 bytes long. */
	if (h + 8 > l4_end || h + 8 > end)
		return -1;
	/*
	 * Length in 8-octet units not counting the first 8; AH's in 4-octet
	 * units minus 2. Without a branch, and without a shift by a variable,
	 * after which the verifier would not know the bounds.
	 */
	ah = (lg_u32)(LG_ADMIT_EXT_BIT(LG_IPPROTO_AH) >> *nh) & 1;
	len = ((lg_u32)h[1] + 1 + ah) * (8 - 4 * ah);
	if (h + len > l4_end)
		return -1;
	*nh = h[0];
	*p = h + len;
	return 1;
}

/*
 * The IPv6 extension headers between the fixed header and the upper-layer
 * header. nh is the IPv6 header's Next Header, *l4 the byte after the fixed
 * header, l4_end the end of the IPv6 payload (within the frame), end the
 * frame's end. Returns LG_R_ADMITTED with *l4 at the UDP header, or
 * LG_R_NOT_OURS / LG_R_MALFORMED.
 *
 * Walked: up to LG_ADMIT_IPV6_EXT_MAX headers that describe their own
 * length, Hop-by-Hop Options (first only: RFC 8200 4.1, and the stack drops
 * it elsewhere), Routing, Destination Options and AH (it authenticates, it
 * does not hide what follows). A fragment of UDP or of anything with
 * further headers (the stack would reassemble it) is LG_R_FRAGMENT. What
 * could still carry UDP into the kernel stack past this parser is
 * malformed: ESP (it would
 * decrypt it), the headers whose layout is not walked here (Mobility, HIP,
 * Shim6, experimental), more headers than the limit, and any header that
 * is cut short or runs past the payload. Anything else, ICMPv6 behind
 * Hop-by-Hop (MLD) for one, is not ours. Every read is checked against end
 * itself for the verifier.
 */
LG_ADMIT_INLINE int lg_admit_ipv6_ext(const lg_u8 **l4, const lg_u8 *l4_end, const lg_u8 *end,
				      lg_u8 nh)
{
	const lg_u8 *p = *l4;
	int r;

	/*
	 * Written out rather than a loop: clang does not unroll this one for
	 * BPF, and the verifier refuses the pointer arithmetic of the loop.
	 */
	_Static_assert(LG_ADMIT_IPV6_EXT_MAX == 4, "lg_admit_ipv6_ext() walks four headers");
	r = lg_admit_ipv6_ext_one(&p, &nh, l4_end, end, LG_ADMIT_EXT_WALK_FIRST);
	if (r > 0)
		r = lg_admit_ipv6_ext_one(&p, &nh, l4_end, end, LG_ADMIT_EXT_WALK_LATER);
	if (r > 0)
		r = lg_admit_ipv6_ext_one(&p, &nh, l4_end, end, LG_ADMIT_EXT_WALK_LATER);
	if (r > 0)
		r = lg_admit_ipv6_ext_one(&p, &nh, l4_end, end, LG_ADMIT_EXT_WALK_LATER);
	if (r < 0)
		return LG_R_MALFORMED;
	if (nh == LG_IPPROTO_UDP) {
		*l4 = p;
		return LG_R_ADMITTED;
	}
	if (nh == LG_IPPROTO_FRAGMENT) {
		if (p + 8 > l4_end || p + 8 > end)
			return LG_R_MALFORMED;
		/*
		 * Its Next Header is the first header of the reassembled payload,
		 * the same in every fragment: UDP, or more headers that may lead
		 * to it, is a fragment for lg_admit_decide_fragment().
		 */
		return p[0] == LG_IPPROTO_UDP || lg_admit_ipv6_is_ext(p[0]) ? LG_R_FRAGMENT
									    : LG_R_NOT_OURS;
	}
	/*
	 * Still an extension header: ESP, one not walked, Hop-by-Hop after
	 * another, or one more than the limit.
	 */
	return lg_admit_ipv6_is_ext(nh) ? LG_R_MALFORMED : LG_R_NOT_OURS;
}

/* OPC UA PubSub UADP NetworkMessage header (OPC 10000-14, 7.2.4.4.2; docs/wire-format-uadp.md). */
#define LG_ADMIT_UADP_VERSION 1
#define LG_ADMIT_UADP_F_VERSION 0x0f
#define LG_ADMIT_UADP_F_PUBID 0x10
#define LG_ADMIT_UADP_F_GROUP 0x20
#define LG_ADMIT_UADP_F_PAYLOAD 0x40
#define LG_ADMIT_UADP_F_EXT1 0x80
#define LG_ADMIT_UADP_X1_PUBID_TYPE 0x07
#define LG_ADMIT_UADP_X1_CLASS_ID 0x08
#define LG_ADMIT_UADP_X1_EXT2 0x80
#define LG_ADMIT_UADP_X2_REFUSED 0xfd /* chunk, message type (discovery), reserved bits */
#define LG_ADMIT_UADP_G_WRITER_GROUP 0x01
#define LG_ADMIT_UADP_G_VERSION 0x02
#define LG_ADMIT_UADP_G_NM_NUMBER 0x04
#define LG_ADMIT_UADP_G_SEQUENCE 0x08
#define LG_ADMIT_UADP_G_RESERVED 0xf0
#define LG_ADMIT_UADP_PUBID_STRING 4

/*
 * What a NetworkMessage header says about the identity of one of its
 * DataSetMessages: the input of lg_admit_uadp_key_make().
 */
struct lg_admit_uadp_hdr {
	lg_u8 pub_type;	   /* PublisherId type 0..4, LG_ADMIT_UADP_PUBID_NONE without one */
	lg_u8 pub_str_len; /* String PublisherId: its length, at most LG_ADMIT_UADP_STR_MAX */
	lg_u16 writer_group_id; /* 0: no GroupHeader or no WriterGroupId in it */
	lg_u16 writer;		/* DataSetWriterId (PayloadHeader), or with by_position the
				 * 1-based position of the DataSetMessage */
	lg_u16 by_position;	/* 1: the message has no PayloadHeader */
	lg_u64 pub_num;		/* numeric PublisherId (types 0..3) */
	const lg_u8 *pub_str;	/* String PublisherId's bytes; 0: the caller copies them into
				 * the key's pub_str itself after lg_admit_uadp_key_make() */
};

/*
 * The one builder of UADP identity keys. XDP and user-space admission
 * (lg_admit_parse_uadp(), for the first DataSetMessage), the workers (for
 * each DataSetMessage, from their decoder's parse) and the policy compiler
 * (lg_policy_uadp_key(), from a device's enrolment) all build keys here, so
 * that equal identities are equal bytes.
 *
 *	h		what the header says (struct lg_admit_uadp_hdr)
 *	family		LG_ADMIT_AF_INET or LG_ADMIT_AF_INET6: the message's source
 *	src_addr	the source address in network order: 4 bytes for IPv4,
 *			16 for IPv6; read only when h->pub_type is LG_ADMIT_UADP_PUBID_NONE
 *	k		filled whole (zero where the layout says so)
 *
 * Without a PublisherId the source address stands in for it (IPv4 as
 * ::ffff:a.b.c.d); the source port is not part of the identity (the device's
 * binding checks it). A worker keys the n-th DataSetMessage of a message
 * without PayloadHeader with writer = n, by_position = 1.
 */
LG_ADMIT_INLINE void lg_admit_uadp_key_make(const struct lg_admit_uadp_hdr *h, lg_u8 family,
					    const lg_u8 *src_addr, struct lg_admit_uadp_key *k)
{
	LG_ADMIT_ST64(k, 0);
	LG_ADMIT_ST64((lg_u8 *)k + 8, 0);
	LG_ADMIT_ST64(k->pub_str, 0);
	LG_ADMIT_ST64(k->pub_str + 8, 0);
	LG_ADMIT_ST64(k->pub_str + 16, 0);
	LG_ADMIT_ST64(k->pub_str + 24, 0);
	k->pub_type = h->pub_type;
	k->writer_group_id = h->writer_group_id;
	k->writer_id = h->writer;
	k->flags = h->by_position ? LG_ADMIT_UADP_KEY_POSITION : 0;
	if (h->pub_type == LG_ADMIT_UADP_PUBID_NONE) {
		k->pub_str_len = 16;
		if (family == LG_ADMIT_AF_INET) {
			k->pub_str[10] = 0xff;
			k->pub_str[11] = 0xff;
			LG_ADMIT_ST32(k->pub_str + 12, lg_admit_ld32(src_addr));
		} else {
			LG_ADMIT_ST64(k->pub_str, lg_admit_ld64(src_addr));
			LG_ADMIT_ST64(k->pub_str + 8, lg_admit_ld64(src_addr + 8));
		}
	} else if (h->pub_type == LG_ADMIT_UADP_PUBID_STRING) {
		k->pub_str_len = h->pub_str_len;
#ifndef __BPF__
		if (h->pub_str && h->pub_str_len <= LG_ADMIT_UADP_STR_MAX)
			__builtin_memcpy(k->pub_str, h->pub_str, h->pub_str_len);
#endif
	} else {
		k->pub_num = h->pub_num;
	}
}

/*
 * The identity of a UADP NetworkMessage's first DataSetMessage, from the
 * NetworkMessage header alone: UADPVersion and flags, ExtendedFlags1 and 2
 * (chunks, discovery messages and reserved bits are refused: their layout is
 * not ours to guess), the PublisherId of any type (a String of at most
 * LG_ADMIT_UADP_STR_MAX bytes) if present, the DataSetClassId, the
 * GroupHeader (any GroupFlags) with its WriterGroupId if present, and the
 * PayloadHeader with the DataSetWriterId of the first DataSetMessage if
 * present; without a PayloadHeader the first DataSetMessage is position 1.
 * Nothing after the PayloadHeader (timestamp, promoted fields, the security
 * header) is read: the identity lies before it, and the worker verifies the
 * rest. Anything that ends early is LG_R_MALFORMED.
 *
 * Fills *k through lg_admit_uadp_key_make() with the source (family,
 * src_addr: pkt->family, pkt->src_addr) standing in for a missing
 * PublisherId; the caller maps the identity to a device (in XDP the
 * lg_uadp_ids map). Every read is checked against what is left of the UDP
 * payload (payload_len) and, for the verifier, against data_end. Returns
 * LG_R_ADMITTED or LG_R_MALFORMED.
 */
LG_ADMIT_INLINE int lg_admit_parse_uadp(const lg_u8 *payload, const lg_u8 *data_end,
					lg_u32 payload_len, lg_u8 family, const lg_u8 *src_addr,
					struct lg_admit_uadp_key *k)
{
	const lg_u8 *p = payload, *str = 0;
	const lg_u8 *end = data_end;
	lg_u32 left = payload_len, slen, skip;
	lg_u8 flags, ext1 = 0, gf;
	struct lg_admit_uadp_hdr h;

	h.pub_type = LG_ADMIT_UADP_PUBID_NONE;
	h.pub_str_len = 0;
	h.writer_group_id = 0;
	h.writer = 1;
	h.by_position = 1;
	h.pub_num = 0;
	h.pub_str = 0;

/* n more bytes of the message at p, within the UDP payload and the frame. */
#define LG_ADMIT_UADP_NEED(n)                                                                      \
	do {                                                                                       \
		if (left < (lg_u32)(n) || p + (n) > end)                                           \
			return LG_R_MALFORMED;                                                     \
	} while (0)

	LG_ADMIT_UADP_NEED(1);
	flags = p[0];
	if ((flags & LG_ADMIT_UADP_F_VERSION) != LG_ADMIT_UADP_VERSION)
		return LG_R_MALFORMED;
	p++;
	left--;
	if (flags & LG_ADMIT_UADP_F_EXT1) {
		LG_ADMIT_UADP_NEED(1);
		ext1 = p[0];
		p++;
		left--;
		if (ext1 & LG_ADMIT_UADP_X1_EXT2) {
			LG_ADMIT_UADP_NEED(1);
			if (p[0] & LG_ADMIT_UADP_X2_REFUSED)
				return LG_R_MALFORMED;
			p++;
			left--;
		}
	}

	/* PublisherId; without ExtendedFlags1 it is a Byte. */
	if (flags & LG_ADMIT_UADP_F_PUBID) {
		h.pub_type = ext1 & LG_ADMIT_UADP_X1_PUBID_TYPE;
		switch (h.pub_type) {
		case 0:
			LG_ADMIT_UADP_NEED(1);
			h.pub_num = p[0];
			p++;
			left--;
			break;
		case 1:
			LG_ADMIT_UADP_NEED(2);
			h.pub_num = LG_ADMIT_LE16(lg_admit_ld16(p));
			p += 2;
			left -= 2;
			break;
		case 2:
			LG_ADMIT_UADP_NEED(4);
			h.pub_num = lg_admit_le32(p);
			p += 4;
			left -= 4;
			break;
		case 3:
			LG_ADMIT_UADP_NEED(8);
			h.pub_num = lg_admit_le64(p);
			p += 8;
			left -= 8;
			break;
		case LG_ADMIT_UADP_PUBID_STRING:
			/* Int32 length; the null String (-1) and longer ids cannot be a key. */
			LG_ADMIT_UADP_NEED(4);
			slen = lg_admit_le32(p);
			if (slen > LG_ADMIT_UADP_STR_MAX)
				return LG_R_MALFORMED;
			p += 4;
			left -= 4;
			if (left < slen)
				return LG_R_MALFORMED;
			/* Copied last (below): the parse in between takes one path for any length. */
			str = p;
			h.pub_str_len = (lg_u8)slen;
			p += slen;
			left -= slen;
			break;
		default:
			return LG_R_MALFORMED;
		}
	}

	if (ext1 & LG_ADMIT_UADP_X1_CLASS_ID) {
		LG_ADMIT_UADP_NEED(16);
		p += 16;
		left -= 16;
	}

	/* GroupHeader: GroupFlags, WriterGroupId if there is one, then what we skip. */
	if (flags & LG_ADMIT_UADP_F_GROUP) {
		LG_ADMIT_UADP_NEED(1);
		gf = p[0];
		if (gf & LG_ADMIT_UADP_G_RESERVED)
			return LG_R_MALFORMED;
		p++;
		left--;
		if (gf & LG_ADMIT_UADP_G_WRITER_GROUP) {
			LG_ADMIT_UADP_NEED(2);
			h.writer_group_id = LG_ADMIT_LE16(lg_admit_ld16(p));
			p += 2;
			left -= 2;
		}
		skip = (gf & LG_ADMIT_UADP_G_VERSION ? 4 : 0) +
		       (gf & LG_ADMIT_UADP_G_NM_NUMBER ? 2 : 0) + (gf & LG_ADMIT_UADP_G_SEQUENCE ? 2 : 0);
		if (left < skip)
			return LG_R_MALFORMED;
		p += skip;
		left -= skip;
	}

	/* PayloadHeader: Count (at least one DataSetMessage), the first DataSetWriterId. */
	if (flags & LG_ADMIT_UADP_F_PAYLOAD) {
		LG_ADMIT_UADP_NEED(3);
		if (!p[0])
			return LG_R_MALFORMED;
		h.writer = LG_ADMIT_LE16(lg_admit_ld16(p + 1));
		h.by_position = 0;
	}
#undef LG_ADMIT_UADP_NEED
	lg_admit_uadp_key_make(&h, family, src_addr, k);
	if (!str)
		return LG_R_ADMITTED;

	/*
	 * The String PublisherId, unrolled by hand (clang does not unroll a loop
	 * with two exits): every byte at a constant offset the verifier checks.
	 * Last, so the verifier's paths for each length end here and prune.
	 */
	slen = k->pub_str_len;
#define LG_ADMIT_UADP_STR_BYTE(i)                                                                  \
	do {                                                                                       \
		if ((i) >= slen)                                                                   \
			return LG_R_ADMITTED;                                                      \
		if (str + (i) + 1 > end)                                                           \
			return LG_R_MALFORMED;                                                     \
		k->pub_str[i] = str[i];                                                            \
	} while (0)
#define LG_ADMIT_UADP_STR_8(i)                                                                     \
	LG_ADMIT_UADP_STR_BYTE(i);                                                                 \
	LG_ADMIT_UADP_STR_BYTE((i) + 1);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 2);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 3);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 4);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 5);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 6);                                                           \
	LG_ADMIT_UADP_STR_BYTE((i) + 7)
	LG_ADMIT_UADP_STR_8(0);
	LG_ADMIT_UADP_STR_8(8);
	LG_ADMIT_UADP_STR_8(16);
	LG_ADMIT_UADP_STR_8(24);
#undef LG_ADMIT_UADP_STR_8
#undef LG_ADMIT_UADP_STR_BYTE
	return LG_R_ADMITTED;
}

/*
 * lg_admit_parse_frame(): the datagram goes to cfg->uadp_port; its payload
 * starts at data + pkt->payload_off. Not a reason: lg_admit_parse() never
 * returns it.
 */
#define LG_ADMIT_RC_UADP 0x100

/*
 * When lg_admit_parse_frame() records where the payload starts: the XDP program needs it
 * only for UADP (the LGF path keeps its instructions); user space (backends that see
 * whole frames) for every datagram it hands on.
 */
#ifdef __BPF__
#define LG_ADMIT_WANT_OFF(rc) ((rc) == LG_ADMIT_RC_UADP)
#else
#define LG_ADMIT_WANT_OFF(rc) ((rc) == LG_ADMIT_RC_UADP || (rc) == LG_R_ADMITTED)
#endif

/* Ones' complement sums of 32-bit words fold to 0xffff, in either byte order, when the
 * checksum they cover is right. */
LG_ADMIT_INLINE int lg_admit_csum_fold_ok(lg_u64 sum)
{
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum == 0xffff;
}

/*
 * The IPv4 header checksum of a header of 20 bytes at p, which the caller checked are there.
 * The kernel checks it first of all (ip_rcv) and drops a frame that fails it without a count
 * of linegate's: judged here, so that XDP's admitted is what a socket behind it receives.
 */
LG_ADMIT_INLINE int lg_admit_ipv4_csum20_ok(const lg_u8 *p)
{
	return lg_admit_csum_fold_ok((lg_u64)lg_admit_ld32(p) + lg_admit_ld32(p + 4) +
				     lg_admit_ld32(p + 8) + lg_admit_ld32(p + 12) +
				     lg_admit_ld32(p + 16));
}

/*
 * The same over the header's ihl bytes (20 to 60, a multiple of 4), 20 of them checked to be
 * there: LG_R_ADMITTED, LG_R_BAD_CHECKSUM (also when the rest do not end before end), or
 * LG_R_MALFORMED for options other than padding (NOP, EOL). A sensor sends none, and the
 * kernel refuses several (a source route, a bad option length) before any socket, without a
 * count of linegate's (trial V, s24). One constant offset a word, as the verifier follows
 * packet bounds (a loop's p + i is an offset it cannot bound).
 */
LG_ADMIT_INLINE int lg_admit_ipv4_hdr(const lg_u8 *p, lg_u32 ihl, const lg_u8 *end)
{
	lg_u64 sum = (lg_u64)lg_admit_ld32(p) + lg_admit_ld32(p + 4) + lg_admit_ld32(p + 8) +
		     lg_admit_ld32(p + 12) + lg_admit_ld32(p + 16);
	lg_u32 opts = 0;

#define LG_ADMIT_CSUM_OPT(off)                                                                    \
	if (ihl > (off)) {                                                                        \
		lg_u32 w_;                                                                        \
		if (p + (off) + 4 > end)                                                          \
			return LG_R_BAD_CHECKSUM;                                                 \
		w_ = lg_admit_ld32(p + (off));                                                    \
		sum += w_;                                                                        \
		opts |= w_ & 0xfefefefeu; /* a byte other than 0 (EOL) or 1 (NOP) */            \
	}
	LG_ADMIT_CSUM_OPT(20)
	LG_ADMIT_CSUM_OPT(24)
	LG_ADMIT_CSUM_OPT(28)
	LG_ADMIT_CSUM_OPT(32)
	LG_ADMIT_CSUM_OPT(36)
	LG_ADMIT_CSUM_OPT(40)
	LG_ADMIT_CSUM_OPT(44)
	LG_ADMIT_CSUM_OPT(48)
	LG_ADMIT_CSUM_OPT(52)
	LG_ADMIT_CSUM_OPT(56)
#undef LG_ADMIT_CSUM_OPT
	if (!lg_admit_csum_fold_ok(sum))
		return LG_R_BAD_CHECKSUM;
	return opts ? LG_R_MALFORMED : LG_R_ADMITTED;
}

/*
 * An IPv4 fragment (MF set or a non-zero offset) at p: of UDP it is
 * LG_R_FRAGMENT with its source in pkt, for lg_admit_decide_fragment(); the
 * later fragments carry no UDP header, so that the source address is all
 * there is to judge them by. Of anything else, not ours.
 */
LG_ADMIT_INLINE int lg_admit_fragment4(const lg_u8 *p, struct lg_admit_pkt *pkt)
{
	if (p[9] != LG_IPPROTO_UDP)
		return LG_R_NOT_OURS;
	pkt->family = LG_ADMIT_AF_INET;
	LG_ADMIT_ST32(pkt->src_addr, lg_admit_ld32(p + 12));
	return LG_R_FRAGMENT;
}

/*
 * A packet to the multicast address dst (family's length, network order): is
 * it a group cfg takes (lg_admit_cfg.groups_only)? At most
 * LG_ADMIT_MAX_GROUPS compares, only for multicast destinations.
 */
LG_ADMIT_INLINE int lg_admit_group_ok(const struct lg_admit_cfg *cfg, lg_u8 family,
				      const lg_u8 *dst)
{
	lg_u32 i;

	if (!cfg->groups_only)
		return 1;
	for (i = 0; i < LG_ADMIT_MAX_GROUPS; i++) {
		if (i >= cfg->ngroups)
			return 0;
		if (cfg->group_family[i] != family)
			continue;
		if (family == LG_ADMIT_AF_INET) {
			if (lg_admit_ld32(dst) == lg_admit_ld32(cfg->groups[i]))
				return 1;
		} else if (lg_admit_ld64(dst) == lg_admit_ld64(cfg->groups[i]) &&
			   lg_admit_ld64(dst + 8) == lg_admit_ld64(cfg->groups[i] + 8)) {
			return 1;
		}
	}
	return 0;
}

/*
 * UDP and the LGF header: the part of lg_admit_parse() after the IP header.
 * in_frame (a constant where inlined): the caller already checked that the
 * UDP header and a whole LGF header lie within the frame.
 */
LG_ADMIT_INLINE int lg_admit_parse_udp(const lg_u8 *l4, const lg_u8 *l4_end, const lg_u8 *end,
				       const struct lg_admit_cfg *cfg, struct lg_admit_pkt *pkt,
				       int in_frame)
{
	const lg_u8 *lgf;
	lg_u16 ulen, dport;

	if (l4 + LG_UDP_HLEN > l4_end || (!in_frame && l4 + LG_UDP_HLEN > end))
		return LG_R_MALFORMED;
	ulen = lg_admit_be16(l4 + 4);
	if (ulen < LG_UDP_HLEN || l4 + ulen > l4_end)
		return LG_R_MALFORMED;
	pkt->src_port = lg_admit_be16(l4);
	dport = lg_admit_be16(l4 + 2);
	pkt->dst_port = dport;
	pkt->payload_len = (lg_u32)ulen - LG_UDP_HLEN;
	lgf = l4 + LG_UDP_HLEN;

	if (cfg->uadp_port && dport == cfg->uadp_port) {
		/*
		 * The device id comes from the identity (caller); UADP's 16-bit
		 * sequences wrap, so the replay pre-check is left to the worker.
		 */
		pkt->kind = LG_ADMIT_KIND_UADP;
		pkt->device_id = 0;
		pkt->sequence = 0;
		return LG_ADMIT_RC_UADP;
	}
	if (dport != cfg->lgf_port)
		return LG_R_NOT_OURS;

	if (pkt->payload_len < LGF_MIN_LEN || pkt->payload_len > LGF_MAX_LEN)
		return LG_R_MALFORMED;
	if (!in_frame && lgf + LGF_HDR_LEN > end)
		return LG_R_MALFORMED;
	/* Magic and version in one load: bytes 0..2 of the little-endian header. */
	if ((lg_admit_le32(lgf) & 0xffffff) !=
	    (LGF_MAGIC0 | (lg_u32)LGF_MAGIC1 << 8 | (lg_u32)LGF_VERSION << 16))
		return LG_R_MALFORMED;
	pkt->kind = LG_ADMIT_KIND_LGF;
	pkt->device_id = lg_admit_le32(lgf + 4);
	pkt->sequence = lg_admit_le64(lgf + 24);
	/* Device ids and sequences start at 1 (lgf.h). */
	if (!pkt->device_id || !pkt->sequence)
		return LG_R_MALFORMED;
	return LG_R_ADMITTED;
}

/*
 * Parse Ethernet, up to two VLAN tags (802.1Q/802.1AD), IPv4 or IPv6, UDP and
 * the LGF header. Returns LG_R_ADMITTED when pkt identifies a device,
 * LG_R_MALFORMED or LG_R_NOT_OURS otherwise, LG_R_FRAGMENT for an IPv4 or
 * IPv6 fragment of UDP (pkt->family and pkt->src_addr set: the caller
 * decides with lg_admit_decide_fragment()), and LG_ADMIT_RC_UADP for a
 * datagram to cfg->uadp_port (lg_admit_parse() goes on with its header).
 * With cfg->groups_only, an IPv4 or IPv6 packet to a multicast address that
 * is not one of cfg->groups is LG_R_NOT_OURS, fragments too
 * (lg_admit_group_ok()).
 *
 * Anything else that could carry our traffic past this parser into the
 * kernel stack is malformed, not "not ours": the IPv6 extension headers
 * lg_admit_ipv6_ext() does not walk or refuses. Every access is checked
 * against data_end itself (not only against a length derived from it) so
 * that the verifier can follow.
 *
 * Multi-buffer frames (XDP frags): [data, data_end) is the first buffer and
 * frame_len the length of the whole frame, all buffers (bpf_xdp_get_buff_len());
 * for a frame in one piece, data_end - data. Headers are read from the first
 * buffer only, so a frame whose headers (up to the LGF header, the UADP
 * identity) do not all lie there is malformed. The IP length fields are
 * judged against frame_len, and only they: the UDP length against the IP
 * packet, the LGF length against its limits, as for any frame. A frame is
 * never malformed for being in several buffers, and an IP packet longer
 * than the frame still is.
 *
 * With frame_len == data_end - data, a result other than LG_R_MALFORMED is
 * also the result for any larger frame_len (only the IP length checks read
 * frame_len, and they passed): the XDP program asks for the frame's length
 * only when the first buffer alone does not parse.
 */
LG_ADMIT_INLINE int lg_admit_parse_frame_len(const void *data, const void *data_end,
					     lg_u32 frame_len, const struct lg_admit_cfg *cfg,
					     struct lg_admit_pkt *pkt)
{
	int rc;

	const lg_u8 *p = data;
	const lg_u8 *end = data_end;
	const lg_u8 *l4, *l4_end;
	lg_u16 proto;
	lg_u32 plen;

	if (p + LG_ETH_HLEN > end)
		return LG_R_MALFORMED;
	/* Wide copies: the MAC as 4 + 2 bytes, an address as 4 or 2 x 8. */
	LG_ADMIT_ST32(pkt->src_mac, lg_admit_ld32(p + 6));
	LG_ADMIT_ST16(pkt->src_mac + 4, lg_admit_ld16(p + 10));
	proto = lg_admit_ld16(p + 12);
	p += LG_ETH_HLEN;
	pkt->vlans = 0;
	LG_ADMIT_ST32(pkt->vid, 0);

	/*
	 * The usual frame, untagged IPv4 without options carrying a whole LGF
	 * header, with one bounds check for every fixed-offset load; the
	 * checks on its length fields are those of the general path below.
	 */
	if (p + 20 + LG_UDP_HLEN + LGF_HDR_LEN <= end && proto == LG_ADMIT_BE16(LG_ETH_P_IP) &&
	    p[0] == 0x45) {
		lg_u32 tot = lg_admit_be16(p + 2);

		if (tot < 20 || LG_ETH_HLEN + tot > frame_len)
			return LG_R_MALFORMED;
		if (!lg_admit_ipv4_csum20_ok(p))
			return LG_R_BAD_CHECKSUM;
		/* 224.0.0.0/4, not a group linegate joined (fragments of it too). */
		if ((p[16] & 0xf0) == 0xe0 && !lg_admit_group_ok(cfg, LG_ADMIT_AF_INET, p + 16))
			return LG_R_NOT_OURS;
		if (lg_admit_ld16(p + 6) & LG_ADMIT_BE16(0x3fff))
			return lg_admit_fragment4(p, pkt);
		if (p[9] != LG_IPPROTO_UDP)
			return LG_R_NOT_OURS;
		pkt->family = LG_ADMIT_AF_INET;
		LG_ADMIT_ST32(pkt->src_addr, lg_admit_ld32(p + 12));
		rc = lg_admit_parse_udp(p + 20, p + tot, end, cfg, pkt, 1);
		if (LG_ADMIT_WANT_OFF(rc))
			pkt->payload_off = (lg_u16)(p + 20 + LG_UDP_HLEN - (const lg_u8 *)data);
		return rc;
	}

	if (lg_admit_is_vlan(proto)) {
		if (p + 4 > end)
			return LG_R_MALFORMED;
		pkt->vid[0] = lg_admit_be16(p) & 0x0fff;
		proto = lg_admit_ld16(p + 2);
		p += 4;
		pkt->vlans = 1;
		if (lg_admit_is_vlan(proto)) {
			if (p + 4 > end)
				return LG_R_MALFORMED;
			pkt->vid[1] = lg_admit_be16(p) & 0x0fff;
			proto = lg_admit_ld16(p + 2);
			p += 4;
			pkt->vlans = 2;
			if (lg_admit_is_vlan(proto))
				return LG_R_MALFORMED;
		}
	}

	if (proto == LG_ADMIT_BE16(LG_ETH_P_IP)) {
		lg_u32 ihl, tot;

		if (p + 20 > end)
			return LG_R_MALFORMED;
		if (p[0] >> 4 != 4)
			return LG_R_MALFORMED;
		ihl = (lg_u32)(p[0] & 0x0f) * 4;
		tot = lg_admit_be16(p + 2);
		if (ihl < 20 || tot < ihl)
			return LG_R_MALFORMED;
		if ((lg_u32)(p - (const lg_u8 *)data) + tot > frame_len)
			return LG_R_MALFORMED;
		rc = lg_admit_ipv4_hdr(p, ihl, end);
		if (rc != LG_R_ADMITTED)
			return rc;
		if ((p[16] & 0xf0) == 0xe0 && !lg_admit_group_ok(cfg, LG_ADMIT_AF_INET, p + 16))
			return LG_R_NOT_OURS;
		/* MF set or a non-zero offset: a fragment. */
		if (lg_admit_ld16(p + 6) & LG_ADMIT_BE16(0x3fff))
			return lg_admit_fragment4(p, pkt);
		if (p[9] != LG_IPPROTO_UDP)
			return LG_R_NOT_OURS;
		pkt->family = LG_ADMIT_AF_INET;
		/* Only addr[0..3] is defined for IPv4; lg_admit_source_ok() reads no more. */
		LG_ADMIT_ST32(pkt->src_addr, lg_admit_ld32(p + 12));
		l4 = p + ihl;
		l4_end = p + tot;
	} else if (proto == LG_ADMIT_BE16(LG_ETH_P_IPV6)) {
		lg_u8 nh;

		if (p + 40 > end)
			return LG_R_MALFORMED;
		if (p[0] >> 4 != 6)
			return LG_R_MALFORMED;
		plen = lg_admit_be16(p + 4);
		nh = p[6];
		if ((lg_u32)(p - (const lg_u8 *)data) + 40 + plen > frame_len)
			return LG_R_MALFORMED;
		/* ff00::/8, not a group linegate joined. */
		if (p[24] == 0xff && !lg_admit_group_ok(cfg, LG_ADMIT_AF_INET6, p + 24))
			return LG_R_NOT_OURS;
		l4 = p + 40;
		l4_end = l4 + plen;
		/* Before the extension headers: a fragment's verdict needs its source. */
		pkt->family = LG_ADMIT_AF_INET6;
		LG_ADMIT_ST64(pkt->src_addr, lg_admit_ld64(p + 8));
		LG_ADMIT_ST64(pkt->src_addr + 8, lg_admit_ld64(p + 16));
		if (nh != LG_IPPROTO_UDP) {
			rc = lg_admit_ipv6_ext(&l4, l4_end, end, nh);
			if (rc != LG_R_ADMITTED)
				return rc;
			/*
			 * A no-op (the offset is below the mask) that gives the
			 * verifier one range for the UDP header's offset after
			 * one to four extension headers, so that it can prune
			 * more of the rest of the program (1 200 fewer
			 * instructions processed).
			 */
			l4 = (const lg_u8 *)data +
			     ((lg_u32)(l4 - (const lg_u8 *)data) & LG_ADMIT_PAYLOAD_OFF_MASK);
		}
	} else {
		return LG_R_NOT_OURS;
	}

	rc = lg_admit_parse_udp(l4, l4_end, end, cfg, pkt, 0);
	if (LG_ADMIT_WANT_OFF(rc))
		pkt->payload_off = (lg_u16)(l4 + LG_UDP_HLEN - (const lg_u8 *)data);
	return rc;
}

/* lg_admit_parse_frame_len() of a frame in one piece. */
LG_ADMIT_INLINE int lg_admit_parse_frame(const void *data, const void *data_end,
					 const struct lg_admit_cfg *cfg, struct lg_admit_pkt *pkt)
{
	return lg_admit_parse_frame_len(
	    data, data_end, (lg_u32)((const lg_u8 *)data_end - (const lg_u8 *)data), cfg, pkt);
}

/*
 * lg_admit_parse_frame_len() and, for a datagram to cfg->uadp_port, the UADP
 * header (from the first buffer, as the rest of the headers): LG_R_ADMITTED
 * when pkt identifies a device (LGF: pkt->device_id; UADP: *ukey, which the
 * caller maps to the device id, pkt->device_id 0), LG_R_MALFORMED or
 * LG_R_NOT_OURS otherwise. The XDP program calls the two parts itself, so
 * that the UADP path (a subprogram there) stays out of the LGF path's code
 * and registers.
 */
LG_ADMIT_INLINE int lg_admit_parse_len(const void *data, const void *data_end, lg_u32 frame_len,
				       const struct lg_admit_cfg *cfg, struct lg_admit_pkt *pkt,
				       struct lg_admit_uadp_key *ukey)
{
	int rc = lg_admit_parse_frame_len(data, data_end, frame_len, cfg, pkt);

	if (rc != LG_ADMIT_RC_UADP)
		return rc;
	/* The mask tells the verifier the bound that holds anyway (LG_ADMIT_PAYLOAD_OFF_MASK). */
	return lg_admit_parse_uadp((const lg_u8 *)data +
				       (pkt->payload_off & LG_ADMIT_PAYLOAD_OFF_MASK),
				   (const lg_u8 *)data_end, pkt->payload_len, pkt->family,
				   pkt->src_addr, ukey);
}

/* lg_admit_parse_len() of a frame in one piece. */
LG_ADMIT_INLINE int lg_admit_parse(const void *data, const void *data_end,
				   const struct lg_admit_cfg *cfg, struct lg_admit_pkt *pkt,
				   struct lg_admit_uadp_key *ukey)
{
	return lg_admit_parse_len(data, data_end,
				  (lg_u32)((const lg_u8 *)data_end - (const lg_u8 *)data), cfg, pkt,
				  ukey);
}

/* The home of a source address in lg_admit_table.srcs: IPv4 reads addr[0..3] only. */
LG_ADMIT_INLINE lg_u32 lg_admit_src_hash(lg_u8 family, const lg_u8 *addr, lg_u32 seed)
{
	lg_u32 h = lg_admit_ld32(addr);

	if (family != LG_ADMIT_AF_INET)
		h ^= lg_admit_ld32(addr + 4) ^ lg_admit_ld32(addr + 8) ^ lg_admit_ld32(addr + 12);
	/* Another seed than the ids' index: the two indexes probe independently. */
	return lg_admit_hash(h ^ family, seed ^ 0x5bd1e995u);
}

/* Is (family, addr) the bound source of dev? */
LG_ADMIT_INLINE int lg_admit_src_eq(const struct lg_admit_dev *dev, lg_u8 family,
				    const lg_u8 *addr)
{
	if (dev->family != family)
		return 0;
	if (family == LG_ADMIT_AF_INET)
		return lg_admit_ld32(addr) == lg_admit_ld32(dev->addr);
	return lg_admit_ld64(addr) == lg_admit_ld64(dev->addr) &&
	       lg_admit_ld64(addr + 8) == lg_admit_ld64(dev->addr + 8);
}

/*
 * Is the frame's source address (pkt->family, pkt->src_addr) bound to a
 * device of this table? As lg_admit_table_find(): at most
 * LG_ADMIT_MAX_PROBES loads and compares.
 */
LG_ADMIT_INLINE int lg_admit_table_source_bound(const struct lg_admit_table *t,
						const struct lg_admit_pkt *pkt)
{
	lg_u32 h = lg_admit_src_hash(pkt->family, pkt->src_addr, t->seed), pos, at;
	int i;

	for (i = 0; i < LG_ADMIT_MAX_PROBES; i++) {
		pos = (h + (lg_u32)i) & (LG_ADMIT_INDEX_SLOTS - 1);
		at = t->srcs[pos];
		if (!at)
			return 0;
		if (lg_admit_src_eq(&t->devs[(at - 1) & (LG_ADMIT_INDEX_SLOTS - 1)], pkt->family,
				    pkt->src_addr))
			return 1;
	}
	return 0;
}

#ifndef __BPF__
/*
 * Insert id (not 0) into a table being built, and its bound source into the
 * source index unless a device of the table has it already. Returns 0, -1
 * when id is already there, -2 when no position within LG_ADMIT_MAX_PROBES
 * of its home (in either index) is free (rebuild with another seed); the
 * table is unchanged unless 0.
 */
static inline int lg_admit_table_insert(struct lg_admit_table *t, lg_u32 id,
					const struct lg_admit_dev *dev)
{
	lg_u32 h = lg_admit_hash(id, t->seed), pos = 0, spos = 0, sh, at;
	int i, found = 0, src = -1;

	for (i = 0; i < LG_ADMIT_MAX_PROBES && !found; i++) {
		pos = (h + (lg_u32)i) & (LG_ADMIT_INDEX_SLOTS - 1);
		if (t->ids[pos] == id)
			return -1;
		found = !t->ids[pos];
	}
	if (!found)
		return -2;
	sh = lg_admit_src_hash(dev->family, dev->addr, t->seed);
	for (i = 0; i < LG_ADMIT_MAX_PROBES && src < 0; i++) {
		spos = (sh + (lg_u32)i) & (LG_ADMIT_INDEX_SLOTS - 1);
		at = t->srcs[spos];
		if (!at)
			src = 1; /* a new address: index it here */
		else if (lg_admit_src_eq(&t->devs[at - 1], dev->family, dev->addr))
			src = 0; /* indexed already */
	}
	if (src < 0)
		return -2;
	t->ids[pos] = id;
	t->devs[pos] = *dev;
	if (src)
		t->srcs[spos] = (lg_u16)(pos + 1);
	t->count++;
	return 0;
}
#endif

/* Does the frame come from where the device is bound? */
LG_ADMIT_INLINE int lg_admit_source_ok(const struct lg_admit_pkt *pkt,
				       const struct lg_admit_dev *dev)
{
	if (!(dev->flags & LG_ADMIT_DEV_ANY_MAC) &&
	    (lg_admit_ld32(pkt->src_mac) != lg_admit_ld32(dev->mac) ||
	     lg_admit_ld16(pkt->src_mac + 4) != lg_admit_ld16(dev->mac + 4)))
		return 0;
	if (pkt->family != dev->family)
		return 0;
	if (dev->family == LG_ADMIT_AF_INET) {
		if (lg_admit_ld32(pkt->src_addr) != lg_admit_ld32(dev->addr))
			return 0;
	} else if (lg_admit_ld64(pkt->src_addr) != lg_admit_ld64(dev->addr) ||
		   lg_admit_ld64(pkt->src_addr + 8) != lg_admit_ld64(dev->addr + 8)) {
		return 0;
	}
	if (dev->src_port && dev->src_port != pkt->src_port)
		return 0;
	return 1;
}

/*
 * The refill gate: admit a frame without reading the clock where the clock could only
 * confirm the admission. 1: admitted (a device without a rate, or the gate took a frame);
 * 0: the bucket needs the clock, call lg_admit_bucket_ok().
 *
 * The gate is open while the tick equals the one of the last clocked refill (st->jiffy) and
 * the bucket, as last refilled, holds a frame: the frame is taken and the refill deferred to
 * the next clocked one, which adds the whole time since last_ns. Deferring a refill never
 * loses tokens, but the burst cap is then applied at the clocked refills only, not in
 * between: the bucket is at most the tokens of one tick more permissive than the exact
 * (rate, burst) bucket. In any interval of T seconds a device gets at most
 * burst + rate * (T + tick) frames (the exact bucket: burst + rate * T), where the tick is
 * 1/HZ plus however late jiffies runs behind ktime; and every sequence of frames the exact
 * bucket admits whole is admitted whole (its level is never below the exact one's while
 * both admitted the same frames). A bucket below one frame always reads the clock, so the
 * gate never drops. docs/admission.md, "Token bucket", has the argument.
 */
LG_ADMIT_INLINE int lg_admit_bucket_take_gated(struct lg_admit_state *st,
					       const struct lg_admit_dev *dev, lg_u64 jiffy)
{
	lg_u64 tokens = st->tokens;

	if (!dev->rate)
		return 1;
	/* tokens <= cap: a burst that shrank with a new generation is clamped by a refill. */
	if (jiffy && jiffy == st->jiffy && tokens >= LG_ADMIT_TOKEN_SCALE &&
	    tokens <= (lg_u64)dev->burst * LG_ADMIT_TOKEN_SCALE) {
		st->tokens = tokens - LG_ADMIT_TOKEN_SCALE;
		return 1;
	}
	return 0;
}

/*
 * The clocked refill: refill the bucket up to now_ns, note the tick for the gate, and take
 * one frame's worth if there is one. Refill is lazy; min(cap, t + a + b) equals two
 * successive capped refills, so when it happens does not change the result. now_ns is
 * only read for devices with a rate, so callers may skip the clock otherwise.
 */
LG_ADMIT_INLINE int lg_admit_bucket_ok(struct lg_admit_state *st, const struct lg_admit_dev *dev,
				       lg_u64 now_ns, lg_u64 jiffy)
{
	lg_u64 cap = (lg_u64)dev->burst * LG_ADMIT_TOKEN_SCALE;
	lg_u64 elapsed, add, tokens = st->tokens;

	if (!dev->rate)
		return 1;
	st->jiffy = jiffy;
	if (tokens > cap)
		tokens = cap; /* the burst shrank with a new generation */
	if (!st->last_ns) {
		tokens = cap;
		st->last_ns = now_ns;
	} else if (now_ns > st->last_ns) {
		elapsed = now_ns - st->last_ns;
		/*
		 * Below 2^32 ns (4.3 s) elapsed * rate fits in 64 bits; only
		 * longer gaps pay for a division to rule out an overflow.
		 */
		if (!(elapsed >> 32) || elapsed <= cap / dev->rate)
			add = elapsed * dev->rate;
		else
			add = cap;
		tokens = add >= cap - tokens ? cap : tokens + add;
		st->last_ns = now_ns;
	}
	if (tokens < LG_ADMIT_TOKEN_SCALE) {
		st->tokens = tokens;
		return 0;
	}
	st->tokens = tokens - LG_ADMIT_TOKEN_SCALE;
	return 1;
}

/*
 * The one VLAN rule (policy 'vlans', docs/admission.md "VLANs"): a frame of ours without
 * tags passes; one with tags only when every tag's id is listed in cfg->vlan_ids. Every
 * path judges by it: XDP, user-space admission (DPDK, pcap), the tests' model. The uring
 * backend's loader lists only the ids a VLAN interface of the kernel delivers to its
 * socket (dataplane/generation.c), so that what XDP admits, the socket receives.
 */
LG_ADMIT_INLINE int lg_admit_vlan_ok(const struct lg_admit_cfg *cfg, const struct lg_admit_pkt *pkt)
{
	lg_u16 v0 = pkt->vid[0] & (LG_ADMIT_VLAN_IDS - 1), v1 = pkt->vid[1] & (LG_ADMIT_VLAN_IDS - 1);

	if (!pkt->vlans)
		return 1;
	if (!(cfg->vlan_ids[v0 >> 3] >> (v0 & 7) & 1))
		return 0;
	return pkt->vlans < 2 || (cfg->vlan_ids[v1 >> 3] >> (v1 & 7) & 1);
}

/*
 * The verdict for an IP fragment of UDP (parse result LG_R_FRAGMENT). With
 * cfg->fragments reassemble and a live generation, a fragment whose source
 * address is bound to one of its devices (source_bound, from
 * lg_admit_table_source_bound()) goes to the kernel, which reassembles the
 * datagram for linegate's UDP socket, where a worker verifies it whole:
 * LG_R_FRAGMENT_PASSED, pass (to the stack, never to an XSK). Everything
 * else, and every fragment for a caller that cannot hand it to a
 * reassembler (source_bound 0), is dropped as LG_R_FRAGMENT. The token
 * bucket is not charged: a fragment names no device, the datagram is
 * counted once whole, by the worker.
 */
LG_ADMIT_INLINE void lg_admit_decide_fragment(const struct lg_admit_cfg *cfg,
					      const struct lg_admit_pkt *pkt, int source_bound,
					      struct lg_admit_verdict *v)
{
	v->audited = 0;
	v->pad = 0;
	if (!lg_admit_vlan_ok(cfg, pkt)) {
		v->pass = 0;
		v->reason = LG_R_VLAN;
		return;
	}
	v->pass = source_bound && cfg->generation &&
		  cfg->fragments == LG_ADMIT_FRAGMENTS_REASSEMBLE;
	v->reason = v->pass ? LG_R_FRAGMENT_PASSED : LG_R_FRAGMENT;
}

/* The verdict for a frame that got as far as the per-device checks; r its reason. */
LG_ADMIT_INLINE void lg_admit_verdict_dev(const struct lg_admit_dev *dev, int r,
					  struct lg_admit_verdict *v)
{
	if (r == LG_R_ADMITTED) {
		v->reason = LG_R_ADMITTED;
		v->pass = 1;
	} else if (dev->flags & LG_ADMIT_DEV_AUDIT) {
		v->reason = LG_R_AUDIT;
		v->audited = (lg_u8)r;
		v->pass = 1;
	} else {
		v->reason = (lg_u8)r;
	}
}

/*
 * The admission decision without the clock. parse_rc and pkt come from lg_admit_parse();
 * dev is the live table's entry for pkt->device_id or NULL; st is the device's runtime
 * state or NULL when it could not be had; cfg is the live generation's configuration
 * (generation 0: none); jiffy the current tick (LG_ADMIT_JIFFY_NS above). Only st is
 * written. Returns 0 with the verdict in v, or 1 when the token bucket needs the clock:
 * the caller then reads it and calls lg_admit_decide_clocked(), which finishes v.
 *
 * Order matters: spoofed and replayed frames are refused before the bucket,
 * so that an attacker cannot drain an enrolled device's tokens.
 */
LG_ADMIT_INLINE int lg_admit_decide_gated(int parse_rc, const struct lg_admit_pkt *pkt,
					  const struct lg_admit_dev *dev, struct lg_admit_state *st,
					  const struct lg_admit_cfg *cfg, lg_u64 jiffy,
					  struct lg_admit_verdict *v)
{
	int r = LG_R_ADMITTED;

	v->pass = 0;
	v->audited = 0;
	v->pad = 0;
	if (parse_rc == LG_R_NOT_OURS) {
		v->reason = LG_R_NOT_OURS;
		v->pass = cfg->not_ours == LG_ADMIT_NOT_OURS_PASS;
		return 0;
	}
	if (parse_rc == LG_R_FRAGMENT) {
		/* Callers that can pass fragments to a reassembler call lg_admit_decide_fragment(). */
		lg_admit_decide_fragment(cfg, pkt, 0, v);
		return 0;
	}
	if (parse_rc != LG_R_ADMITTED) {
		v->reason = parse_rc == LG_R_BAD_CHECKSUM ? LG_R_BAD_CHECKSUM : LG_R_MALFORMED;
		return 0;
	}
	if (!cfg->generation) {
		v->reason = LG_R_NO_TABLE;
		return 0;
	}
	if (!lg_admit_vlan_ok(cfg, pkt)) {
		v->reason = LG_R_VLAN;
		return 0;
	}
	if (!dev) {
		v->reason = LG_R_UNKNOWN_DEVICE;
		return 0;
	}
	if (!st) {
		v->reason = LG_R_STATE_FULL;
		return 0;
	}

	if (!lg_admit_source_ok(pkt, dev))
		r = LG_R_SPOOFED_SOURCE;
	else if (pkt->sequence && st->highest_seq >= cfg->replay_window &&
		 pkt->sequence <= st->highest_seq - cfg->replay_window)
		r = LG_R_REPLAYED;
	else if (!lg_admit_bucket_take_gated(st, dev, jiffy))
		return 1;
	lg_admit_verdict_dev(dev, r, v);
	return 0;
}

/* The rest of a decision lg_admit_decide_gated() left to the clock: the clocked refill. */
LG_ADMIT_INLINE void lg_admit_decide_clocked(const struct lg_admit_dev *dev,
					     struct lg_admit_state *st, lg_u64 now_ns,
					     lg_u64 jiffy, struct lg_admit_verdict *v)
{
	lg_admit_verdict_dev(dev, lg_admit_bucket_ok(st, dev, now_ns, jiffy) ? LG_R_ADMITTED
										: LG_R_RATE_LIMITED,
			     v);
}

/* The whole decision, for callers that have read the clock anyway (user space). */
LG_ADMIT_INLINE void lg_admit_decide(int parse_rc, const struct lg_admit_pkt *pkt,
				     const struct lg_admit_dev *dev, struct lg_admit_state *st,
				     const struct lg_admit_cfg *cfg, lg_u64 now_ns, lg_u64 jiffy,
				     struct lg_admit_verdict *v)
{
	if (lg_admit_decide_gated(parse_rc, pkt, dev, st, cfg, jiffy, v))
		lg_admit_decide_clocked(dev, st, now_ns, jiffy, v);
}

#ifndef __BPF__
/*
 * A UADP identity must be in the form the parser builds (zero-filled, a String's bytes only
 * up to its length): any other would never match. 0 or -22 (EINVAL).
 */
static inline int lg_admit_uadp_key_check(const struct lg_admit_uadp_key *k)
{
	static const lg_u8 zero[LG_ADMIT_UADP_STR_MAX];

	if (k->pub_type > LG_ADMIT_UADP_PUBID_NONE || (k->flags & ~LG_ADMIT_UADP_KEY_POSITION))
		return -22;
	if (k->pub_type == LG_ADMIT_UADP_PUBID_NONE)
		return k->pub_num || k->pub_str_len != 16 ||
			       __builtin_memcmp(k->pub_str + 16, zero, LG_ADMIT_UADP_STR_MAX - 16)
			   ? -22
			   : 0;
	if (k->pub_type != LG_ADMIT_UADP_PUBID_STRING)
		return k->pub_str_len || __builtin_memcmp(k->pub_str, zero, sizeof(zero)) ? -22 : 0;
	if (k->pub_num || k->pub_str_len > LG_ADMIT_UADP_STR_MAX ||
	    __builtin_memcmp(k->pub_str + k->pub_str_len, zero,
			     LG_ADMIT_UADP_STR_MAX - k->pub_str_len))
		return -22;
	return 0;
}

/* An entry both admission paths (XDP's loader, user-space admission) accept: 0 or -22. */
static inline int lg_admit_entry_check(const struct lg_admit_entry *e)
{
	if (!e->device_id)
		return -22;
	if (e->dev.family != LG_ADMIT_AF_INET && e->dev.family != LG_ADMIT_AF_INET6)
		return -22;
	if (e->dev.rate && !e->dev.burst)
		return -22;
	if (e->has_uadp > 1 || (e->has_uadp && lg_admit_uadp_key_check(&e->uadp)))
		return -22;
	return 0;
}

/* Order of UADP identities, for sorted tables and bsearch: their bytes. */
static inline int lg_admit_uadp_key_cmp(const void *x, const void *y)
{
	return __builtin_memcmp(x, y, sizeof(struct lg_admit_uadp_key));
}
#endif

#endif /* LINEGATE_ADMIT_H */
