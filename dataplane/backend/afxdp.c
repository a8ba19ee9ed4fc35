// SPDX-License-Identifier: MIT
/*
 * afxdp backend: an AF_XDP socket on one RX queue, in the XDP admission program's XSKMAP,
 * so that the frames XDP admits land in our UMEM without passing through the kernel's
 * network stack. The worker parses them in place: the packet view points at the UDP
 * payload inside the UMEM frame, and release() hands the frame back to the fill ring.
 *
 * Zero-copy where the driver has it, copy mode otherwise (veth); need_wakeup, so that an
 * idle queue costs no syscalls.
 */
#include <linegate/admit.h>
#include "backends.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <errno.h>
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

struct lg_backend {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	uint8_t *area;
	size_t area_size;
	unsigned nframes;
	int fd;
	bool zerocopy; /* the driver moves frames into the UMEM itself (else: copy mode) */
	uint16_t port, port2;
	unsigned parse_flags;
	int busy_poll; /* us; 0 = interrupts (need_wakeup) */
	/* Frames XDP passed that the worker's parser refuses, by reason: the same parser, so
	 * only a bad checksum (XDP does not check it; the kernel would) should appear. */
	uint64_t refused[LG_REASON_MAX];
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
	free(b);
}

/* RX queues of the interface: a queue without a socket of ours would hand what XDP admits
 * to the kernel, where nobody listens. */
static int rx_queues(const char *ifname)
{
	char path[128];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/class/net/%s/queues", ifname);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, "rx-", 3);
	closedir(d);
	return n;
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
		if (!strcmp(key, "busy_poll") && !lg_backend_opt_uint(val, 1000000, &v)) {
			b->busy_poll = (int)v;
			continue;
		}
		snprintf(err, errlen, "afxdp: unknown option or value '%s%s%s' (csum=on|off, "
			 "busy_poll=USEC)", key, val[0] ? "=" : "", val);
		return -EINVAL;
	}
	if (ret < 0)
		snprintf(err, errlen, "afxdp: an option is too long");
	return ret;
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
	if (!conf->nbufs || conf->nbufs & (conf->nbufs - 1)) {
		snprintf(err, errlen, "afxdp: %u buffers is not a power of two", conf->nbufs);
		return -EINVAL;
	}
	ret = rx_queues(conf->ifname);
	if (ret > (int)conf->nqueues) {
		snprintf(err, errlen, "%s has %d RX queues and linegate %u worker(s): what XDP "
			 "admits on a queue without a worker would go to the kernel, where nobody "
			 "listens. Use --workers %d, or fewer queues (ethtool -L %s combined %u)",
			 conf->ifname, ret, conf->nqueues, ret, conf->ifname, conf->nqueues);
		return -EXFULL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	ret = parse_opts(b, conf->opts, err, errlen);
	if (ret) {
		free(b);
		return ret;
	}
	b->port = conf->port;
	b->port2 = conf->port2;
	/* As many frames as the fill ring holds: every frame is either there, on the RX
	 * ring, or in the worker's hands, so giving one back always finds room. */
	b->nframes = conf->nbufs;
	b->area_size = (size_t)b->nframes * FRAME_SIZE;
	b->area = mmap(NULL, b->area_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (b->area == MAP_FAILED) {
		b->area = NULL;
		ret = -errno;
		goto err;
	}
	ret = xsk_umem__create(&b->umem, b->area, b->area_size, &b->fq, &b->cq, &ucfg);
	if (ret)
		goto err;
	ret = xsk_socket__create(&b->xsk, conf->ifname, conf->queue, b->umem, &b->rx, NULL, &scfg);
	if (ret)
		goto err;
	b->fd = xsk_socket__fd(b->xsk);
	if (b->busy_poll) {
		/* Preferred busy polling: the driver's NAPI runs in our poll()/recvfrom() calls,
		 * a burst at a time, instead of from interrupts. */
		int one = 1, budget = (int)conf->nbufs < 64 ? (int)conf->nbufs : 64;

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
	if (xsk_ring_prod__reserve(&b->fq, conf->nbufs, &idx) != conf->nbufs) {
		ret = -ENOSPC;
		goto err;
	}
	for (unsigned i = 0; i < conf->nbufs; i++)
		*xsk_ring_prod__fill_addr(&b->fq, idx + i) = (uint64_t)i << FRAME_SHIFT;
	xsk_ring_prod__submit(&b->fq, conf->nbufs);
	{
		struct xdp_options xo = { 0 };
		socklen_t len = sizeof(xo);

		b->zerocopy = !getsockopt(b->fd, SOL_XDP, XDP_OPTIONS, &xo, &len) &&
			      xo.flags & XDP_OPTIONS_ZEROCOPY;
	}
	*out = b;
	return 0;
err:
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

static int afxdp_rx_burst(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max,
			  int timeout_ms)
{
	uint32_t idx, bad[64];
	unsigned n, got = 0, nbad = 0;
	struct timespec ts;
	uint64_t t;

	n = xsk_ring_cons__peek(&b->rx, max, &idx);
	if (!n) {
		struct pollfd pfd = { .fd = b->fd, .events = POLLIN };

		if (xsk_ring_prod__needs_wakeup(&b->fq))
			recvfrom(b->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
		if (poll(&pfd, 1, timeout_ms) <= 0)
			return 0;
		n = xsk_ring_cons__peek(&b->rx, max, &idx);
		if (!n)
			return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t = (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
	for (unsigned i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&b->rx, idx + i);
		uint64_t addr = xsk_umem__extract_addr(d->addr);
		struct lg_rx_pkt *pkt = &pkts[got];

		enum lg_reason r;

		pkt->buf_id = (uint32_t)(addr >> FRAME_SHIFT);
		r = lg_backend_parse_frame(xsk_umem__get_data(b->area, d->addr), d->len, b->port,
					   b->port2, b->parse_flags, pkt);
		if (r != LG_OK) {
			b->refused[r]++;
			if (nbad < 64)
				bad[nbad++] = pkt->buf_id;
			continue;
		}
		pkt->rx_ns = t;
		got++;
	}
	xsk_ring_cons__release(&b->rx, n);
	give_back(b, bad, nbad);
	return (int)got;
}

static void afxdp_release(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n)
{
	uint32_t frames[64];

	while (n) {
		unsigned k = n < 64 ? n : 64;

		for (unsigned i = 0; i < k; i++)
			frames[i] = pkts[i].buf_id;
		give_back(b, frames, k);
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

static void afxdp_describe(struct lg_backend *b, char *buf, size_t len)
{
	snprintf(buf, len, "%s mode, %u frames of %u bytes, busy poll %d us", b->zerocopy ?
		 "zero-copy" : "copy", b->nframes, FRAME_SIZE, b->busy_poll);
}

const struct lg_backend_ops lg_backend_afxdp = {
	.name = "afxdp",
	.open = afxdp_open,
	.rx_burst = afxdp_rx_burst,
	.release = afxdp_release,
	.close = afxdp_close,
	.stats = afxdp_stats,
	.describe = afxdp_describe,
	.help = "afxdp: an AF_XDP socket per worker on RX queue = worker index, in the XDP\n"
		"admission program's XSKMAP (needs --xdp IFACE); refuses to start when the\n"
		"interface has more RX queues than workers. Options: csum=on|off (check UDP\n"
		"checksums as the kernel would; default on), busy_poll=USEC (preferred busy\n"
		"polling: SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET).",
};

