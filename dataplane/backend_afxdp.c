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
#include <linegate/backend.h>

#include <bpf/bpf.h>
#include <errno.h>
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
	uint16_t port, port2;
	uint64_t malformed; /* frames XDP passed that do not parse as UDP (cannot happen) */
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

static int afxdp_open(struct lg_backend **out, const struct lg_backend_conf *conf)
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

	if (!conf->ifname || conf->xsks_map_fd < 0)
		return -EINVAL; /* needs --xdp: the admission program owns the XSKMAP */
	if (!conf->nbufs || conf->nbufs & (conf->nbufs - 1))
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
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
	*out = b;
	return 0;
err:
	afxdp_close(b);
	return ret;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Ethernet, up to two VLAN tags, IPv4 or IPv6 (with the extension headers XDP walks, the
 * same code), UDP: the payload and the sender. XDP has checked all of this before
 * redirecting; a frame that does not parse is counted. */
static int parse(struct lg_backend *b, const uint8_t *f, uint32_t len, struct lg_rx_pkt *pkt)
{
	const uint8_t *end = f + len, *p = f + ETH_HLEN, *l4;
	uint16_t proto, ulen, dport;

	if (len < ETH_HLEN)
		return -EBADMSG;
	proto = be16(f + 12);
	for (int v = 0; v < 2 && (proto == ETH_P_8021Q || proto == ETH_P_8021AD); v++) {
		if (p + 4 > end)
			return -EBADMSG;
		proto = be16(p + 2);
		p += 4;
	}
	memset(pkt->src_addr, 0, sizeof(pkt->src_addr));
	if (proto == ETH_P_IP) {
		unsigned ihl;

		if (p + 20 > end || (p[0] >> 4) != 4 || p[9] != 17)
			return -EBADMSG;
		ihl = (p[0] & 15) * 4u;
		if (ihl < 20 || p + ihl > end)
			return -EBADMSG;
		pkt->family = AF_INET;
		memcpy(pkt->src_addr, p + 12, 4);
		l4 = p + ihl;
	} else if (proto == ETH_P_IPV6) {
		if (p + 40 > end || (p[0] >> 4) != 6)
			return -EBADMSG;
		l4 = p + 40;
		if (l4 + be16(p + 4) > end)
			return -EBADMSG;
		if (p[6] != 17 &&
		    lg_admit_ipv6_ext(&l4, l4 + be16(p + 4), end, p[6]) != LG_R_ADMITTED)
			return -EBADMSG;
		pkt->family = AF_INET6;
		memcpy(pkt->src_addr, p + 8, 16);
	} else {
		return -EBADMSG;
	}
	if (l4 + 8 > end)
		return -EBADMSG;
	ulen = be16(l4 + 4);
	dport = be16(l4 + 2);
	if (ulen < 8 || l4 + ulen > end)
		return -EBADMSG;
	pkt->src_port = be16(l4);
	pkt->port_idx = b->port2 && dport == b->port2;
	pkt->data = l4 + 8;
	pkt->len = ulen - 8u;
	pkt->truncated = 0;
	return 0;
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

		pkt->buf_id = (uint32_t)(addr >> FRAME_SHIFT);
		if (parse(b, xsk_umem__get_data(b->area, d->addr), d->len, pkt)) {
			b->malformed++;
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

static uint64_t afxdp_dropped(const struct lg_backend *b)
{
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);

	/* Frames the kernel could not put on our RX ring (ring full, no fill frame). */
	if (getsockopt(b->fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		return b->malformed;
	return st.rx_dropped + st.rx_ring_full + st.rx_fill_ring_empty_descs + b->malformed;
}

const struct lg_backend_ops lg_backend_afxdp = {
	.name = "afxdp",
	.open = afxdp_open,
	.rx_burst = afxdp_rx_burst,
	.release = afxdp_release,
	.close = afxdp_close,
	.dropped = afxdp_dropped,
};
