/* SPDX-License-Identifier: MIT */
/* The backends the registry knows; each is compiled when its meson feature is on. */
#ifndef LG_BACKENDS_H
#define LG_BACKENDS_H

#include <linegate/backend.h>

extern const struct lg_backend_ops lg_backend_uring;
extern const struct lg_backend_ops lg_backend_afxdp;
extern const struct lg_backend_ops lg_backend_pcap;
extern const struct lg_backend_ops lg_backend_dpdk;

#endif /* LG_BACKENDS_H */
