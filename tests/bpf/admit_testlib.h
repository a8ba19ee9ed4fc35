/* SPDX-License-Identifier: MIT */
/*
 * Shared admission test cases. Every scenario runs against a "target": the
 * XDP program through BPF_PROG_RUN, or the user-space build of the same
 * parser and decision (the model). Both must meet the same expectations,
 * frame by frame and counter by counter, and their per-frame logs must be
 * identical.
 */
#ifndef LG_ADMIT_TESTLIB_H
#define LG_ADMIT_TESTLIB_H

#include <stddef.h>
#include <stdio.h>

#include <linegate/admit.h>

/* XDP actions, without pulling linux/bpf.h into the model. */
#define LGT_XDP_DROP 1
#define LGT_XDP_PASS 2

/* A jumbo frame: LGF_MAX_LEN of UDP payload behind Ethernet, two VLAN tags and IPv6. */
#define LGT_FRAME_MAX 9216
/*
 * The first buffer BPF_PROG_RUN gives a multi-buffer frame at most (a page
 * less XDP's headroom and struct skb_shared_info, x86-64): longer frames go
 * on in page-sized fragments.
 */
#define LGT_MB_LINEAR_MAX 3520
#define LGT_EXT_MAX 6

/* A frame description; lgt_build() turns it into bytes. */
struct lgt_pkt {
	lg_u8 dst_mac[6];
	lg_u8 src_mac[6];
	int vlans;	  /* tags to push, 0..3 */
	lg_u16 tpid[3];	  /* outermost first */
	lg_u16 vid[3];	  /* the tags' VLAN ids; 0: 100 + position (CFG lists 100 and 101) */
	lg_u16 ethertype; /* 0x0800, 0x86dd, or anything else for a bare payload */
	lg_u8 src_ip[16];
	lg_u8 dst_ip[16];
	lg_u8 ip_proto;	   /* IPv4 protocol / IPv6 next header */
	lg_u8 ip_version;  /* 0: the right one for ethertype */
	lg_u8 ihl;	   /* IPv4 header words; 0: 5. Options are NOPs */
	lg_u8 bad_csum;	   /* IPv4: the header checksum's low bit flipped */
	lg_u8 opt_type;	   /* IPv4 with ihl > 5: a 4-byte option of this type first (0: NOPs) */
	lg_u16 frag;	   /* IPv4 flags + fragment offset field */
	int ip_len_delta;  /* added to the IPv4 total / IPv6 payload length field */
	int udp_len_delta; /* added to the UDP length field */
	lg_u16 sport, dport;
	lg_u8 magic0, magic1, version;
	lg_u32 device_id;
	lg_u64 seq;
	lg_u32 lgf_len;	  /* UDP payload length */
	lg_u32 eth_pad;	  /* bytes after the IP packet (Ethernet padding) */
	const lg_u8 *raw; /* not NULL: the UDP payload (lgf_len bytes) instead of an LGF header */
	/*
	 * IPv6 extension headers between the fixed header and UDP, in order;
	 * ip_proto stays the protocol after the last one. Each is ext_type[i]
	 * with ext_hlen[i] in its length field (8-octet units after the first
	 * 8; AH: 4-octet units minus 2; a Fragment header is 8 bytes, offset
	 * 0, no more fragments) and zeros (Pad1 options) after it.
	 */
	int next;
	lg_u8 ext_type[LGT_EXT_MAX];
	lg_u8 ext_hlen[LGT_EXT_MAX];
};

/* The length in bytes of an extension header as lgt_build() writes it. */
size_t lgt_ext_size(lg_u8 type, lg_u8 hlen);

/* Build; returns the frame length or 0 if cap is too small. */
size_t lgt_build(const struct lgt_pkt *p, lg_u8 *buf, size_t cap);
/* A valid LGF frame from the device's bound source with this id and sequence. */
void lgt_pkt_from(struct lgt_pkt *p, const struct lg_admit_entry *e, lg_u32 id, lg_u64 seq);

/*
 * A UADP frame (to port 4840) from e's bound source, carrying a NetworkMessage
 * of e's identity (e->uadp); 0 if cap is too small.
 */
size_t lgt_build_uadp(const struct lg_admit_entry *e, lg_u8 *buf, size_t cap);

/* What a target reports for one frame. */
struct lgt_result {
	int action;  /* LGT_XDP_* */
	int reason;  /* the one reason counter that moved */
	int audited; /* with LG_R_AUDIT: the audited reason, else 0 */
};

struct lgt_target {
	const char *name;
	void *ctx;
	/* New target state for a scenario; default_not_ours is the load-time default. */
	int (*reset)(struct lgt_target *t, lg_u8 default_not_ours);
	int (*apply)(struct lgt_target *t, const struct lg_admit_cfg *cfg,
		     const struct lg_admit_entry *devs, size_t n);
	int (*export_seq)(struct lgt_target *t, lg_u32 id, lg_u64 seq);
	/* Tests only: id loses its runtime state to junk_id, which fills the freed slot. */
	int (*steal_state)(struct lgt_target *t, lg_u32 id, lg_u32 junk_id);
	void (*set_clock)(struct lgt_target *t, lg_u64 now_ns);
	int (*run)(struct lgt_target *t, const lg_u8 *frame, lg_u32 len, struct lgt_result *res);
	int (*reasons)(struct lgt_target *t, struct lg_admit_reason_ctr *out);
	int (*device)(struct lgt_target *t, lg_u32 id, struct lg_admit_dev_ctr *out);
	/* The smallest frame the target can be given (XDP test_run wants an Ethernet header). */
	lg_u32 min_len;
	/*
	 * Optional: run a frame as XDP sees a multi-buffer frame, its first
	 * buffer linear bytes (linear < len, at most LGT_MB_LINEAR_MAX), the rest
	 * in further buffers. Targets that only see frames whole leave it NULL.
	 */
	int (*run_split)(struct lgt_target *t, const lg_u8 *frame, lg_u32 len, lg_u32 linear,
			 struct lgt_result *res);
	/*
	 * 1: the target has no stack to hand fragments to (user-space admission for
	 * whole-frame backends): what XDP passes as fragment_passed it drops as fragment.
	 */
	int no_reassembly;
};

/* One entry per frame run, to compare targets. */
struct lgt_log_entry {
	const char *scenario;
	char what[64];
	struct lgt_result r;
};

struct lgt_log {
	size_t n, cap;
	struct lgt_log_entry *e;
};

/* The model target: user-space build of lg_admit_parse() + lg_admit_decide(). */
int lgt_model_init(struct lgt_target *t);
void lgt_model_fini(struct lgt_target *t);

/* Run all scenarios on t; appends to log. Returns the number of failed checks. */
int lgt_run_all(struct lgt_target *t, struct lgt_log *log);
/* lgt_run_multibuf() flags */
#define LGT_MB_ANY_SPLIT 0x1 /* the target's first buffer can end anywhere, not only at the max */
/*
 * The multi-buffer scenarios (t->run_split): jumbo frames split after the
 * headers, inside them, at LGT_MB_LINEAR_MAX; every verdict and counter.
 * Without LGT_MB_ANY_SPLIT only splits at LGT_MB_LINEAR_MAX are run (kernels
 * before ctx data_end could set the first buffer's length under
 * BPF_PROG_RUN). Returns the number of failed checks.
 */
int lgt_run_multibuf(struct lgt_target *t, struct lgt_log *log, unsigned flags);
/* Compare two logs entry by entry; returns the number of differences. */
int lgt_log_compare(const struct lgt_log *a, const char *an, const struct lgt_log *b,
		    const char *bn);
void lgt_log_free(struct lgt_log *log);

#endif /* LG_ADMIT_TESTLIB_H */
