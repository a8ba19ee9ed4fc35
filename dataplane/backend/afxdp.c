// SPDX-License-Identifier: MIT
/*
 * afxdp backend: an AF_XDP socket on one RX queue, in the XDP admission program's XSKMAP,
 * so that the frames XDP admits land in our UMEM without passing through the kernel's
 * network stack. The worker parses them in place: the packet view points at the UDP
 * payload inside the UMEM frame, and release() hands the frame back to the fill ring.
 *
 * Zero-copy where the driver has it, copy mode otherwise (veth); need_wakeup, so that an
 * idle queue costs no syscalls.
 *
 * Multi-buffer (XDP_USE_SG, kernel 6.6+): a frame longer than a UMEM frame's room arrives
 * as a chain of descriptors, XDP_PKT_CONTD on all but the last. Such a frame, and only
 * such a frame, is copied into a reassembly slot of this queue, its UMEM frames go back to
 * the fill ring at once, and the view points into the slot until release(). Frames in one
 * buffer stay where the kernel put them.
 */
#include <linegate/admit.h>
#include "backends.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <linux/if_ether.h>
#include <linux/if_xdp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xdp/xsk.h>

#define FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE
#define FRAME_SHIFT XSK_UMEM__DEFAULT_FRAME_SHIFT
/* The kernel keeps XDP_PACKET_HEADROOM in front of a frame in each UMEM frame. */
#define FRAME_ROOM (FRAME_SIZE - 256)

/* linux/if_xdp.h of 6.6; older headers lack them, the kernel decides at bind time. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

/*
 * A reassembled frame: as large as the uring backend's buffers, LGF_MAX_LEN behind
 * Ethernet, two VLAN tags and IPv6 with room to spare. Longer frames count as too_big.
 */
#define ASM_SIZE 9216
/*
 * Slots per queue: one for the chain being gathered and one per multi-buffer frame handed
 * out in a burst; a burst stops early when they run out (the rest waits in the RX ring).
 */
#define ASM_SLOTS 16
/*
 * UMEM frames (and fill and RX ring slots) a worker has unless frames=N says otherwise:
 * what the queue absorbs while its worker is not running. 1024 (about 5 ms at 200k
 * frames/s) lost frames in bench/rx_compare.sh whenever the worker's CPU went elsewhere
 * for longer (docs/benchmarks.md); DEFAULT_FRAMES is 40 ms at 200k/s, about what the uring
 * backend's 8 MiB socket buffer holds. 4 KiB each: 32 MiB a worker (docs/operations.md).
 */
#define DEFAULT_FRAMES 8192
/* The default halves to no fewer than this where RLIMIT_MEMLOCK holds less (4 MiB). */
#define MIN_FALLBACK 1024
/* Descriptors looked at per burst. */
#define BURST_DESCS 64
/* buf_id of a view into a reassembly slot (else: a UMEM frame index). */
#define BUF_ASM 0x80000000u

struct lg_backend {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	uint8_t *area;
	size_t area_size;
	unsigned nframes;
	bool frames_given; /* frames=N: no smaller UMEM where the locked-memory limit is low */
	unsigned wanted;   /* the default frames when the limit made nframes fewer, else 0 */
	int fd;
	bool zerocopy; /* the driver moves frames into the UMEM itself (else: copy mode) */
	char ifname[IF_NAMESIZE]; /* the interface and queue its socket is bound to */
	unsigned queue;
	bool sg;       /* bound with XDP_USE_SG: frames may come in several descriptors */
	uint16_t port, port2;
	unsigned parse_flags;
	int busy_poll; /* us; 0 = interrupts (need_wakeup) */
	int wake_fd;   /* wake_fd(): also return when it is readable; -1 = none */
	/* Multi-buffer frames: the chain being gathered (asm_cur < 0: none), free slots. */
	uint8_t *asm_area;
	int asm_cur;
	uint32_t asm_len;
	bool asm_too_big;
	unsigned asm_nfree;
	uint8_t asm_free[ASM_SLOTS];
	/* Frames XDP passed that the worker's parser refuses, by reason: the same parser, so
	 * only a bad checksum (XDP does not check it; the kernel would) should appear. */
	uint64_t refused[LG_REASON_MAX];
	/* The most frames found waiting in the RX ring at a burst (issue 10): how close the
	 * queue came to no_buffer, which it reaches when this is nframes. Written by the
	 * worker, read by the stats. */
	_Atomic uint32_t rx_high;
};

static void afxdp_close(struct lg_backend *b)
{
	if (!b)
		return;
	if (b->xsk)
		xsk_socket__delete(b->xsk);
	if (b->umem)
		xsk_umem__delete(b->umem);
	if (b->area)
		munmap(b->area, b->area_size);
	free(b->asm_area);
	free(b);
}

static int parse_opts(struct lg_backend *b, const char *opts, char *err, size_t errlen)
{
	char key[32], val[32];
	int ret;

	b->parse_flags = LG_PARSE_CSUM;
	while ((ret = lg_backend_opt_next(&opts, key, sizeof(key), val, sizeof(val))) > 0) {
		unsigned long v;

		if (!strcmp(key, "csum") && (!strcmp(val, "on") || !strcmp(val, "off"))) {
			b->parse_flags = !strcmp(val, "on") ? LG_PARSE_CSUM : 0;
			continue;
		}
		if (!strcmp(key, "frames") && !lg_backend_opt_uint(val, 65536, &v) && v >= 64 &&
		    !(v & (v - 1))) {
			b->nframes = (unsigned)v;
			b->frames_given = true;
			continue;
		}
		if (!strcmp(key, "busy_poll") && !lg_backend_opt_uint(val, 1000000, &v)) {
			b->busy_poll = (int)v;
			continue;
		}
		snprintf(err, errlen, "afxdp: unknown option or value '%s%s%s' (csum=on|off, "
			 "busy_poll=USEC, frames=N: a power of two 64..65536)", key,
			 val[0] ? "=" : "", val);
		return -EINVAL;
	}
	if (ret < 0)
		snprintf(err, errlen, "afxdp: an option is too long");
	return ret;
}

/*
 * Write every page of the UMEM once, through our own mapping, before the kernel pins it.
 * The kernel copies frames in through its own mapping of the pinned pages, so the worker's
 * first read of each UMEM frame was the first access through ours, and on a paravirtualised
 * VM such a first touch is a fault the hypervisor handles: perf had lg_backend_parse_frame
 * (the first reader) at 51 % of the worker's samples in the first fifth of a 200k frames/s
 * run, one pass over the 8192 frames, against 10 % later; 4-8 % with this (issue 10). Paid
 * here once, at start, instead of by the first frames, while the RX ring fills.
 */
static void touch_pages(uint8_t *area, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);

	if (page <= 0)
		page = 4096;
	for (size_t off = 0; off < size; off += (size_t)page)
		((volatile uint8_t *)area)[off] = 0;
}

static int afxdp_open(struct lg_backend **out, const struct lg_backend_conf *conf, char *err,
		      size_t errlen)
{
	struct xsk_umem_config ucfg = {
		.fill_size = conf->nbufs, .comp_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
		.frame_size = FRAME_SIZE, .frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = conf->nbufs, .tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		/* The admission program is ours and loaded already: libxdp must not load its
		 * own default program over it. */
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	struct lg_backend *b;
	uint32_t idx, key = conf->queue;
	int ret;

	err[0] = '\0';
	if (!conf->ifname || conf->xsks_map_fd < 0) {
		snprintf(err, errlen, "the afxdp backend needs --xdp IFACE: its socket goes into "
			 "the admission program's XSKMAP");
		return -EINVAL;
	}
	ret = lg_backend_rx_queues(conf->ifname);
	if (ret > (int)conf->nqueues) {
		snprintf(err, errlen, "%s has %d RX queues and linegate %u worker(s): what XDP "
			 "admits on a queue without a worker would go to the kernel, where nobody "
			 "listens. Use --workers %d, or fewer queues (ethtool -L %s combined %u; "
			 "a veth: ethtool -L %s rx %u tx %u, and its peer's tx too)",
			 conf->ifname, ret, conf->nqueues, ret, conf->ifname, conf->nqueues,
			 conf->ifname, conf->nqueues, conf->nqueues);
		return -EXFULL;
	}
	if (ret > 0 && conf->queue >= (unsigned)ret) {
		snprintf(err, errlen, "%s has %d RX queue(s) and linegate %u workers: worker %u "
			 "reads RX queue %u, which %s does not have. Use --workers %d, or give %s "
			 "more queues (ethtool -L %s combined %u; a veth is made with them: ip link "
			 "add ... numrxqueues %u numtxqueues %u)",
			 conf->ifname, ret, conf->nqueues, conf->queue, conf->queue, conf->ifname,
			 ret, conf->ifname, conf->ifname, conf->nqueues, conf->nqueues, conf->nqueues);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->nframes = DEFAULT_FRAMES;
	b->wake_fd = -1;
	ret = parse_opts(b, conf->opts, err, errlen);
	if (ret) {
		free(b);
		return ret;
	}
	ucfg.fill_size = scfg.rx_size = b->nframes;
	b->port = conf->port;
	b->port2 = conf->port2;
	b->asm_cur = -1;
	b->asm_area = malloc((size_t)ASM_SLOTS * ASM_SIZE);
	if (!b->asm_area) {
		ret = -ENOMEM;
		goto err;
	}
	for (unsigned i = 0; i < ASM_SLOTS; i++)
		b->asm_free[b->asm_nfree++] = (uint8_t)(ASM_SLOTS - 1 - i);
	/* As many frames as the fill ring holds: every frame is either there, on the RX
	 * ring, or in the worker's hands, so giving one back always finds room. */
	/*
	 * Multi-buffer where the kernel has it (6.6+; drivers without it in zero-copy fall
	 * back to copy mode by themselves). An older kernel refuses the flag: bind again
	 * without it, on a fresh UMEM (libxdp's first socket is the UMEM's own).
	 */
	b->sg = true;
	scfg.bind_flags |= XDP_USE_SG;
	/*
	 * The kernel pins the UMEM against RLIMIT_MEMLOCK (without CAP_IPC_LOCK): the default
	 * size halves until it fits, down to MIN_FALLBACK frames, and the start line says so;
	 * a size given with frames=N is taken or refused.
	 */
	for (;;) {
		b->area_size = (size_t)b->nframes * FRAME_SIZE;
		b->area = mmap(NULL, b->area_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b->area == MAP_FAILED) {
			b->area = NULL;
			ret = -errno;
			goto err;
		}
		touch_pages(b->area, b->area_size);
		ret = xsk_umem__create(&b->umem, b->area, b->area_size, &b->fq, &b->cq, &ucfg);
		if (ret != -ENOBUFS || b->frames_given || b->nframes <= MIN_FALLBACK)
			break;
		munmap(b->area, b->area_size);
		b->area = NULL;
		b->umem = NULL;
		if (!b->wanted)
			b->wanted = b->nframes;
		b->nframes /= 2;
		ucfg.fill_size = scfg.rx_size = b->nframes;
	}
	if (ret)
		goto err;
	snprintf(b->ifname, sizeof(b->ifname), "%s", conf->ifname);
	b->queue = conf->queue;
	ret = xsk_socket__create(&b->xsk, conf->ifname, conf->queue, b->umem, &b->rx, NULL, &scfg);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		xsk_umem__delete(b->umem);
		b->umem = NULL;
		b->sg = false;
		scfg.bind_flags &= (__u16)~XDP_USE_SG;
		ret = xsk_umem__create(&b->umem, b->area, b->area_size, &b->fq, &b->cq, &ucfg);
		if (ret)
			goto err;
		ret = xsk_socket__create(&b->xsk, conf->ifname, conf->queue, b->umem, &b->rx, NULL,
					 &scfg);
	}
	if (ret)
		goto err;
	b->fd = xsk_socket__fd(b->xsk);
	if (b->busy_poll) {
		/* Preferred busy polling: the driver's NAPI runs in our poll()/recvfrom() calls,
		 * a burst at a time, instead of from interrupts. */
		int one = 1, budget = (int)b->nframes < 64 ? (int)b->nframes : 64;

		if (setsockopt(b->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
		    setsockopt(b->fd, SOL_SOCKET, SO_BUSY_POLL, &b->busy_poll,
			       sizeof(b->busy_poll)) ||
		    setsockopt(b->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget))) {
			ret = -errno;
			snprintf(err, errlen, "afxdp: busy_poll=%d: %s", b->busy_poll, strerror(-ret));
			goto err;
		}
	}
	if (bpf_map_update_elem(conf->xsks_map_fd, &key, &b->fd, BPF_ANY)) {
		ret = -errno;
		goto err;
	}
	if (xsk_ring_prod__reserve(&b->fq, b->nframes, &idx) != b->nframes) {
		ret = -ENOSPC;
		goto err;
	}
	for (unsigned i = 0; i < b->nframes; i++)
		*xsk_ring_prod__fill_addr(&b->fq, idx + i) = (uint64_t)i << FRAME_SHIFT;
	xsk_ring_prod__submit(&b->fq, b->nframes);
	{
		struct xdp_options xo = { 0 };
		socklen_t len = sizeof(xo);

		b->zerocopy = !getsockopt(b->fd, SOL_XDP, XDP_OPTIONS, &xo, &len) &&
			      xo.flags & XDP_OPTIONS_ZEROCOPY;
	}
	*out = b;
	return 0;
err:
	/* The kernel pins the UMEM against RLIMIT_MEMLOCK (without CAP_IPC_LOCK). */
	if (!err[0] && ret == -ENOBUFS)
		snprintf(err, errlen, "AF_XDP socket on %s queue %u: the UMEM of %u frames (%zu "
			 "MiB) is over the locked-memory limit (RLIMIT_MEMLOCK): raise it (ulimit "
			 "-l, LimitMEMLOCK=) or give fewer frames (--backend afxdp:frames=N, "
			 "backend.afxdp.frames)", conf->ifname, conf->queue, b->nframes,
			 b->area_size >> 20);
	if (!err[0])
		snprintf(err, errlen, "AF_XDP socket on %s queue %u: %s", conf->ifname, conf->queue,
			 strerror(-ret));
	afxdp_close(b);
	return ret;
}

static void give_back(struct lg_backend *b, const uint32_t *frames, unsigned n)
{
	uint32_t idx;

	if (!n)
		return;
	/* The fill ring has room for every frame we own, so this cannot fail for long. */
	while (xsk_ring_prod__reserve(&b->fq, n, &idx) != n)
		;
	for (unsigned i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&b->fq, idx + i) = (uint64_t)frames[i] << FRAME_SHIFT;
	xsk_ring_prod__submit(&b->fq, n);
	if (xsk_ring_prod__needs_wakeup(&b->fq))
		recvfrom(b->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

/* A frame in pkt from [frame, frame + len); LG_OK or the reason it was refused. */
static enum lg_reason take(struct lg_backend *b, const uint8_t *frame, uint32_t len,
			   uint32_t buf_id, uint64_t t, struct lg_rx_pkt *pkt)
{
	enum lg_reason r =
	    lg_backend_parse_frame(frame, len, b->port, b->port2, b->parse_flags, pkt);

	if (r != LG_OK) {
		b->refused[r]++;
		return r;
	}
	pkt->buf_id = buf_id;
	pkt->rx_ns = t;
	pkt->arrival_ns = t; /* replaced by the XDP timestamp where it has one */
	return LG_OK;
}

/*
 * Honest latency: the XDP program's timestamp in the metadata area in front of a frame (the
 * UMEM's headroom, XDP_PACKET_HEADROOM, is ours to read), not after pickup t; t without one.
 * Its magic is cleared, so that the frame's buffer, used again, never shows a stale stamp.
 */
static uint64_t xdp_arrival(const struct lg_backend *b, uint8_t *data, uint64_t t)
{
	struct lg_xdp_meta m;

	if ((size_t)(data - b->area) % FRAME_SIZE < sizeof(m))
		return t;
	memcpy(&m, data - sizeof(m), sizeof(m));
	if (m.magic != LG_XDP_META_MAGIC)
		return t;
	memset(data - sizeof(m), 0, sizeof(m));
	return m.rx_ns && m.rx_ns <= t ? m.rx_ns : t;
}

static void slot_put(struct lg_backend *b, unsigned slot)
{
	b->asm_free[b->asm_nfree++] = (uint8_t)slot;
}

/*
 * One descriptor of a multi-buffer frame: start a chain (false when no slot is free: the
 * descriptor stays in the ring), append the bytes, and with the last one hand the frame
 * over. *done is set when pkt holds a frame.
 */
static bool gather(struct lg_backend *b, const struct xdp_desc *d, uint64_t t,
		   struct lg_rx_pkt *pkt, bool *done)
{
	uint8_t *slot;

	*done = false;
	if (b->asm_cur < 0) {
		if (!b->asm_nfree)
			return false;
		b->asm_cur = b->asm_free[--b->asm_nfree];
		b->asm_len = 0;
		b->asm_too_big = false;
	}
	slot = b->asm_area + (size_t)b->asm_cur * ASM_SIZE;
	if (!b->asm_too_big && d->len <= ASM_SIZE - b->asm_len) {
		memcpy(slot + b->asm_len, xsk_umem__get_data(b->area, d->addr), d->len);
		b->asm_len += d->len;
	} else {
		b->asm_too_big = true;
	}
	if (d->options & XDP_PKT_CONTD)
		return true;
	/*
	 * The last descriptor. A chain cut short would leave the frame shorter than its IP
	 * length, and the parser refuses it as malformed, as XDP would have.
	 */
	if (b->asm_too_big) {
		b->refused[LG_DROP_TOO_BIG]++;
		slot_put(b, (unsigned)b->asm_cur);
	} else if (take(b, slot, b->asm_len, BUF_ASM | (uint32_t)b->asm_cur, t, pkt) == LG_OK) {
		*done = true;
	} else {
		slot_put(b, (unsigned)b->asm_cur);
	}
	b->asm_cur = -1;
	return true;
}

static int afxdp_rx_burst(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max,
			  int timeout_ms)
{
	uint32_t idx, back[BURST_DESCS];
	unsigned n, i, got = 0, nback = 0;
	struct timespec ts;
	uint64_t t;

	if (max > BURST_DESCS)
		max = BURST_DESCS;
	n = xsk_ring_cons__peek(&b->rx, max, &idx);
	if (!n) {
		struct pollfd pfd[2] = { { .fd = b->fd, .events = POLLIN },
					 { .fd = b->wake_fd, .events = POLLIN } };

		if (xsk_ring_prod__needs_wakeup(&b->fq))
			recvfrom(b->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		if (poll(pfd, b->wake_fd >= 0 ? 2 : 1, timeout_ms) <= 0 || !(pfd[0].revents & POLLIN))
			return 0;
		n = xsk_ring_cons__peek(&b->rx, max, &idx);
		if (!n)
			return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	{
		/* Waiting now: these n and what the kernel produced behind them. */
		uint32_t waiting = __atomic_load_n(b->rx.producer, __ATOMIC_ACQUIRE) - idx;

		if (waiting > atomic_load_explicit(&b->rx_high, memory_order_relaxed))
			atomic_store_explicit(&b->rx_high, waiting, memory_order_relaxed);
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&b->rx, idx + i);
		uint32_t frame = (uint32_t)(xsk_umem__extract_addr(d->addr) >> FRAME_SHIFT);
		bool done;

		if (b->asm_cur < 0 && !(d->options & XDP_PKT_CONTD)) {
			uint8_t *data = xsk_umem__get_data(b->area, d->addr);

			/* One buffer: the view points into the UMEM frame until release(). */
			if (take(b, data, d->len, frame, t, &pkts[got]) == LG_OK)
				pkts[got++].arrival_ns = xdp_arrival(b, data, t);
			else
				back[nback++] = frame;
			continue;
		}
		if (!gather(b, d, t, &pkts[got], &done))
			break;
		back[nback++] = frame;
		got += done;
	}
	/* What no slot could take yet stays in the ring for the next burst. */
	xsk_ring_cons__cancel(&b->rx, n - i);
	xsk_ring_cons__release(&b->rx, i);
	give_back(b, back, nback);
	return (int)got;
}

static void afxdp_release(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n)
{
	uint32_t frames[64];

	while (n) {
		unsigned k = n < 64 ? n : 64, nf = 0;

		for (unsigned i = 0; i < k; i++) {
			if (pkts[i].buf_id & BUF_ASM)
				slot_put(b, pkts[i].buf_id & ~BUF_ASM);
			else
				frames[nf++] = pkts[i].buf_id;
		}
		give_back(b, frames, nf);
		pkts += k;
		n -= k;
	}
}

static void afxdp_stats(struct lg_backend *b, struct lg_backend_stats *st)
{
	struct xdp_statistics xs = { 0 };
	socklen_t len = sizeof(xs);

	for (int r = 0; r < LG_REASON_MAX; r++)
		st->drops[r] += b->refused[r];
	st->ring_high = atomic_load_explicit(&b->rx_high, memory_order_relaxed);
	st->ring_size = b->nframes;
	if (getsockopt(b->fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
		return;
	/*
	 * rx_dropped counts frames the kernel could not copy or place (no fill frame: the
	 * same event rx_fill_ring_empty_descs counts again, so that one is not added);
	 * rx_ring_full frames found the RX ring full.
	 */
	st->drops[LG_DROP_NO_BUFFER] += xs.rx_dropped;
	st->drops[LG_DROP_RX_RING_FULL] += xs.rx_ring_full;
}

static int afxdp_wake_fd(struct lg_backend *b, int fd)
{
	b->wake_fd = fd;
	return 0;
}

static void afxdp_describe(struct lg_backend *b, char *buf, size_t len)
{
	/* MiB, or KiB below one (frames=64: 256 KiB, not "0 MiB"; trial U, s24) */
	size_t umem = b->area_size >= (1u << 20) ? b->area_size >> 20 : b->area_size >> 10, n;
	const char *umem_unit = b->area_size >= (1u << 20) ? "MiB" : "KiB";
	char lim[160] = "";

	if (b->wanted)
		snprintf(lim, sizeof(lim), "; %u frames, not the default %u: the locked-memory "
			 "limit (RLIMIT_MEMLOCK) held no more: raise it (LimitMEMLOCK=, ulimit -l)",
			 b->nframes, b->wanted);
	n = (size_t)snprintf(buf, len, "%s queue %u, ", b->ifname, b->queue);
	if (n >= len)
		return;
	buf += n;
	len -= n;
	if (b->sg)
		snprintf(buf, len,
			 "%s mode, %u frames of %u bytes (%zu %s of UMEM), multi-buffer: frames "
			 "up to %u bytes in one UMEM frame, up to %u gathered from several, busy "
			 "poll %d us",
			 b->zerocopy ? "zero-copy" : "copy", b->nframes, FRAME_SIZE,
			 umem, umem_unit, FRAME_ROOM, ASM_SIZE, b->busy_poll);
	else
		snprintf(buf, len,
			 "%s mode, %u frames of %u bytes (%zu %s of UMEM), single-buffer only (the "
			 "kernel has no XDP_USE_SG): frames above %u bytes are dropped by the kernel "
			 "(no_buffer), busy poll %d us",
			 b->zerocopy ? "zero-copy" : "copy", b->nframes, FRAME_SIZE,
			 umem, umem_unit, FRAME_ROOM, b->busy_poll);
	n = strlen(buf);
	snprintf(buf + n, len - n, "%s", lim);
}

const struct lg_backend_ops lg_backend_afxdp = {
	.name = "afxdp",
	.open = afxdp_open,
	.rx_burst = afxdp_rx_burst,
	.release = afxdp_release,
	.close = afxdp_close,
	.stats = afxdp_stats,
	.describe = afxdp_describe,
	.wake_fd = afxdp_wake_fd,
	.help = "afxdp: an AF_XDP socket per worker on RX queue = worker index, in the XDP\n"
		"admission program's XSKMAP (needs --xdp IFACE); refuses to start when the\n"
		"interface has more RX queues than workers. Frames longer than a UMEM frame\n"
		"(4096 bytes less 256 of headroom) come in several buffers where the kernel has\n"
		"AF_XDP multi-buffer (6.6+) and are gathered into one of up to 9216 bytes.\n"
		"Options: csum=on|off (check UDP checksums as the kernel would; default on),\n"
		"busy_poll=USEC (preferred busy polling: SO_PREFER_BUSY_POLL, SO_BUSY_POLL,\n"
		"SO_BUSY_POLL_BUDGET), frames=N (UMEM frames and ring slots a worker has, a\n"
		"power of two 64..65536, default 8192: 4 KiB each, 32 MiB a worker; more absorb\n"
		"longer scheduling delays; where RLIMIT_MEMLOCK holds less, the default halves\n"
		"to what fits, at least 1024, and the start line says so).",
};

