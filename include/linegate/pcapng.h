/* SPDX-License-Identifier: MIT */
/*
 * The pcapng blocks linegate writes when it records admitted frames (docs/recording.md):
 * one Section Header Block, one Interface Description Block (LINKTYPE_ETHERNET, if_tsresol
 * 9: nanoseconds), then one Enhanced Packet Block per frame. libpcap 1.10 reads pcapng but
 * cannot write it, hence these few functions. Blocks are little-endian whatever the host,
 * so that a recording is the same bytes everywhere (a reader takes either order).
 */
#ifndef LINEGATE_PCAPNG_H
#define LINEGATE_PCAPNG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LG_PCAPNG_HEADER_LEN 60 /* SHB (28) + IDB (32) */
#define LG_PCAPNG_SNAPLEN 262144

/* Ethernet + IPv4 or IPv6 + UDP header bytes in front of a datagram of family. */
static inline uint32_t lg_pcapng_l2_len(int family)
{
	return family == AF_INET6 ? 14 + 40 + 8 : 14 + 20 + 8;
}

/* An EPB holding a frame of caplen bytes: 32 bytes of block around the padded frame. */
static inline size_t lg_pcapng_epb_len(uint32_t caplen)
{
	return 32 + (((size_t)caplen + 3) & ~(size_t)3);
}

/* A whole Ethernet frame of len bytes (at most LG_PCAPNG_SNAPLEN) in an EPB at ts_ns: buf
 * holds lg_pcapng_epb_len(len) bytes; returns that length. */
size_t lg_pcapng_epb(uint8_t *buf, uint64_t ts_ns, const uint8_t *frame, uint32_t len);

/* SHB and IDB into buf (LG_PCAPNG_HEADER_LEN bytes); returns that length. */
size_t lg_pcapng_header(uint8_t *buf);

/*
 * A UDP datagram as an Ethernet frame in an EPB at ts_ns (wall time, ns since the epoch):
 * zero MAC addresses, an IPv4 (DF, TTL 64) or IPv6 (hop limit 64) header and a UDP header
 * with correct checksums for src:sport -> dst:dport (addresses in network order, 4 or 16
 * bytes as family AF_INET / AF_INET6). buf holds lg_pcapng_epb_len(lg_pcapng_l2_len(family)
 * + len) bytes; returns that length, or 0 when the datagram is too long for a UDP header
 * (len > 65507 for IPv4, 65527 for IPv6).
 */
size_t lg_pcapng_udp_epb(uint8_t *buf, uint64_t ts_ns, int family, const uint8_t *src,
			 uint16_t sport, const uint8_t *dst, uint16_t dport, const uint8_t *payload,
			 uint32_t len);

#endif /* LINEGATE_PCAPNG_H */
