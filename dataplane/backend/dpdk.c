// SPDX-License-Identifier: MIT
/*
 * dpdk backend: one DPDK ethdev port, RX queue = worker index, read with rte_eth_rx_burst()
 * by linegate's own worker threads. Frames never pass XDP, so every one is judged first by
 * the user-space copy of the admission decision (conf.uadmit, include/linegate/uadmit.h);
 * what it admits is parsed in place (lg_backend_parse_frame()) and the packet view points
 * into the mbuf, which release() frees. Several queues are fed by RSS over the UDP ports
 * where the port has it, or as the port fills them (net_pcap: one rx_pcap= file a queue);
 * either way a device's frames that arrive on another worker's queue are handed to their
 * owner and put back in order there (one replay window, one feature window).
 *
 * EAL is per process: setup() initialises it and configures and starts the port, open()
 * only hands a worker its queue. The state below is written once by setup() and only read
 * afterwards.
 */
#include <linegate/uadmit.h>
#include "backends.h"
#include "dpdk_eal.h"

#include <dirent.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_pause.h>

#define MAX_BURST 64
/*
 * DPDK 22.11's net_af_xdp fills each RX queue's fill ring with this many mbufs when the
 * queue is set up (ETH_AF_XDP_DFLT_NUM_DESCS, whatever rxd= says), and an rx burst takes
 * burst= more from the pool before it hands the frames over: with fewer than
 * queues x (AF_XDP_FILL + burst) mbufs the setup fails (EINVAL) or the port receives
 * nothing and counts every poll as no_buffer.
 */
#define AF_XDP_FILL 2048

/* What --backend dpdk:OPTIONS said, and the port setup() made of it. */
struct dpdk_conf {
	struct lg_dpdk_eal e; /* port, vdev, pci, eal, lcores, mem, nohuge, log */
	unsigned mbufs, rxd, burst;
	unsigned mbuf_size; /* data room of an mbuf, headroom included */
	unsigned eof_ms; /* end of stream after this long without a frame (0: never) */
	unsigned sleep_us; /* sleep after an empty poll (0: busy poll) */
	bool csum;
	/* from setup() */
	struct rte_mempool *pool;
	unsigned nqueues;
	bool rss;	   /* several queues, spread by RSS */
	bool hw_csum;	   /* the PMD checks UDP checksums and flags the mbufs */
	bool started;
	bool promisc_was_on; /* the port was promiscuous before we turned it on */
	char driver[64];
	/* net_tap: the kernel side's tx_dropped counter file, and its value at start */
	char tap_dropped_path[96];
	uint64_t tap_dropped_base;
};

static struct dpdk_conf dc;

struct lg_backend {
	uint16_t queue;
	uint16_t port, port2;
	unsigned parse_flags;
	struct lg_uadmit *ua;
	bool registered; /* the worker thread has an lcore id (mempool caches) */
	uint64_t last_rx_ns;
	uint64_t eof_wait_ns; /* the silence before LG_RX_EOF (lg_backend_stats.eof_wait_ns) */
	struct rte_mbuf *held[MAX_BURST]; /* buf_id -> mbuf, until release() */
	/* Frames admission passed that the parser refuses (a bad checksum, not-ours traffic
	 * the policy lets through), by reason; read by the metrics thread. */
	uint64_t refused[LG_REASON_MAX];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_opts(const char *opts, char *err, size_t errlen)
{
	char key[32], val[256];
	int ret;

	memset(&dc, 0, sizeof(dc));
	lg_dpdk_eal_defaults(&dc.e);
	dc.mbufs = 8191;
	dc.mbuf_size = RTE_MBUF_DEFAULT_BUF_SIZE;
	dc.rxd = 1024;
	dc.burst = 32;
	dc.csum = true;
	while ((ret = lg_backend_opt_next(&opts, key, sizeof(key), val, sizeof(val))) > 0) {
		ret = lg_dpdk_eal_opt(&dc.e, key, val, err, errlen);
		if (ret < 0)
			return ret;
		if (ret)
			continue;
		if (!strcmp(key, "mbufs")) {
			if (lg_dpdk_opt_uint(key, val, 64, 1u << 24, &dc.mbufs, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "mbuf_size")) {
			if (lg_dpdk_opt_uint(key, val, RTE_MBUF_DEFAULT_BUF_SIZE, 65535,
					     &dc.mbuf_size, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "rxd")) {
			if (lg_dpdk_opt_uint(key, val, 16, 32768, &dc.rxd, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "burst")) {
			if (lg_dpdk_opt_uint(key, val, 1, MAX_BURST, &dc.burst, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "eof")) {
			if (lg_dpdk_opt_uint(key, val, 0, 3600000, &dc.eof_ms, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "sleep")) {
			if (lg_dpdk_opt_uint(key, val, 0, 100000, &dc.sleep_us, err, errlen))
				return -EINVAL;
		} else if (!strcmp(key, "csum")) {
			if (strcmp(val, "on") && strcmp(val, "off")) {
				snprintf(err, errlen, "csum=%s: want on or off", val);
				return -EINVAL;
			}
			dc.csum = !strcmp(val, "on");
		} else {
			snprintf(err, errlen, "unknown option '%s' (see --help)", key);
			return -EINVAL;
		}
	}
	if (ret < 0) {
		snprintf(err, errlen, "an option is longer than %zu bytes", sizeof(val) - 1);
		return ret;
	}
	lg_dpdk_eal_done(&dc.e);
	return 0;
}

/* A finite source: a pcap file that is not looped. */
static bool finite_source(void)
{
	for (unsigned i = 0; i < dc.e.nvdevs; i++)
		if (!strncmp(dc.e.vdev[i], "net_pcap", 8) && strstr(dc.e.vdev[i], "rx_pcap=") &&
		    !strstr(dc.e.vdev[i], "infinite_rx=1"))
			return true;
	return false;
}

/* Before setup(): options that replay a file (or end after a silence) make a finite
 * stream, which main.c keeps away from the line's state. setup() parses them again. */
static bool dpdk_finite(const char *opts)
{
	char err[256];

	return !parse_opts(opts, err, sizeof(err)) && (dc.eof_ms || finite_source());
}

/* A counter file of sysfs, or 0. */
static uint64_t read_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/*
 * net_tap: the kernel hands frames to the tap's file descriptors through queues of
 * tx_queue_len; what does not fit is the kernel interface's tx_dropped, which the PMD's
 * statistics never see (trial U, s24: 31 818 of 160 000 frames lost at overload, counted
 * nowhere of linegate's). Counted as rx_ring_full from the start of the run.
 */
static void tap_watch(const struct rte_eth_dev_info *info)
{
	char name[IF_NAMESIZE];

	dc.tap_dropped_path[0] = '\0';
	if (!strstr(info->driver_name, "tap") || !info->if_index ||
	    !if_indextoname(info->if_index, name))
		return;
	snprintf(dc.tap_dropped_path, sizeof(dc.tap_dropped_path),
		 "/sys/class/net/%s/statistics/tx_dropped", name);
	dc.tap_dropped_base = read_u64(dc.tap_dropped_path);
}

static uint64_t tap_dropped(void)
{
	uint64_t v;

	if (!dc.tap_dropped_path[0])
		return 0;
	v = read_u64(dc.tap_dropped_path);
	return v > dc.tap_dropped_base ? v - dc.tap_dropped_base : 0;
}

static int port_setup(unsigned nqueues, char *err, size_t errlen)
{
	struct rte_eth_conf pconf = {0};
	struct rte_eth_dev_info info;
	struct rte_eth_rxconf rxconf;
	uint16_t rxd = (uint16_t)dc.rxd, txd = 512;
	int ret;

	if (!rte_eth_dev_is_valid_port(dc.e.port_id) && (dc.e.nvdevs || dc.e.npci) &&
	    !rte_eth_dev_count_avail()) {
		/* Not "add a vdev=": one was given, and DPDK refused it. */
		snprintf(err, errlen,
			 "no DPDK port: DPDK made none of the %u device(s) given (%s%s): its own "
			 "messages above say why (net_af_xdp: \"queue count N is larger than "
			 "combined queue count M\" means queue_count= is more than the interface's "
			 "channels)",
			 dc.e.nvdevs + dc.e.npci, dc.e.nvdevs ? dc.e.vdev[0] : dc.e.pci[0],
			 dc.e.nvdevs + dc.e.npci > 1 ? ", ..." : "");
		return -ENODEV;
	}
	if (!rte_eth_dev_is_valid_port(dc.e.port_id)) {
		snprintf(err, errlen,
			 "no DPDK port %u (%u found): bind a NIC to vfio-pci (dpdk-devbind.py) "
			 "or add a vdev=..., see docs/operations.md",
			 dc.e.port_id, rte_eth_dev_count_avail());
		return -ENODEV;
	}
	ret = rte_eth_dev_info_get(dc.e.port_id, &info);
	if (ret) {
		snprintf(err, errlen, "port %u: device info: %s", dc.e.port_id, strerror(-ret));
		return ret;
	}
	snprintf(dc.driver, sizeof(dc.driver), "%s", info.driver_name);
	if (nqueues > info.max_rx_queues) {
		snprintf(err, errlen,
			 "port %u (%s) has %u RX queues, linegate wants one per worker (%u): "
			 "use --workers %u%s",
			 dc.e.port_id, info.driver_name, info.max_rx_queues, nqueues,
			 info.max_rx_queues,
			 strstr(info.driver_name, "pcap") ? " (or one rx_pcap= per queue)" : "");
		return -EINVAL;
	}
	if (nqueues > 1) {
		uint64_t hf = (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP) &
			      info.flow_type_rss_offloads;

		/* RSS only spreads the load: whichever queue a frame arrives on, a device's
		 * frames reach its owner worker (the handoff ring) and its window in sequence
		 * order (the reorder stage), docs/architecture.md "In sequence order". A port
		 * without it (net_pcap with one rx_pcap= per queue, a kernel-steered net_tap)
		 * runs its queues as they come; a NIC without it fills queue 0 alone. */
		if (hf) {
			pconf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			pconf.rx_adv_conf.rss_conf.rss_hf = hf;
			dc.rss = true;
		}
	}
	if (dc.csum && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) {
		pconf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
		dc.hw_csum = true;
	}
	ret = rte_eth_dev_configure(dc.e.port_id, (uint16_t)nqueues, (uint16_t)nqueues, &pconf);
	if (ret) {
		snprintf(err, errlen, "port %u (%s): configure %u queues: %s", dc.e.port_id,
			 info.driver_name, nqueues, strerror(-ret));
		return ret;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(dc.e.port_id, &rxd, &txd);
	if (ret) {
		snprintf(err, errlen, "port %u: descriptors: %s", dc.e.port_id, strerror(-ret));
		return ret;
	}
	/* Every queue's ring holds rxd mbufs and a burst takes burst= more: a pool smaller
	 * than that leaves a ring that cannot be refilled, and the queue stops receiving for
	 * good, the frames left in the port uncounted (trial V, s24: net_tap, 2 queues of
	 * 1024 with mbufs=2047). net_af_xdp's own floor is checked before (af_xdp_check). */
	if (!strstr(info.driver_name, "af_xdp") &&
	    (uint64_t)dc.mbufs < (uint64_t)nqueues * (rxd + dc.burst)) {
		snprintf(err, errlen,
			 "mbufs=%u is too few for %u queue(s) of rxd=%u: each queue's ring holds "
			 "rxd= mbufs and a burst takes burst= more, at least %u (%u queue(s) x (%u + "
			 "%u)); give mbufs=%u or more, or a smaller rxd=", dc.mbufs, nqueues, rxd,
			 nqueues * (rxd + dc.burst), nqueues, rxd, dc.burst,
			 nqueues * (rxd + dc.burst));
		return -EINVAL;
	}
	rxconf = info.default_rxconf;
	rxconf.offloads = pconf.rxmode.offloads;
	for (unsigned q = 0; q < nqueues; q++) {
		ret = rte_eth_rx_queue_setup(dc.e.port_id, (uint16_t)q, rxd,
					     (unsigned)rte_eth_dev_socket_id(dc.e.port_id), &rxconf,
					     dc.pool);
		if (!ret)
			ret = rte_eth_tx_queue_setup(dc.e.port_id, (uint16_t)q, txd,
						     (unsigned)rte_eth_dev_socket_id(dc.e.port_id),
						     NULL);
		if (ret) {
			snprintf(err, errlen,
				 "port %u (%s): queue %u setup: %s (rxd=%u, mbufs=%u; %s)",
				 dc.e.port_id, info.driver_name, q, strerror(-ret), rxd, dc.mbufs,
				 strstr(info.driver_name, "af_xdp")
					 ? "net_af_xdp's own lines above say why: an interface whose "
					   "MTU (or its veth peer's) is above what XDP takes without "
					   "multi-buffer, about 3500 bytes, or a UMEM it could not make; "
					   "it also wants 2048 mbufs per queue plus burst="
					 : "the pool must hold rxd= per queue and the bursts in flight: "
					   "a smaller rxd= or more mbufs= may help");
			return ret;
		}
	}
	ret = rte_eth_dev_start(dc.e.port_id);
	if (ret) {
		snprintf(err, errlen, "port %u (%s): start: %s", dc.e.port_id, info.driver_name,
			 strerror(-ret));
		return ret;
	}
	dc.started = true;
	tap_watch(&info);
	/* Frames for the server's MAC are what we want; promiscuous for vdevs that care.
	 * net_af_xdp sets IFF_PROMISC on the kernel's interface: teardown takes it off
	 * again unless it was on before. */
	dc.promisc_was_on = rte_eth_promiscuous_get(dc.e.port_id) == 1;
	rte_eth_promiscuous_enable(dc.e.port_id);
	return 0;
}

/* The value of key= in a vdev's spec ("net_af_xdp0,iface=lg0,..."), or def. */
static unsigned vdev_uint(const char *spec, const char *key, unsigned def)
{
	char pat[32];
	const char *p;

	snprintf(pat, sizeof(pat), ",%s=", key);
	p = strstr(spec, pat);
	return p ? (unsigned)strtoul(p + strlen(pat), NULL, 10) : def;
}

static void vdev_str(const char *spec, const char *key, char *out, size_t outlen)
{
	char pat[32];
	const char *p;
	size_t n;

	snprintf(pat, sizeof(pat), ",%s=", key);
	out[0] = 0;
	p = strstr(spec, pat);
	if (!p)
		return;
	p += strlen(pat);
	n = strcspn(p, ",");
	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), p);
}

/* The combined channels of ifname as net_af_xdp counts them (no channels, or none
 * combined as on a veth: 1); *none says that ethtool -l shows none (Combined: n/a or 0). */
static int combined_channels(const char *ifname, bool *none)
{
	unsigned comb, rx;

	*none = lg_backend_channels(ifname, &comb, &rx) || !comb;
	return *none ? 1 : (int)comb;
}

/*
 * What DPDK would accept but linegate must not run with (H2 of trial D): a net_af_xdp vdev
 * reads the RX queues start_queue .. start_queue + workers - 1 of its interface, and XDP
 * passes what any other queue receives to the kernel, where nobody listens: lost without a
 * counter of ours (the kernel's Udp NoPorts). As the afxdp backend, refuse an interface
 * with more RX queues than that, and say the mbuf floor and the channel count before EAL
 * turns them into "Invalid argument" and "no DPDK port".
 */
static int af_xdp_check(unsigned nqueues, char *err, size_t errlen)
{
	for (unsigned i = 0; i < dc.e.nvdevs; i++) {
		const char *spec = dc.e.vdev[i];
		unsigned start, count, need;
		char ifname[IF_NAMESIZE + 1];
		int nrx, comb;
		bool none;

		if (strncmp(spec, "net_af_xdp", 10) && strncmp(spec, "eth_af_xdp", 10))
			continue;
		vdev_str(spec, "iface", ifname, sizeof(ifname));
		if (!ifname[0])
			continue; /* DPDK says iface= is missing */
		start = vdev_uint(spec, "start_queue", 0);
		count = vdev_uint(spec, "queue_count", 1);
		need = nqueues * (AF_XDP_FILL + dc.burst);
		if (dc.mbufs < need) {
			snprintf(err, errlen,
				 "mbufs=%u is too few for net_af_xdp: it fills each RX queue's ring "
				 "with %u mbufs at setup (whatever rxd= says) and an rx burst takes "
				 "burst=%u more: mbufs= at least %u (%u queue(s) x (%u + %u))",
				 dc.mbufs, AF_XDP_FILL, dc.burst, need, nqueues, AF_XDP_FILL,
				 dc.burst);
			return -EINVAL;
		}
		comb = combined_channels(ifname, &none);
		if (count > (unsigned)comb) {
			/* In ethtool -l's words (trial s20 I L5: "1 combined channel(s)" on a veth
			 * whose ethtool -l says Combined: n/a). */
			if (none)
				snprintf(err, errlen,
					 "net_af_xdp on %s: queue_count=%u, but net_af_xdp reads only "
					 "combined channels, and %s has none (ethtool -l %s: "
					 "Combined n/a or 0, as on a veth), which net_af_xdp takes as "
					 "one queue: queue_count=1, and give %s one RX queue (a veth: "
					 "ethtool -L %s rx 1 tx 1)",
					 ifname, count, ifname, ifname, ifname, ifname);
			else
				snprintf(err, errlen,
					 "net_af_xdp on %s: queue_count=%u, but net_af_xdp reads only "
					 "combined channels, and %s has %d (ethtool -l %s: Combined %d): "
					 "queue_count=%d at most, or more channels (ethtool -L %s "
					 "combined %u)",
					 ifname, count, ifname, comb, ifname, comb, comb, ifname, count);
			return -EINVAL;
		}
		nrx = lg_backend_rx_queues(ifname);
		if (nrx <= 0)
			continue; /* no such interface: DPDK says so */
		if (start || (unsigned)nrx > nqueues) {
			snprintf(err, errlen,
				 "%s has %d RX queues and net_af_xdp reads %u of them (start_queue=%u, "
				 "%u worker(s)): what arrives on the others goes to the kernel, where "
				 "nobody listens, counted nowhere of linegate's. Read every queue: "
				 "start_queue=0, queue_count=%d and --workers %d; or give %s fewer "
				 "queues (ethtool -L %s combined %u; a veth: ethtool -L %s rx %u tx %u, "
				 "and its peer's tx too)",
				 ifname, nrx, nqueues, start, nqueues, nrx, nrx, ifname, ifname,
				 nqueues, ifname, nqueues, nqueues);
			return -EXFULL;
		}
	}
	return 0;
}

static int dpdk_setup(const struct lg_backend_conf *conf, char *err, size_t errlen)
{
	unsigned mbufs;
	int ret;

	ret = parse_opts(conf->opts, err, errlen);
	if (ret)
		return ret;
	ret = af_xdp_check(conf->nqueues, err, errlen);
	if (ret)
		return ret;
	if (!dc.eof_ms && finite_source())
		dc.eof_ms = 500;
	ret = lg_dpdk_eal_init(&dc.e, "linegate", "linegate",
			       " (no hugepages? add nohuge, or reserve them: docs/operations.md)",
			       err, errlen);
	if (ret)
		return ret;
	if (!dc.e.port_set && rte_eth_dev_count_avail())
		RTE_ETH_FOREACH_DEV(dc.e.port_id) break;
	dc.nqueues = conf->nqueues;
	/* A pool must hold every RX descriptor plus the bursts in flight. */
	mbufs = dc.mbufs;
	dc.pool = rte_pktmbuf_pool_create("lg_rx", mbufs, mbufs >= 512 ? 256 : 0, 0,
					  (uint16_t)dc.mbuf_size, (int)rte_socket_id());
	if (!dc.pool) {
		snprintf(err, errlen, "mbuf pool of %u: %s (fewer mbufs=, or more mem=)", mbufs,
			 rte_strerror(rte_errno));
		ret = -ENOMEM;
		goto err_eal;
	}
	ret = port_setup(conf->nqueues, err, errlen);
	if (ret)
		goto err_port;
	return 0;

err_port:
	if (dc.started)
		rte_eth_dev_stop(dc.e.port_id);
	if (rte_eth_dev_is_valid_port(dc.e.port_id))
		rte_eth_dev_close(dc.e.port_id);
	rte_mempool_free(dc.pool);
	dc.pool = NULL;
err_eal:
	rte_eal_cleanup();
	return ret;
}

static void dpdk_teardown(void)
{
	if (dc.started) {
		/* Without CAP_NET_ADMIN (--user) this fails: docs/operations.md says how to
		 * take it off by hand. */
		if (!dc.promisc_was_on)
			rte_eth_promiscuous_disable(dc.e.port_id);
		rte_eth_dev_stop(dc.e.port_id);
		rte_eth_dev_close(dc.e.port_id);
		dc.started = false;
	}
	rte_mempool_free(dc.pool);
	dc.pool = NULL;
	rte_eal_cleanup();
}

static int dpdk_open(struct lg_backend **out, const struct lg_backend_conf *conf, char *err,
		     size_t errlen)
{
	struct lg_backend *b;

	/* Fail closed: without admission nothing may pass. */
	if (!conf->uadmit) {
		snprintf(err, errlen, "no user-space admission to judge frames with");
		return -EINVAL;
	}
	if (conf->queue >= dc.nqueues) {
		snprintf(err, errlen, "queue %u: the port has %u", conf->queue, dc.nqueues);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->queue = (uint16_t)conf->queue;
	b->port = conf->port;
	b->port2 = conf->port2;
	b->ua = conf->uadmit;
	b->parse_flags = dc.csum ? LG_PARSE_CSUM : 0;
	b->last_rx_ns = now_ns();
	*out = b;
	return 0;
}

static void dpdk_close(struct lg_backend *b)
{
	free(b);
}

/*
 * The checksum as the NIC saw it: 1 good, 0 bad, -1 not checked (software must). NONE
 * means the data is intact though the field is not (offloaded transmit on a local link).
 */
static int hw_csum_state(const struct rte_mbuf *m)
{
	switch (m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
	case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
	case RTE_MBUF_F_RX_L4_CKSUM_NONE:
		return 1;
	case RTE_MBUF_F_RX_L4_CKSUM_BAD:
		return 0;
	default:
		return -1;
	}
}

/* One admitted frame into a packet view; 0, or the reason the parser refuses it. */
static enum lg_reason to_view(struct lg_backend *b, struct rte_mbuf *m, uint64_t now,
			      struct lg_rx_pkt *pkt)
{
	unsigned flags = b->parse_flags;
	enum lg_reason r;

	if (flags && dc.hw_csum) {
		int c = hw_csum_state(m);

		if (!c)
			return LG_DROP_BAD_CHECKSUM;
		if (c > 0)
			flags &= ~LG_PARSE_CSUM;
	}
	r = lg_backend_parse_frame(rte_pktmbuf_mtod(m, const uint8_t *), rte_pktmbuf_data_len(m),
				   b->port, b->port2, flags, pkt);
	/* DPDK: arrival is the rx burst that took it from the NIC ring (the PMDs tests use
	 * fill no rx timestamp), documented in operations.md "Latency". */
	pkt->rx_ns = now;
	pkt->arrival_ns = now;
	return r;
}

static int dpdk_rx_burst(struct lg_backend *b, struct lg_rx_pkt *pkts, unsigned max,
			 int timeout_ms)
{
	struct rte_mbuf *mb[MAX_BURST];
	const uint8_t *frames[MAX_BURST];
	uint32_t lens[MAX_BURST];
	struct lg_admit_verdict v[MAX_BURST];
	uint64_t start = now_ns(), now;
	unsigned want, out = 0;
	uint16_t n;

	if (max > MAX_BURST)
		max = MAX_BURST; /* b->held[] */
	want = max < dc.burst ? max : dc.burst;

	if (!b->registered) {
		/* An lcore id gives this thread the mempool's per-lcore cache. Without one
		 * (all taken) rx still works, through the pool's shared ring. */
		rte_thread_register();
		b->registered = true;
	}
	for (;;) {
		n = rte_eth_rx_burst(dc.e.port_id, b->queue, mb, (uint16_t)want);
		now = now_ns();
		if (n)
			break;
		if (dc.eof_ms && now - b->last_rx_ns >= (uint64_t)dc.eof_ms * 1000000ull) {
			__atomic_store_n(&b->eof_wait_ns, now - b->last_rx_ns, __ATOMIC_RELAXED);
			return LG_RX_EOF;
		}
		/* Busy poll, but come back to the worker for its deadlines and stop flag. */
		if (now - start >= (uint64_t)(timeout_ms > 0 ? timeout_ms : 1) * 1000000ull)
			return 0;
		if (dc.sleep_us) {
			struct timespec ts = {0, (long)dc.sleep_us * 1000};

			nanosleep(&ts, NULL);
		} else {
			rte_pause();
		}
	}
	b->last_rx_ns = now;
	for (;;) {
		uint16_t whole = 0;

		for (uint16_t i = 0; i < n; i++) {
			/*
			 * A frame longer than an mbuf's data room comes as a chain of segments
			 * (net_pcap reads a jumbo frame so): admission would judge its first
			 * segment, whose IP length runs past it, as malformed (trial s20 I L1:
			 * valid 8 972-byte LGF frames counted admission.malformed). It is too big
			 * for these mbufs, counted so, once, before admission; mbuf_size= lifts
			 * it (docs/operations.md, "Frame sizes").
			 */
			if (mb[i]->nb_segs > 1) {
				__atomic_fetch_add(&b->refused[LG_DROP_TOO_BIG], 1, __ATOMIC_RELAXED);
				rte_pktmbuf_free(mb[i]);
				continue;
			}
			mb[whole] = mb[i];
			frames[whole] = rte_pktmbuf_mtod(mb[i], const uint8_t *);
			lens[whole] = rte_pktmbuf_data_len(mb[i]);
			whole++;
		}
		lg_uadmit_judge_burst(b->ua, b->queue, frames, lens, whole, now, v);
		for (uint16_t i = 0; i < whole; i++) {
			enum lg_reason r;

			/* A frame that is not ours is counted by admission (not_ours) and only
			 * there: `not_ours: pass` passes it to the kernel stack under XDP, and here
			 * there is none, so it never reaches a worker (which would count it a
			 * second time). */
			if (!v[i].pass || v[i].reason == LG_R_NOT_OURS) {
				rte_pktmbuf_free(mb[i]); /* counted by admission, under its reason */
				continue;
			}
			r = to_view(b, mb[i], now, &pkts[out]);
			if (r != LG_OK) {
				__atomic_fetch_add(&b->refused[r], 1, __ATOMIC_RELAXED);
				rte_pktmbuf_free(mb[i]);
				continue;
			}
			b->held[out] = mb[i];
			pkts[out].buf_id = out;
			out++;
		}
		/*
		 * A full PMD burst may have left frames in the queue: read on while there is room,
		 * so that fewer than max frames out means the queue was found empty. The worker
		 * takes a short return as "caught up" (worker.c), which the reorder stage's
		 * give-up of a gap relies on; burst= (32) under the worker's 64, or frames
		 * admission refused, made every return short (helper A, s19).
		 */
		if (n < want || out >= max)
			break;
		want = max - out < dc.burst ? max - out : dc.burst;
		n = rte_eth_rx_burst(dc.e.port_id, b->queue, mb, (uint16_t)want);
		if (!n)
			break;
		now = now_ns();
		b->last_rx_ns = now;
	}
	return (int)out;
}

static void dpdk_release(struct lg_backend *b, const struct lg_rx_pkt *pkts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		rte_pktmbuf_free(b->held[pkts[i].buf_id]);
		b->held[pkts[i].buf_id] = NULL;
	}
}

/*
 * The port's losses are per port (imissed, rx_nombuf, ierrors): queue 0 reports them, so
 * that the sum over workers counts each once.
 */
#ifndef AF_XDP
#define AF_XDP 44
#endif

/*
 * net_af_xdp (DPDK 22.11) reports the kernel's rx_dropped as imissed but leaves out the
 * frames the kernel dropped because the socket's RX ring was full. Its AF_XDP sockets are
 * file descriptors of this process: read their XDP_STATISTICS ourselves and count the
 * ring-full drops (every AF_XDP socket here is the PMD's: linegate opens none with dpdk).
 */
static uint64_t xsk_ring_full(void)
{
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct xdp_statistics xs = { 0 };
		socklen_t len = sizeof(int);
		int fd = atoi(de->d_name), dom = 0;

		if (de->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) || dom != AF_XDP)
			continue;
		len = sizeof(xs);
		if (!getsockopt(fd, SOL_XDP, XDP_STATISTICS, &xs, &len))
			sum += xs.rx_ring_full;
	}
	closedir(d);
	return sum;
}

static void dpdk_stats(struct lg_backend *b, struct lg_backend_stats *st)
{
	struct rte_eth_stats es;

	for (int r = 0; r < LG_REASON_MAX; r++)
		st->drops[r] += __atomic_load_n(&b->refused[r], __ATOMIC_RELAXED);
	st->eof_wait_ns = __atomic_load_n(&b->eof_wait_ns, __ATOMIC_RELAXED);
	if (b->queue || rte_eth_stats_get(dc.e.port_id, &es))
		return;
	st->drops[LG_DROP_RX_RING_FULL] += es.imissed;
	if (strstr(dc.driver, "af_xdp"))
		st->drops[LG_DROP_RX_RING_FULL] += xsk_ring_full();
	st->drops[LG_DROP_RX_RING_FULL] += tap_dropped();
	st->drops[LG_DROP_NO_BUFFER] += es.rx_nombuf;
	st->drops[LG_DROP_RX_ERROR] += es.ierrors;
}

static void dpdk_describe(struct lg_backend *b, char *buf, size_t len)
{
	snprintf(buf, len, "port %u (%s), queue %u of %u%s, UDP checksum %s, %u mbufs%s",
		 dc.e.port_id, dc.driver, b->queue, dc.nqueues,
		 dc.nqueues < 2 ? ""
		 : dc.rss       ? " (RSS over UDP ports; frames handed to their device's worker)"
				: " (no RSS: frames handed to their device's worker)",
		 !dc.csum ? "not checked" : dc.hw_csum ? "by the NIC" : "in software", dc.mbufs,
		 dc.eof_ms ? ", finite source" : "");
}

const struct lg_backend_ops lg_backend_dpdk = {
	.name = "dpdk",
	.repeatable = lg_dpdk_eal_repeatable,
	.flags = LG_BACKEND_F_USER_ADMIT,
	.setup = dpdk_setup,
	.teardown = dpdk_teardown,
	.open = dpdk_open,
	.rx_burst = dpdk_rx_burst,
	.release = dpdk_release,
	.close = dpdk_close,
	.stats = dpdk_stats,
	.describe = dpdk_describe,
	.finite = dpdk_finite,
	.help = "dpdk: a DPDK port, RX queue = worker index (RSS over UDP ports where the port\n"
		"has it; net_pcap: one rx_pcap= per queue), every frame judged by the user-space\n"
		"admission (the XDP decision); a device's frames reach its worker, in sequence\n"
		"order, whichever queue they arrive on.\n"
		"Options: port=N (default: the first), pci=BDF (repeatable), vdev=SPEC\n"
		"(repeatable; ';' inside SPEC stands for DPDK's ',', e.g.\n"
		"vdev=net_pcap0;rx_pcap=f.pcap), nohuge, mem=MB (1024 with nohuge), lcores=LIST\n"
		"(EAL's main lcore, default 0), mbufs=N (64.., default 8191; net_af_xdp\n"
		"wants queues x (2048 + burst)), mbuf_size=BYTES (an mbuf's data room, 2176..\n"
		"65535, default 2176: frames up to 2048 bytes; 9344 for jumbo frames up to 9216,\n"
		"longer ones are too_big), rxd=N (RX descriptors, 1024), burst=N (1..64,\n"
		"32), csum=on|off, sleep=US (after an empty poll; default busy poll),\n"
		"eof=MS (end of stream after MS without a frame; 500 for a net_pcap rx_pcap),\n"
		"log=LEVEL (EAL log level 1..8, default 5), eal='ARGS' (more EAL arguments).",
};
