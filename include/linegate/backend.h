/* SPDX-License-Identifier: MIT */
/*
 * Packet backends: where a worker's frames come from. A worker knows only this
 * interface, so uring, afxdp, dpdk and pcap backends are interchangeable.
 *
 *	setup()      once per process, before any queue opens (DPDK's EAL, a pcap file);
 *	open()       one queue per worker;
 *	rx_burst()   fills up to max packet views that point into backend-owned buffers;
 *	release()    the worker hands every view back once it has finished with the bytes
 *	             (no copies in between);
 *	stats()      what the backend dropped before a worker saw it, by reason;
 *	close(), teardown().
 *
 * A backend that sees whole frames (afxdp, dpdk, pcap) finds the UDP payload with the
 * parser in include/linegate/admit.h, through lg_backend_parse_frame(): XDP, the DPDK
 * path and the worker read a frame the same way, and refuse the same frames.
 */
#ifndef LINEGATE_BACKEND_H
#define LINEGATE_BACKEND_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/frame.h>

struct lg_mcast_group; /* policy.h */

/* rx_burst() at the end of a finite stream (a pcap file): nothing more will come. */
#define LG_RX_EOF (-ENODATA)

/*
 * queue_flags(): the queue hands over a recording as fast as the worker takes it (pcap at
 * pace=0). Nothing is gained by hurrying, and the results must not depend on timing: the
 * worker scores a batch when it is full or the stream ends, never because its oldest row's
 * deadline passed (BLAS rounds a row's score by its place in the batch), and waits for room
 * in its output rings instead of dropping a score.
 */
#define LG_BACKEND_Q_UNPACED 0x1

/* lg_rx_pkt.transport: how a message reached linegate. */
#define LG_RX_UDP 0
#define LG_RX_MQTT 1 /* an OPC UA PubSub message from the opcua_mqtt broker (port_idx 1) */

struct lg_rx_pkt {
	const uint8_t *data; /* UDP payload */
	uint32_t len;
	uint32_t buf_id;      /* backend's handle for release() */
	uint16_t src_port;    /* host order */
	uint8_t family;	      /* AF_INET or AF_INET6 */
	uint8_t truncated;    /* the datagram did not fit the buffer */
	uint8_t port_idx;     /* 0: it came to conf.port (LGF), 1: to conf.port2 (UADP) */
	uint8_t transport;    /* LG_RX_UDP, or LG_RX_MQTT: src_* is the broker, not the device */
	uint8_t src_addr[16]; /* network order */
	uint64_t rx_ns;	      /* CLOCK_MONOTONIC when the worker's rx_burst took it */
	/* CLOCK_MONOTONIC when it arrived, as the backend knows it (docs/operations.md,
	 * "Latency"): the socket's kernel receive timestamp, the XDP program's, or rx_ns where
	 * there is none. Never later than rx_ns. */
	uint64_t arrival_ns;
	/* Recording: the Ethernet frame's bytes in front of data (lg_backend_parse_frame()),
	 * so that data - l2_off is the received frame; 0 = a socket's datagram (no frame). */
	uint16_t l2_off;
	/* The kernel reassembled it from IP fragments (uring: IP_RECVFRAGSIZE), which XDP
	 * passed without charging its device's token bucket: the worker charges it
	 * (lg_admit_charge()). 0 for every other backend. */
	uint8_t reassembled;
	/* A replay (LG_BACKEND_F_REPLAY): the record's time on the replay's clock, in ns (the
	 * pcap backend's read_next(): the records' gaps to the one before added up, never
	 * back, the same in every queue); the reorder stage's holds run on it (reorder.h). 0
	 * for a live backend. */
	uint64_t rec_ns;
};

/* Drops a backend counted, indexed by enum lg_reason (only the reasons it can see). */
struct lg_backend_stats {
	uint64_t drops[LG_REASON_MAX];
	/* Backends with a receive ring of their own (afxdp): its slots, and the most frames
	 * found waiting in it at a burst since start (ring_size: the queue was full and
	 * frames were dropped). 0 and 0 where the backend has no such ring. */
	uint64_t ring_high, ring_size;
	/* A finite source that ends after a silence (dpdk's eof=): how long the backend waited
	 * without a frame before it said LG_RX_EOF; 0 until then, and for every other backend.
	 * A replay's seconds leave it out: the wait is not the replay's work. */
	uint64_t eof_wait_ns;
};

struct lg_backend_conf {
	uint16_t port;	       /* UDP port to receive on */
	uint16_t port2;	       /* a second port (UADP), 0 = none */
	const char *bind_addr; /* NULL = any */
	/* Multicast groups the port2 (UADP) socket joins, on interface mcast_if ("" or NULL:
	 * the kernel's choice); sockets backends only. */
	unsigned nmcast;
	const struct lg_mcast_group *mcast;
	const char *mcast_if;
	unsigned queue;	       /* worker index */
	unsigned nqueues;      /* workers in all */
	unsigned nbufs;	       /* receive buffers, a power of two */
	unsigned buf_size;     /* bytes per buffer */
	/* afxdp: the interface, and the XDP admission program's XSKMAP (lgadmit.h), into
	 * which the backend puts its socket at index queue. */
	const char *ifname;
	int xsks_map_fd;
	/* Backends with LG_BACKEND_F_USER_ADMIT: the user-space admission (uadmit.h) every
	 * frame must pass before it becomes a packet view; queue is the reader index (dpdk
	 * refuses to open without it; pcap then judges nothing, for its unit tests). */
	struct lg_uadmit *uadmit;
	/* The backend's own options, "key=value,key=value" from --backend NAME:OPTIONS;
	 * NULL = none. Each backend parses its own (lg_backend_opt_next()). */
	const char *opts;
};

struct lg_backend;
struct lg_uadmit;

/* lg_backend_ops.flags: what a backend is, whatever its options */
#define LG_BACKEND_F_USER_ADMIT 0x1 /* its frames never pass XDP: it needs conf.uadmit */
#define LG_BACKEND_F_FINITE 0x2 /* a stream that ends (a file): nothing is lost to a full ring */
/* It reads kernel UDP sockets: the stack reassembles IP fragments for it (fragments:
 * reassemble lets XDP pass them); other backends see frames and drop fragments. */
#define LG_BACKEND_F_SOCKET 0x4
/* With several workers, every LGF frame reaches its device's owner directly (uring's
 * reuseport selector, pcap's per-worker filter): a device's LGF frames take one path, so the
 * reorder stage never holds them. */
#define LG_BACKEND_F_STEERS_LGF 0x8
/* A recording replayed so that the same file gives the same outputs (pcap): its user-space
 * admission judges on the recording's clock, and so do the workers' reorder holds
 * (lg_rx_pkt.rec_ns); the workers export no replay marks to it (when an export lands
 * depends on timing); replays are the workers' to refuse. */
#define LG_BACKEND_F_REPLAY 0x10

struct lg_backend_ops {
	const char *name;
	unsigned flags;
	const char *help; /* one paragraph on what it is and its options, for --help */
	/* The option keys that may be given more than once (NULL-terminated; NULL: none):
	 * lg_backend_setup() refuses any other key given twice. */
	const char *const *repeatable;
	/* Once per process before the first open(); NULL when there is nothing to do. 0, or
	 * a negative errno with a message in err. */
	int (*setup)(const struct lg_backend_conf *conf, char *err, size_t errlen);
	void (*teardown)(void);
	int (*open)(struct lg_backend **out, const struct lg_backend_conf *conf, char *err,
		    size_t errlen);
	/* Packets filled (0 on timeout), LG_RX_EOF, or another negative errno. */
	int (*rx_burst)(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max, int timeout_ms);
	void (*release)(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n);
	void (*close)(struct lg_backend *b);
	/* Adds this queue's drops to st; may read kernel or NIC counters (not per packet). */
	void (*stats)(struct lg_backend *b, struct lg_backend_stats *st);
	/* Optional: how this queue runs (e.g. "zero-copy mode"), printed at start. */
	void (*describe)(struct lg_backend *b, char *buf, size_t len);
	/* Optional: LG_BACKEND_Q_* of this queue with its options, read once after open(). */
	unsigned (*queue_flags)(struct lg_backend *b);
	/* Optional: from now on rx_burst() also returns (with what it has, maybe nothing) as
	 * soon as fd is readable, instead of waiting out its timeout: how another thread wakes
	 * a worker that waits for frames (a frame handed over to it). fd is read by the
	 * caller. 0, or a negative errno (the worker then looks every 2 ms, as without). */
	int (*wake_fd)(struct lg_backend *b, int fd);
	/* Optional: whether these options make a finite stream (as LG_BACKEND_F_FINITE), e.g.
	 * a DPDK net_pcap vdev reading a file. Called before setup(); false on bad options
	 * (setup() says what is wrong with them). */
	bool (*finite)(const char *opts);
	/* Optional: true when nothing waits to be read on this queue (a syscall or more: not
	 * per burst; the worker asks while linegate stops, to empty what XDP handed over). A
	 * burst of fewer than max frames does not say so where frames wait outside what
	 * rx_burst() looks at (uring: in the socket, behind a multishot request the kernel
	 * ended for want of buffers, or not yet completed). NULL: such a burst says so. */
	bool (*rx_empty)(struct lg_backend *b);
	/* Optional: linegate stops before the stream ended (a signal): what the queue read
	 * but never handed out (pcap: a record admission judged that waited for its paced
	 * time) is counted as LG_DROP_STOP_UNREAD in its stats, so that every record read is
	 * counted once. Called by the queue's worker after its last burst. */
	void (*stop)(struct lg_backend *b);
};

/*
 * The seam's setup of a backend, once per process before its first open(): its options'
 * checks that hold for every backend (a key given twice that ops->repeatable does not
 * list), then ops->setup(). 0, or a negative errno with a message in err.
 */
int lg_backend_setup(const struct lg_backend_ops *ops, const struct lg_backend_conf *conf,
		     char *err, size_t errlen);
/* The backend with this name, among those this build has; NULL if none. */
const struct lg_backend_ops *lg_backend_find(const char *name);
/* The backends this build has, NULL-terminated. */
const struct lg_backend_ops *const *lg_backend_list(void);

/*
 * Split an option string: the next "key=value" (or "key") at *pos, advancing *pos. Copies
 * into key and val (NUL-terminated; val "" when absent). Returns 1 for an option, 0 at the
 * end, -EINVAL for one that does not fit the buffers.
 */
int lg_backend_opt_next(const char **pos, char *key, size_t keylen, char *val, size_t vallen);
/*
 * 0 if no key is given twice in opts, but those in repeatable (NULL-terminated; NULL: none
 * may repeat); else -EINVAL with "option 'KEY' is given more than once: ..." in err.
 * lg_backend_setup() calls it for every backend: a repeated option is refused, not decided
 * by the last one.
 */
int lg_backend_opt_once(const char *opts, const char *const *repeatable, char *err,
			size_t errlen);
/* An option's value as a whole number 0..max (decimal, nothing else): 0, or -EINVAL. */
int lg_backend_opt_uint(const char *val, unsigned long max, unsigned long *out);

/*
 * Which worker owns an LGF device id among n: the one function the uring backend's reuseport
 * selector (classic BPF over the datagram's id bytes) and the workers' handoff both compute,
 * so that a steered frame is never handed over again. Fibonacci hashing spreads consecutive
 * ids.
 */
static inline unsigned lg_steer_lgf(uint32_t device_id, unsigned n)
{
	return ((uint32_t)(device_id * 0x9E3779B1u) >> 16) % n;
}

/* lg_backend_parse_frame() flags */
#define LG_PARSE_CSUM 0x1 /* check the UDP checksum as the kernel would (the IPv4 header's: always) */

/*
 * A whole frame (Ethernet, VLAN tags, IPv4/IPv6 with the extension headers XDP walks, UDP)
 * into a packet view: the admission parser of include/linegate/admit.h decides, so a frame
 * is refused here exactly when XDP would refuse it as malformed. LG_OK, LG_DROP_MALFORMED,
 * LG_DROP_NOT_OURS for a frame that is not UDP to port or port2, or LG_DROP_BAD_CHECKSUM.
 */
enum lg_reason lg_backend_parse_frame(const uint8_t *frame, uint32_t len, uint16_t port,
				      uint16_t port2, unsigned flags, struct lg_rx_pkt *pkt);

#endif /* LINEGATE_BACKEND_H */
