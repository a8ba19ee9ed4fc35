// SPDX-License-Identifier: MIT
/*
 * The load generator's AF_XDP transmitter (loadgen_xsk.h).
 *
 * One UMEM per socket, as many frames as the TX ring has slots: a free UMEM frame then
 * always has a free TX slot too (a slot is given back when the kernel reads it, its frame
 * only when the kernel completes it, later), so reserving never fails half way. Free frames
 * are a stack of UMEM addresses, refilled from the completion ring.
 *
 * In copy mode (veth, drivers without zero-copy) the kernel sends only inside sendto(), at
 * most a few dozen frames a call, so a kick is due after every submit and while waiting for
 * frames. sendto() says EBUSY when the driver dropped a frame (the kernel completes it all
 * the same: "SKB completed but not sent", net/xdp/xsk.c): one frame per EBUSY, counted.
 */
#include "loadgen_xsk.h"

#include <xdp/xsk.h>

#include <errno.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#define NFRAMES 2048u /* = TX ring = completion ring */

struct lg_xsk_tx {
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fq, tx;
	struct xsk_ring_cons cq;
	void *area;
	int fd;
	bool need_wakeup, zerocopy;
	uint32_t nfree, reserved, ring_idx;
	uint64_t free[NFRAMES], held[NFRAMES];
	uint64_t submitted, completed, dropped;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int create(struct lg_xsk_tx *t, const char *ifname, uint32_t queue, uint16_t bind_flags)
{
	struct xsk_umem_config ucfg = {
		.fill_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
		.comp_size = NFRAMES,
		.frame_size = LG_XSK_TX_ROOM,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = 0,
		.tx_size = NFRAMES,
		/* TX only: no XDP program, the interface's traffic is not ours to redirect */
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = bind_flags,
	};
	int ret = xsk_umem__create(&t->umem, t->area, (uint64_t)NFRAMES * LG_XSK_TX_ROOM, &t->fq,
				   &t->cq, &ucfg);

	if (ret)
		return ret;
	/*
	 * EBUSY: the queue still has the socket of a process that just exited (a run before
	 * this one): the kernel lets go of a closed socket's queue after its last reference
	 * goes, a little later. Wait for it, at most a second (seen on a 2-vCPU VM: a run right
	 * after another failed one time in three, tests/e2e/loadgen_afxdp.sh "no carrier").
	 */
	for (int i = 0; i < 100; i++) {
		struct timespec ts = {0, 10 * 1000000L};

		ret = xsk_socket__create(&t->xsk, ifname, queue, t->umem, NULL, &t->tx, &scfg);
		if (ret != -EBUSY)
			break;
		nanosleep(&ts, NULL);
	}
	if (ret) {
		xsk_umem__delete(t->umem);
		t->umem = NULL;
	}
	return ret;
}

int lg_xsk_tx_open(struct lg_xsk_tx **out, const char *ifname, uint32_t queue)
{
	struct lg_xsk_tx *t = calloc(1, sizeof(*t));
	struct xdp_options xo;
	socklen_t len = sizeof(xo);
	int ret;

	if (!t)
		return -ENOMEM;
	if (!if_nametoindex(ifname)) {
		ret = -ENODEV;
		goto err_free;
	}
	t->area = mmap(NULL, (size_t)NFRAMES * LG_XSK_TX_ROOM, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->area == MAP_FAILED) {
		ret = -errno;
		goto err_free;
	}
	t->need_wakeup = true;
	ret = create(t, ifname, queue, XDP_USE_NEED_WAKEUP);
	if (ret == -EINVAL || ret == -EOPNOTSUPP) {
		/* a kernel before 5.4 has no need_wakeup: kick after every submit */
		t->need_wakeup = false;
		ret = create(t, ifname, queue, 0);
	}
	if (ret)
		goto err_unmap;
	t->fd = xsk_socket__fd(t->xsk);
	t->zerocopy = !getsockopt(t->fd, SOL_XDP, XDP_OPTIONS, &xo, &len) &&
		      xo.flags & XDP_OPTIONS_ZEROCOPY;
	for (uint32_t i = 0; i < NFRAMES; i++)
		t->free[i] = (uint64_t)(NFRAMES - 1 - i) * LG_XSK_TX_ROOM;
	t->nfree = NFRAMES;
	*out = t;
	return 0;

err_unmap:
	munmap(t->area, (size_t)NFRAMES * LG_XSK_TX_ROOM);
err_free:
	free(t);
	return ret;
}

/* Frames the kernel is done with back onto the free stack. */
static void reclaim(struct lg_xsk_tx *t)
{
	uint32_t idx, n = xsk_ring_cons__peek(&t->cq, NFRAMES, &idx);

	for (uint32_t i = 0; i < n; i++)
		t->free[t->nfree++] = *xsk_ring_cons__comp_addr(&t->cq, idx + i);
	xsk_ring_cons__release(&t->cq, n);
	t->completed += n;
}

/* Makes the kernel send what is on the ring (copy mode: a few dozen frames a call). */
static int kick(struct lg_xsk_tx *t)
{
	if (t->need_wakeup && !xsk_ring_prod__needs_wakeup(&t->tx))
		return 0;
	if (sendto(t->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
		return 0;
	switch (errno) {
	case EBUSY: /* the driver dropped one frame, completed all the same */
		t->dropped++;
		return 0;
	case EAGAIN:
	case ENOBUFS: /* the ring or the device is full for now: completions will free it */
	case EINTR:
		return 0;
	default:
		return -errno;
	}
}

int lg_xsk_tx_reserve(struct lg_xsk_tx *t, unsigned n, uint8_t **bufs)
{
	uint64_t deadline = 0;
	uint32_t idx;
	int ret;

	if (t->reserved)
		return -EBUSY;
	reclaim(t);
	while (!t->nfree) {
		if (!deadline)
			deadline = mono_ns() + 1000000000ull;
		else if (mono_ns() > deadline)
			return -ETIMEDOUT;
		ret = kick(t);
		if (ret)
			return ret;
		reclaim(t);
	}
	if (n > t->nfree)
		n = t->nfree;
	/* as many free TX slots as free frames: see the top of this file */
	if (xsk_ring_prod__reserve(&t->tx, n, &idx) != n)
		return -EIO;
	for (unsigned i = 0; i < n; i++) {
		t->held[i] = t->free[--t->nfree];
		bufs[i] = xsk_umem__get_data(t->area, t->held[i]);
	}
	t->reserved = n;
	t->ring_idx = idx;
	return (int)n;
}

int lg_xsk_tx_submit(struct lg_xsk_tx *t, unsigned n, const uint32_t *lens)
{
	if (n != t->reserved)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		struct xdp_desc *d = xsk_ring_prod__tx_desc(&t->tx, t->ring_idx + i);

		d->addr = t->held[i];
		d->len = lens[i];
		d->options = 0;
	}
	xsk_ring_prod__submit(&t->tx, n);
	t->reserved = 0;
	t->submitted += n;
	return kick(t);
}

void lg_xsk_tx_cancel(struct lg_xsk_tx *t)
{
	/* what libxdp's xsk_ring_prod__cancel() would do, had this version of it one */
	t->tx.cached_prod -= t->reserved;
	while (t->reserved)
		t->free[t->nfree++] = t->held[--t->reserved];
}

static uint64_t invalid_descs(struct lg_xsk_tx *t)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	if (getsockopt(t->fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
		return 0;
	return xs.tx_invalid_descs;
}

int lg_xsk_tx_drain(struct lg_xsk_tx *t, uint64_t timeout_ns)
{
	uint64_t deadline = mono_ns() + timeout_ns;
	int ret;

	reclaim(t);
	while (t->completed + invalid_descs(t) < t->submitted) {
		if (mono_ns() > deadline)
			return -ETIMEDOUT;
		ret = kick(t);
		if (ret)
			return ret;
		reclaim(t);
	}
	return 0;
}

void lg_xsk_tx_stats(struct lg_xsk_tx *t, struct lg_xsk_tx_stats *st)
{
	uint64_t invalid = invalid_descs(t);

	reclaim(t);
	*st = (struct lg_xsk_tx_stats){
		.submitted = t->submitted,
		.completed = t->completed - t->dropped,
		.refused = invalid + t->dropped,
		.pending = t->submitted - t->completed - invalid,
		.zerocopy = t->zerocopy,
		.need_wakeup = t->need_wakeup,
	};
}

void lg_xsk_tx_close(struct lg_xsk_tx *t)
{
	if (!t)
		return;
	xsk_socket__delete(t->xsk);
	xsk_umem__delete(t->umem);
	munmap(t->area, (size_t)NFRAMES * LG_XSK_TX_ROOM);
	free(t);
}
