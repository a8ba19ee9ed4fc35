/* SPDX-License-Identifier: MIT */
/*
 * The load generator's DPDK transmitter (bench/loadgen.c --tx dpdk:OPTIONS): EAL, one ethdev
 * port, one TX queue per sender thread, frames in mbufs from one pool, sent with
 * rte_eth_tx_burst(). The same shape as the AF_XDP transmitter (loadgen_xsk.h): the caller
 * reserves buffers, writes whole Ethernet frames into them and submits them. A frame the
 * driver does not take within a second of retries, and each the port counts as an output
 * error, is refused. Built only with DPDK (meson option dpdk); elsewhere every call says
 * -EOPNOTSUPP. Errors are negative errno.
 */
#ifndef LG_LOADGEN_DPDK_H
#define LG_LOADGEN_DPDK_H

#include <stddef.h>
#include <stdint.h>

struct lg_dpdk_port;
struct lg_dpdk_tx;

/* Whether this build has DPDK TX. */
extern const int lg_dpdk_tx_built;

/*
 * OPTIONS as linegate's --backend dpdk: takes them (docs/operations.md "DPDK backend"),
 * comma separated, ';' standing for DPDK's own ',' in a value: port=N, vdev=SPEC, pci=BDF,
 * nohuge, mem=MB, lcores=LIST, mbufs=N (default 4095), txd=N (default 1024), log=LEVEL,
 * eal='ARGS'. Starts EAL (keeping this process's CPU mask) and port with nqueues TX queues
 * (and as many RX queues, which some PMDs need and nothing polls). Its MAC and MTU in
 * mac and *mtu. On failure err says why.
 */
int lg_dpdk_port_open(struct lg_dpdk_port **out, const char *opts, unsigned nqueues, uint8_t mac[6],
		      unsigned *mtu, char *err, size_t errlen);

/* Frames the port counted as output errors (rte_eth_stats oerrors) since it started. */
uint64_t lg_dpdk_port_oerrors(struct lg_dpdk_port *p);

/* Stops the port and EAL. Accepts NULL. */
void lg_dpdk_port_close(struct lg_dpdk_port *p);

/* TX queue `queue` of the port, for one thread. */
int lg_dpdk_tx_open(struct lg_dpdk_tx **out, struct lg_dpdk_port *p, uint16_t queue);

/* Room of one buffer: the longest frame that can be submitted. */
unsigned lg_dpdk_tx_room(const struct lg_dpdk_tx *t);

/* Up to n buffers (waits up to a second for the pool, then -ENOBUFS), their data in bufs[]. */
int lg_dpdk_tx_reserve(struct lg_dpdk_tx *t, unsigned n, uint8_t **bufs);

/* The n buffers just reserved, lens[i] bytes each, to rte_eth_tx_burst() until the driver
 * took them all, or a second passed without it taking one (the rest: refused). */
int lg_dpdk_tx_submit(struct lg_dpdk_tx *t, unsigned n, const uint32_t *lens);

/* Gives the buffers just reserved back unused. */
void lg_dpdk_tx_cancel(struct lg_dpdk_tx *t);

struct lg_dpdk_tx_stats {
	uint64_t submitted; /* frames handed to rte_eth_tx_burst() */
	uint64_t sent;	    /* frames the driver took */
	uint64_t refused;   /* frames it did not take */
};

void lg_dpdk_tx_stats(const struct lg_dpdk_tx *t, struct lg_dpdk_tx_stats *st);

/* Accepts NULL. */
void lg_dpdk_tx_close(struct lg_dpdk_tx *t);

#endif
