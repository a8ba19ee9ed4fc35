/* SPDX-License-Identifier: MIT */
/* The backends the registry knows; each is compiled when its meson feature is on. */
#ifndef LG_BACKENDS_H
#define LG_BACKENDS_H

#include <linegate/backend.h>

extern const struct lg_backend_ops lg_backend_uring;
extern const struct lg_backend_ops lg_backend_afxdp;
extern const struct lg_backend_ops lg_backend_pcap;
extern const struct lg_backend_ops lg_backend_dpdk;

/*
 * The RX queues of interface ifname in this process's network namespace (its channels in
 * use, which follow `ethtool -L`; else rtnetlink's IFLA_NUM_RX_QUEUES), or -errno (-ENODEV:
 * no such interface). A queue that no socket of linegate's reads hands what it
 * receives to the kernel, where nobody listens: afxdp and dpdk's net_af_xdp refuse that.
 */
int lg_backend_rx_queues(const char *ifname);
/* The interface's channels in use (`ethtool -l`: ETHTOOL_GCHANNELS, in this process's
 * network namespace): combined and rx-only. 0, or -errno (-EOPNOTSUPP: none reported). */
int lg_backend_channels(const char *ifname, unsigned *combined, unsigned *rx);

#endif /* LG_BACKENDS_H */
