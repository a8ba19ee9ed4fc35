/* SPDX-License-Identifier: MIT */
/*
 * The load generator's AF_XDP transmitter (bench/loadgen.c --tx afxdp): one AF_XDP socket on
 * one queue of an interface, TX only, with its own UMEM. The caller reserves UMEM frames,
 * writes whole Ethernet frames into them and submits them; completions are reclaimed as
 * frames are reserved. Every frame submitted ends up completed or refused (the kernel's
 * invalid descriptors, or frames the kernel never completed within the drain's wait).
 * Errors are negative errno.
 */
#ifndef LG_LOADGEN_XSK_H
#define LG_LOADGEN_XSK_H

#include <stdbool.h>
#include <stdint.h>

struct lg_xsk_tx;

/* Room of one UMEM frame: the longest frame that can be submitted. */
#define LG_XSK_TX_ROOM 4096u

/* Opens an AF_XDP socket on ifname's queue for TX, need_wakeup where the kernel takes it,
 * zero-copy where the driver has it (copy mode otherwise, as on a veth). No XDP program is
 * loaded: nothing is received. */
int lg_xsk_tx_open(struct lg_xsk_tx **out, const char *ifname, uint32_t queue);

/*
 * Up to n free UMEM frames (at least one: waits, kicking the kernel, until completions free
 * one, at most a second, then -ETIMEDOUT), their data in bufs[]. Returns how many, each
 * LG_XSK_TX_ROOM bytes long; every one must be given back by lg_xsk_tx_submit().
 */
int lg_xsk_tx_reserve(struct lg_xsk_tx *t, unsigned n, uint8_t **bufs);

/* The n frames just reserved, lens[i] bytes each, onto the TX ring, and a kick. */
int lg_xsk_tx_submit(struct lg_xsk_tx *t, unsigned n, const uint32_t *lens);

/* Gives the frames just reserved back unused. */
void lg_xsk_tx_cancel(struct lg_xsk_tx *t);

/* Waits (at most timeout_ns) until the kernel has completed or refused every frame. */
int lg_xsk_tx_drain(struct lg_xsk_tx *t, uint64_t timeout_ns);

struct lg_xsk_tx_stats {
	uint64_t submitted; /* frames put on the TX ring */
	uint64_t completed; /* frames the kernel sent (completed, less the driver's drops) */
	uint64_t refused;   /* the kernel's invalid TX descriptors (XDP_STATISTICS) and the
			     * frames the driver dropped (sendto() said EBUSY) */
	uint64_t pending;   /* none of these yet: after a drain that timed out, lost */
	bool zerocopy, need_wakeup;
};

void lg_xsk_tx_stats(struct lg_xsk_tx *t, struct lg_xsk_tx_stats *st);

/* Accepts NULL. */
void lg_xsk_tx_close(struct lg_xsk_tx *t);

#endif
