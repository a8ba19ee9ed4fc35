/* SPDX-License-Identifier: MIT */
/*
 * Packet backends: where a worker's frames come from. A worker knows only this
 * interface, so afxdp, uring, dpdk and replay backends are interchangeable.
 *
 * rx_burst() fills up to max packet views that point into backend-owned
 * buffers; the worker hands every one of them back with release() once it has
 * finished with the bytes (no copies in between).
 */
#ifndef LINEGATE_BACKEND_H
#define LINEGATE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

struct lg_rx_pkt {
	const uint8_t *data;
	uint32_t len;
	uint32_t buf_id;    /* backend's handle for release() */
	uint16_t src_port;  /* host order */
	uint8_t family;     /* AF_INET or AF_INET6 */
	uint8_t truncated;  /* the datagram did not fit the buffer */
	uint8_t port_idx;   /* 0: it came to conf.port (LGF), 1: to conf.port2 (UADP) */
	uint8_t src_addr[16]; /* network order */
	uint64_t rx_ns;     /* CLOCK_MONOTONIC when the worker took it */
};

struct lg_backend_conf {
	uint16_t port;      /* UDP port to receive on */
	uint16_t port2;     /* a second port (UADP), 0 = none */
	const char *bind_addr; /* NULL = any */
	unsigned queue;     /* worker index */
	unsigned nbufs;     /* receive buffers, a power of two */
	unsigned buf_size;  /* bytes per buffer */
	/* afxdp: the interface, and the XDP admission program's XSKMAP (lgadmit.h), into
	 * which the backend puts its socket at index queue. */
	const char *ifname;
	int xsks_map_fd;
};

struct lg_backend;

struct lg_backend_ops {
	const char *name;
	int (*open)(struct lg_backend **out, const struct lg_backend_conf *conf);
	/* Returns packets filled (0 on timeout) or a negative errno. */
	int (*rx_burst)(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max,
			int timeout_ms);
	void (*release)(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n);
	void (*close)(struct lg_backend *b);
	/* Counters the backend keeps: buffers exhausted, datagrams truncated. */
	uint64_t (*dropped)(const struct lg_backend *b);
};

extern const struct lg_backend_ops lg_backend_uring;
extern const struct lg_backend_ops lg_backend_afxdp;

const struct lg_backend_ops *lg_backend_find(const char *name);

#endif /* LINEGATE_BACKEND_H */
