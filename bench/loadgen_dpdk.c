// SPDX-License-Identifier: MIT
/* The load generator's DPDK transmitter (loadgen_dpdk.h). */
#include "loadgen_dpdk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LG_HAVE_DPDK
#include <linegate/backend.h>
#include "../dataplane/backend/dpdk_eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <time.h>
#include <unistd.h>

const int lg_dpdk_tx_built = 1;

#define MAX_BATCH 1024
/* Room for the longest frame the generator builds (Ethernet, IPv6, UDP, 8972 bytes of LGF)
 * in one mbuf: no chains. */
#define DATA_ROOM (9216 + RTE_PKTMBUF_HEADROOM)

struct lg_dpdk_port {
	struct lg_dpdk_eal e; /* port, vdev, pci, eal, lcores, mem, nohuge, log */
	bool started;
	unsigned mbufs, txd;
	struct rte_mempool *pool;
};

struct lg_dpdk_tx {
	struct lg_dpdk_port *p;
	uint16_t queue;
	unsigned nres;
	bool stalled; /* the driver took nothing for a second: no more waiting */
	struct rte_mbuf *res[MAX_BATCH];
	struct lg_dpdk_tx_stats st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The options of linegate's --backend dpdk: that make sense for sending. */
static int parse_opts(struct lg_dpdk_port *p, const char *opts, char *err, size_t errlen)
{
	char key[32], val[256];
	int ret;

	lg_dpdk_eal_defaults(&p->e);
	p->e.no_telemetry = true; /* no socket of its own in /var/run/dpdk */
	p->mbufs = 4095;
	p->txd = 1024;
	if (lg_backend_opt_once(opts, lg_dpdk_eal_repeatable, err, errlen))
		return -EINVAL;
	while ((ret = lg_backend_opt_next(&opts, key, sizeof(key), val, sizeof(val))) > 0) {
		ret = lg_dpdk_eal_opt(&p->e, key, val, err, errlen);
		if (ret < 0)
			return ret;
		if (ret)
			continue;
		if (!strcmp(key, "mbufs")) {
			if (lg_dpdk_opt_uint(key, val, 64, 1u << 24, &p->mbufs, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "txd")) {
			if (lg_dpdk_opt_uint(key, val, 16, 32768, &p->txd, err, errlen))
				return -EINVAL;
		} else {
			snprintf(err, errlen,
				 "unknown option '%s' (port, vdev, pci, nohuge, mem, "
				 "lcores, mbufs, txd, log, eal)",
				 key);
			return -EINVAL;
		}
	}
	if (ret < 0) {
		snprintf(err, errlen, "an option is longer than %zu bytes", sizeof(val) - 1);
		return ret;
	}
	lg_dpdk_eal_done(&p->e);
	return 0;
}

static int port_setup(struct lg_dpdk_port *p, unsigned nq, uint8_t mac[6], unsigned *mtu, char *err,
		      size_t errlen)
{
	struct rte_eth_conf conf = {0};
	struct rte_eth_dev_info info;
	struct rte_ether_addr ea;
	uint16_t rxd = 64, txd = (uint16_t)p->txd, m;
	int ret = rte_eth_dev_info_get(p->e.port_id, &info);

	if (ret) {
		snprintf(err, errlen, "port %u: device info: %s", p->e.port_id, strerror(-ret));
		return ret;
	}
	if (nq > info.max_tx_queues) {
		snprintf(err, errlen, "port %u (%s) has %u TX queues, --threads %u needs one each",
			 p->e.port_id, info.driver_name, info.max_tx_queues, nq);
		return -EINVAL;
	}
	/* as many RX queues (net_af_packet pairs them; nothing polls them) */
	ret = rte_eth_dev_configure(p->e.port_id, (uint16_t)nq, (uint16_t)nq, &conf);
	if (!ret)
		ret = rte_eth_dev_adjust_nb_rx_tx_desc(p->e.port_id, &rxd, &txd);
	for (unsigned q = 0; !ret && q < nq; q++) {
		ret = rte_eth_rx_queue_setup(p->e.port_id, (uint16_t)q, rxd,
					     (unsigned)rte_eth_dev_socket_id(p->e.port_id), NULL,
					     p->pool);
		if (!ret)
			ret = rte_eth_tx_queue_setup(p->e.port_id, (uint16_t)q, txd,
						     (unsigned)rte_eth_dev_socket_id(p->e.port_id),
						     NULL);
	}
	if (!ret)
		ret = rte_eth_dev_start(p->e.port_id);
	if (ret) {
		snprintf(err, errlen, "port %u (%s): %u queues, %u descriptors: %s", p->e.port_id,
			 info.driver_name, nq, txd, strerror(-ret));
		return ret;
	}
	p->started = true;
	rte_eth_stats_reset(p->e.port_id);
	if (rte_eth_macaddr_get(p->e.port_id, &ea))
		memset(&ea, 0, sizeof(ea));
	memcpy(mac, ea.addr_bytes, 6);
	*mtu = rte_eth_dev_get_mtu(p->e.port_id, &m) ? 1500 : m;
	return 0;
}

int lg_dpdk_port_open(struct lg_dpdk_port **out, const char *opts, unsigned nqueues, uint8_t mac[6],
		      unsigned *mtu, char *err, size_t errlen)
{
	struct lg_dpdk_port *p = calloc(1, sizeof(*p));
	int ret;

	if (!p)
		return -ENOMEM;
	ret = parse_opts(p, opts, err, errlen);
	if (ret)
		goto err_free;
	ret = lg_dpdk_eal_init(&p->e, "linegate-loadgen", "lg-loadgen",
			       " (no hugepages? add nohuge)", err, errlen);
	if (ret)
		goto err_free;
	if (!p->e.port_set)
		RTE_ETH_FOREACH_DEV(p->e.port_id) break;
	if (!rte_eth_dev_is_valid_port(p->e.port_id)) {
		snprintf(err, errlen, "no port %u (give one with vdev= or pci=)", p->e.port_id);
		ret = -ENODEV;
		goto err_eal;
	}
	/* No per-lcore cache: the sender threads are no lcores. */
	p->pool = rte_pktmbuf_pool_create("lg_tx", p->mbufs, 0, 0, DATA_ROOM, (int)rte_socket_id());
	if (!p->pool) {
		snprintf(err, errlen, "mbuf pool of %u: %s (fewer mbufs=, or more mem=)", p->mbufs,
			 rte_strerror(rte_errno));
		ret = -ENOMEM;
		goto err_eal;
	}
	ret = port_setup(p, nqueues, mac, mtu, err, errlen);
	if (ret)
		goto err_port;
	*out = p;
	return 0;

err_port:
	if (p->started)
		rte_eth_dev_stop(p->e.port_id);
	rte_eth_dev_close(p->e.port_id);
	rte_mempool_free(p->pool);
err_eal:
	rte_eal_cleanup();
err_free:
	free(p);
	return ret;
}

uint64_t lg_dpdk_port_oerrors(struct lg_dpdk_port *p)
{
	struct rte_eth_stats st;

	return rte_eth_stats_get(p->e.port_id, &st) ? 0 : st.oerrors;
}

void lg_dpdk_port_close(struct lg_dpdk_port *p)
{
	if (!p)
		return;
	if (p->started)
		rte_eth_dev_stop(p->e.port_id);
	rte_eth_dev_close(p->e.port_id);
	rte_mempool_free(p->pool);
	rte_eal_cleanup();
	free(p);
}

int lg_dpdk_tx_open(struct lg_dpdk_tx **out, struct lg_dpdk_port *p, uint16_t queue)
{
	struct lg_dpdk_tx *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->p = p;
	t->queue = queue;
	*out = t;
	return 0;
}

unsigned lg_dpdk_tx_room(const struct lg_dpdk_tx *t)
{
	return rte_pktmbuf_data_room_size(t->p->pool) - RTE_PKTMBUF_HEADROOM;
}

int lg_dpdk_tx_reserve(struct lg_dpdk_tx *t, unsigned n, uint8_t **bufs)
{
	uint64_t end = 0;

	if (n > MAX_BATCH)
		n = MAX_BATCH;
	/* The mbufs the driver still holds come back as it completes them: wait for them. */
	while (rte_pktmbuf_alloc_bulk(t->p->pool, t->res, n)) {
		if (n > 1) {
			n /= 2;
			continue;
		}
		if (!end)
			end = now_ns() + 1000000000ull;
		else if (now_ns() > end)
			return -ENOBUFS;
		rte_eth_tx_done_cleanup(t->p->e.port_id, t->queue, 0);
	}
	for (unsigned i = 0; i < n; i++)
		bufs[i] = rte_pktmbuf_mtod(t->res[i], uint8_t *);
	t->nres = n;
	return (int)n;
}

int lg_dpdk_tx_submit(struct lg_dpdk_tx *t, unsigned n, const uint32_t *lens)
{
	unsigned done = 0;
	uint64_t end = now_ns() + 1000000000ull;

	for (unsigned i = 0; i < n; i++) {
		t->res[i]->data_len = (uint16_t)lens[i];
		t->res[i]->pkt_len = lens[i];
	}
	t->st.submitted += n;
	/* A full TX ring is back-pressure, not a loss: try again until the driver takes
	 * none for a second. After that once per batch, so that a dead port ends the run
	 * soon, every frame counted. */
	while (done < n) {
		uint16_t k = rte_eth_tx_burst(t->p->e.port_id, t->queue, t->res + done,
					      (uint16_t)(n - done));

		done += k;
		if (k) {
			end = now_ns() + 1000000000ull;
			t->stalled = false;
		} else if (t->stalled || now_ns() > end) {
			t->stalled = true;
			break;
		}
	}
	t->st.sent += done;
	t->st.refused += n - done;
	if (done < n)
		rte_pktmbuf_free_bulk(t->res + done, n - done);
	t->nres = 0;
	return 0;
}

void lg_dpdk_tx_cancel(struct lg_dpdk_tx *t)
{
	rte_pktmbuf_free_bulk(t->res, t->nres);
	t->nres = 0;
}

void lg_dpdk_tx_stats(const struct lg_dpdk_tx *t, struct lg_dpdk_tx_stats *st)
{
	*st = t->st;
}

void lg_dpdk_tx_close(struct lg_dpdk_tx *t)
{
	if (t)
		lg_dpdk_tx_cancel(t);
	free(t);
}

#else /* !LG_HAVE_DPDK */

const int lg_dpdk_tx_built = 0;

int lg_dpdk_port_open(struct lg_dpdk_port **out, const char *opts, unsigned nqueues, uint8_t mac[6],
		      unsigned *mtu, char *err, size_t errlen)
{
	(void)out, (void)opts, (void)nqueues, (void)mac, (void)mtu;
	snprintf(err, errlen,
		 "this linegate-loadgen was built without DPDK (meson -Ddpdk=enabled)");
	return -EOPNOTSUPP;
}

uint64_t lg_dpdk_port_oerrors(struct lg_dpdk_port *p)
{
	(void)p;
	return 0;
}

void lg_dpdk_port_close(struct lg_dpdk_port *p)
{
	(void)p;
}

int lg_dpdk_tx_open(struct lg_dpdk_tx **out, struct lg_dpdk_port *p, uint16_t queue)
{
	(void)out, (void)p, (void)queue;
	return -EOPNOTSUPP;
}

unsigned lg_dpdk_tx_room(const struct lg_dpdk_tx *t)
{
	(void)t;
	return 0;
}

int lg_dpdk_tx_reserve(struct lg_dpdk_tx *t, unsigned n, uint8_t **bufs)
{
	(void)t, (void)n, (void)bufs;
	return -EOPNOTSUPP;
}

int lg_dpdk_tx_submit(struct lg_dpdk_tx *t, unsigned n, const uint32_t *lens)
{
	(void)t, (void)n, (void)lens;
	return -EOPNOTSUPP;
}

void lg_dpdk_tx_cancel(struct lg_dpdk_tx *t)
{
	(void)t;
}

void lg_dpdk_tx_stats(const struct lg_dpdk_tx *t, struct lg_dpdk_tx_stats *st)
{
	(void)t;
	memset(st, 0, sizeof(*st));
}

void lg_dpdk_tx_close(struct lg_dpdk_tx *t)
{
	(void)t;
}
#endif
