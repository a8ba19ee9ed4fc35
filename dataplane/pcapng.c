// SPDX-License-Identifier: MIT
/*
 * A minimal pcapng writer (include/linegate/pcapng.h): libpcap 1.10 writes only the old
 * pcap format, whose microsecond (or nanosecond-magic) records carry no interface
 * description; the recording format is pcapng with nanosecond times, and three block
 * types are all it needs.
 */
#include <linegate/pcapng.h>

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t lg_pcapng_header(uint8_t *buf)
{
	uint8_t *i = buf + 28;

	memset(buf, 0, LG_PCAPNG_HEADER_LEN);
	/* Section Header Block: byte-order magic, version 1.0, section length unknown (-1). */
	le32(buf, 0x0A0D0D0A);
	le32(buf + 4, 28);
	le32(buf + 8, 0x1A2B3C4D);
	le16(buf + 12, 1);
	le16(buf + 14, 0);
	memset(buf + 16, 0xff, 8);
	le32(buf + 24, 28);
	/* Interface Description Block: LINKTYPE_ETHERNET, snaplen, if_tsresol = 9 (10^-9 s),
	 * opt_endofopt. */
	le32(i, 1);
	le32(i + 4, 32);
	le16(i + 8, 1);
	le32(i + 12, LG_PCAPNG_SNAPLEN);
	le16(i + 16, 9);
	le16(i + 18, 1);
	i[20] = 9;
	le32(i + 28, 32);
	return LG_PCAPNG_HEADER_LEN;
}

/* The EPB around cap bytes of frame, which the caller writes at buf + 28. */
static size_t epb_head(uint8_t *buf, uint64_t ts_ns, uint32_t cap)
{
	size_t total = lg_pcapng_epb_len(cap);

	memset(buf, 0, total);
	le32(buf, 6);
	le32(buf + 4, (uint32_t)total);
	le32(buf + 8, 0); /* interface 0 */
	le32(buf + 12, (uint32_t)(ts_ns >> 32));
	le32(buf + 16, (uint32_t)ts_ns);
	le32(buf + 20, cap);
	le32(buf + 24, cap);
	le32(buf + total - 4, (uint32_t)total);
	return total;
}

size_t lg_pcapng_epb(uint8_t *buf, uint64_t ts_ns, const uint8_t *frame, uint32_t len)
{
	size_t total = epb_head(buf, ts_ns, len);

	memcpy(buf + 28, frame, len);
	return total;
}

/* The ones' complement sum of len bytes (RFC 1071), folded later. */
static uint32_t sum16(uint32_t s, const uint8_t *p, size_t len)
{
	for (; len > 1; p += 2, len -= 2)
		s += (uint32_t)p[0] << 8 | p[1];
	if (len)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

size_t lg_pcapng_udp_epb(uint8_t *buf, uint64_t ts_ns, int family, const uint8_t *src,
			 uint16_t sport, const uint8_t *dst, uint16_t dport, const uint8_t *payload,
			 uint32_t len)
{
	bool v6 = family == AF_INET6;
	uint32_t l2 = v6 ? 14 + 40 + 8 : 14 + 20 + 8, cap = l2 + len, alen = v6 ? 16 : 4;
	uint8_t *f = buf + 28, *ip = f + 14, *udp = ip + (v6 ? 40 : 20);
	size_t total;
	uint32_t s;

	if (len > (v6 ? 65527u : 65507u))
		return 0;
	total = epb_head(buf, ts_ns, cap);
	/* Ethernet: both MAC addresses zero (the datagram's own are not known to a socket). */
	be16(f + 12, v6 ? 0x86DD : 0x0800);
	if (v6) {
		ip[0] = 0x60;
		be16(ip + 4, (uint16_t)(8 + len));
		ip[6] = 17;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	} else {
		ip[0] = 0x45;
		be16(ip + 2, (uint16_t)(20 + 8 + len));
		be16(ip + 6, 0x4000); /* DF */
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		be16(ip + 10, fold(sum16(0, ip, 20)));
	}
	be16(udp, sport);
	be16(udp + 2, dport);
	be16(udp + 4, (uint16_t)(8 + len));
	memcpy(udp + 8, payload, len);
	/* Pseudo-header (addresses, protocol, UDP length), then header and data. */
	s = sum16(0, src, alen);
	s = sum16(s, dst, alen);
	s += 17 + 8 + len;
	s = sum16(s, udp, 8 + (size_t)len);
	s = fold(s);
	be16(udp + 6, s ? (uint16_t)s : 0xffff); /* 0 means "no checksum" in UDP */
	return total;
}
