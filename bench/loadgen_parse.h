/* SPDX-License-Identifier: MIT */
/*
 * The load generator's parsers (bench/loadgen.c): its --fault and --attack-rate arguments,
 * and the JSON lines of linegate it reads back for --alerts. Apart, so that a fuzz harness
 * (bench/fuzz_loadgen.c) can reach them. Errors are negative errno.
 */
#ifndef LG_LOADGEN_PARSE_H
#define LG_LOADGEN_PARSE_H

#include <linegate/signal.h>

#include <stddef.h>
#include <stdint.h>

/* One --fault ID[:FRAME[:KIND[:SEVERITY]]]. The caller sets frame, kind and severity to
 * their defaults first; what the text gives replaces them. ID is above 0, SEVERITY 0..1. */
struct lg_loadgen_fault {
	uint32_t id;
	uint64_t frame;
	enum lg_fault kind;
	double severity;
};

int lg_loadgen_parse_fault(const char *s, struct lg_loadgen_fault *f);

/* One --attack-rate KIND=FPS: *kind is the index of KIND in kinds[0..nkinds) (NULL entries
 * are skipped), FPS 0..1e9. */
int lg_loadgen_parse_attack_rate(const char *s, const char *const *kinds, int nkinds,
				 int *kind, double *fps);

/* "2026-12-05T00:03:15.475Z" (UTC, any number of fraction digits) -> ns since the epoch */
int lg_loadgen_parse_utc_ns(const char *s, uint64_t *ns);

/*
 * One JSON line of linegate's output. 1 for an incident's open event (its device, its
 * "opened" time and its id, cut to idlen - 1 bytes), 0 for any other line (or one still
 * being written), never anything else.
 */
int lg_loadgen_incident_open(const char *line, size_t len, uint64_t *device, uint64_t *opened_ns,
			     char *id, size_t idlen);

/* --tx: how the frames leave. sendmmsg (UDP sockets), afxdp:IFNAME[:QUEUE] (raw Ethernet
 * frames through an AF_XDP socket on IFNAME, queue QUEUE and the next ones, one per thread)
 * or dpdk:OPTIONS (raw Ethernet frames through a DPDK port, OPTIONS as linegate's --backend
 * dpdk: takes them, 1..1023 bytes, not parsed here). */
enum lg_loadgen_tx_kind { LG_LOADGEN_TX_SENDMMSG, LG_LOADGEN_TX_AFXDP, LG_LOADGEN_TX_DPDK };

struct lg_loadgen_tx {
	enum lg_loadgen_tx_kind kind;
	char ifname[16]; /* IFNAMSIZ: 1..15 bytes, as the kernel names interfaces */
	uint32_t queue;  /* 0..65535 */
	char opts[1024]; /* dpdk: OPTIONS */
};

int lg_loadgen_parse_tx(const char *s, struct lg_loadgen_tx *tx);

/* "02:00:5e:10:00:01" (six hexadecimal bytes, ':' or '-' between them) */
int lg_loadgen_parse_mac(const char *s, uint8_t mac[6]);

/*
 * "256" or "128,256,512": up to max unsigned values, each min..maxv, comma-separated (device i
 * of the simulated ones takes value i % count). Returns the count, or -EINVAL.
 */
int lg_loadgen_parse_list(const char *s, unsigned min, unsigned maxv, unsigned *vals,
			  unsigned max);

/*
 * --first-seq: a sequence number 1 .. 2^64 - 1 (decimal, or hexadecimal after 0x). 0 (LGF
 * sequences start at 1), a sign, spaces, trailing text: -EINVAL; past 2^64 - 1: -ERANGE.
 */
int lg_loadgen_parse_seq(const char *s, uint64_t *out);

/*
 * The device id of the k-th unknown-device frame: from the top of the id range, 0xfff00000
 * .. 0xffffffff, which policies leave free (the load generator refuses a policy that enrolls
 * one there), so never an enrolled id and never 0 (a malformed frame); they repeat after
 * 2^20 frames.
 */
#define LG_LOADGEN_UNKNOWN_ID_BASE 0xfff00000u
static inline uint32_t lg_loadgen_unknown_id(uint64_t k)
{
	return LG_LOADGEN_UNKNOWN_ID_BASE + (uint32_t)(k & 0xfffffu);
}

#endif
