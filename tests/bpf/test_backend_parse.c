// SPDX-License-Identifier: MIT
/*
 * The whole-frame parser every backend that sees frames uses (lg_backend_parse_frame(),
 * include/linegate/backend.h: afxdp, dpdk, pcap) on what the XDP admission program
 * redirects: it must find the UDP payload and the sender behind VLAN tags and the IPv6
 * extension headers XDP walks, at the same place as the admission parser does, refuse
 * what XDP refuses, and check UDP checksums as the kernel does. No kernel needed.
 */
#include <linegate/backend.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "admit_testlib.h"
#include "../lgt_cli.h"

static int fails;

#define UADP_PORT 4840

static const struct lg_admit_entry D6 = {
    6, {.mac = {2, 0, 0, 0, 0, 6}, .family = 6, .addr = {0xfd, 0, [15] = 6}, .src_port = 40006}};
static const struct lg_admit_entry D1 = {
    1, {.mac = {2, 0, 0, 0, 0, 1}, .family = 4, .addr = {10, 0, 0, 1}, .src_port = 40001}};

static void set_ext(struct lgt_pkt *p, int n, const lg_u8 *type, const lg_u8 *hlen)
{
	p->next = n;
	for (int i = 0; i < n; i++) {
		p->ext_type[i] = type[i];
		p->ext_hlen[i] = hlen[i];
	}
}

/* want LG_OK: the worker takes it, and finds what the admission parser found; else the
 * reason it is refused for. */
static void check(const char *what, const struct lgt_pkt *p, enum lg_reason want)
{
	int ok = want == LG_OK;
	struct lg_admit_cfg cfg = {
	    .generation = 1, .lgf_port = LGF_DEFAULT_PORT, .uadp_port = UADP_PORT};
	struct lg_admit_pkt ap = {0};
	struct lg_rx_pkt rx = {0};
	lg_u8 f[LGT_FRAME_MAX];
	size_t len = lgt_build(p, f, sizeof(f));
	const lg_u8 *udp;
	int rc, arc;

	if (!len) {
		fprintf(stderr, "FAIL %s: frame does not fit\n", what);
		fails++;
		return;
	}
	rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT, 0, &rx);
	if (rc != (int)want) {
		fprintf(stderr, "FAIL %s: parse %s, want %s\n", what, lg_reason_name(rc),
			lg_reason_name(want));
		fails++;
		return;
	}
	if (!ok)
		return;
	/* Where the admission parser puts the UDP payload (UADP: payload_off). */
	arc = lg_admit_parse_frame(f, f + len, &cfg, &ap);
	udp = f + len - p->eth_pad - p->lgf_len;
	if ((arc != LG_R_ADMITTED && arc != LG_ADMIT_RC_UADP) || rx.data != udp ||
	    (arc == LG_ADMIT_RC_UADP && rx.data != f + ap.payload_off) || rx.len != p->lgf_len ||
	    rx.src_port != p->sport || rx.port_idx != (p->dport == UADP_PORT) ||
	    rx.family != (p->ethertype == LG_ETH_P_IPV6 ? AF_INET6 : AF_INET) ||
	    memcmp(rx.src_addr, p->src_ip, rx.family == AF_INET6 ? 16 : 4)) {
		fprintf(stderr,
			"FAIL %s: admission %d, payload at %td len %u port %u idx %u family %u, "
			"want at %td len %u port %u\n",
			what, arc, rx.data - f, rx.len, rx.src_port, rx.port_idx, rx.family,
			udp - f, p->lgf_len, p->sport);
		fails++;
	}
}

/* The UDP checksum written the plain way: 16-bit words of pseudo header and datagram. */
static void set_csum(lg_u8 *f, size_t len, int v6, size_t l3, size_t udp)
{
	size_t ulen = (size_t)(f[udp + 4] << 8 | f[udp + 5]);
	uint32_t sum = 0;
	lg_u8 buf[4096];
	size_t n = 0;

	if (v6) {
		memcpy(buf, f + l3 + 8, 32);
		n = 32;
	} else {
		memcpy(buf, f + l3 + 12, 8);
		n = 8;
	}
	buf[n++] = 0;
	buf[n++] = 17;
	buf[n++] = (lg_u8)(ulen >> 8);
	buf[n++] = (lg_u8)ulen;
	f[udp + 6] = f[udp + 7] = 0;
	memcpy(buf + n, f + udp, ulen);
	n += ulen;
	if (n & 1)
		buf[n++] = 0;
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)(buf[i] << 8 | buf[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	if (!sum)
		sum = 0xffff; /* 0 means 'none' */
	f[udp + 6] = (lg_u8)(sum >> 8);
	f[udp + 7] = (lg_u8)sum;
	(void)len;
}

static void check_csum(const char *what, struct lgt_pkt *p, int v6)
{
	struct lg_rx_pkt rx = {0};
	lg_u8 f[LGT_FRAME_MAX];
	size_t len = lgt_build(p, f, sizeof(f));
	size_t l3 = 14 + 4u * (size_t)p->vlans, udp = len - p->eth_pad - p->lgf_len - 8;
	int rc;

	/* No checksum (0): fine over IPv4, refused over IPv6, as in the kernel. */
	f[udp + 6] = f[udp + 7] = 0;
	rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT, LG_PARSE_CSUM,
				    &rx);
	if (rc != (v6 ? LG_DROP_BAD_CHECKSUM : LG_OK)) {
		fprintf(stderr, "FAIL %s: no checksum gave %s\n", what, lg_reason_name(rc));
		fails++;
	}
	set_csum(f, len, v6, l3, udp);
	rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT, LG_PARSE_CSUM,
				    &rx);
	if (rc != LG_OK) {
		fprintf(stderr, "FAIL %s: right checksum gave %s\n", what, lg_reason_name(rc));
		fails++;
	}
	/* Every byte the checksum covers, flipped one at a time, is caught. */
	for (size_t i = udp; i < len - p->eth_pad; i++) {
		f[i] ^= 0x10;
		rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT,
					    LG_PARSE_CSUM, &rx);
		if (rc == LG_OK) {
			fprintf(stderr, "FAIL %s: byte %zu flipped passes\n", what, i - udp);
			fails++;
			f[i] ^= 0x10;
			break;
		}
		f[i] ^= 0x10;
	}
	/* The IPv4 header checksum: the TTL is in no UDP sum, only in the header's own; it is
	 * checked with the flag or without (the admission parser's, as XDP judges it). */
	if (!v6) {
		f[l3 + 8] ^= 1;
		for (unsigned fl = 0; fl <= LG_PARSE_CSUM; fl += LG_PARSE_CSUM) {
			rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT,
						    fl, &rx);
			if (rc != LG_DROP_BAD_CHECKSUM) {
				fprintf(stderr, "FAIL %s: a bad IPv4 header checksum gave %s (flags "
					"%u)\n", what, lg_reason_name(rc), fl);
				fails++;
			}
		}
		f[l3 + 8] ^= 1;
	}
	/* The source address too (pseudo header); without the flag the UDP sum is not checked
	 * (an IPv4 header's still is). */
	f[l3 + (v6 ? 8 : 12)] ^= 1;
	rc = lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT, LG_PARSE_CSUM,
				    &rx);
	if (rc != LG_DROP_BAD_CHECKSUM || lg_backend_parse_frame(f, (uint32_t)len,
			LGF_DEFAULT_PORT, UADP_PORT, 0, &rx) != (v6 ? LG_OK : LG_DROP_BAD_CHECKSUM)) {
		fprintf(stderr, "FAIL %s: source address flipped gave %s\n", what,
			lg_reason_name(rc));
		fails++;
	}
}

static const char usage[] =
    "Usage: test_backend_parse [options]\n"
    "\n"
    "The backends' whole-frame parser on frames the XDP admission program redirects\n"
    "(VLAN tags, IPv6 extension headers, UADP), on some it refuses, and UDP checksums.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: failures on stderr, then \"N failed checks\".\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static const lg_u8 four[] = {0, 60, 43, 51}, four_len[] = {3, 0, 2, 4};
	static const lg_u8 five[] = {0, 60, 43, 51, 60}, zero[6] = {0};
	static const lg_u8 hbh[] = {0}, frag[] = {44}, big[] = {30, 12, 20, 60};
	static const lg_u8 uadp[24] = {0x71};
	struct lgt_pkt p;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_pkt_from(&p, &D1, 1, 1);
	check("IPv4", &p, LG_OK);
	p.vlans = 2;
	p.tpid[0] = LG_ETH_P_8021AD;
	p.tpid[1] = LG_ETH_P_8021Q;
	check("QinQ IPv4", &p, LG_OK);
	lgt_pkt_from(&p, &D6, 6, 1);
	check("IPv6", &p, LG_OK);
	set_ext(&p, 1, hbh, zero);
	check("IPv6, HBH", &p, LG_OK);
	p.vlans = 1;
	p.tpid[0] = LG_ETH_P_8021Q;
	check("802.1Q IPv6, HBH", &p, LG_OK);
	p.vlans = 0;
	set_ext(&p, 4, four, four_len);
	check("IPv6, four headers", &p, LG_OK);
	p.eth_pad = 30;
	check("IPv6, four headers, Ethernet padding", &p, LG_OK);
	p.eth_pad = 0;
	p.dport = UADP_PORT;
	p.raw = uadp;
	p.lgf_len = sizeof(uadp);
	set_ext(&p, 4, four, big);
	check("IPv6, 728 bytes of headers, UADP port", &p, LG_OK);

	lgt_pkt_from(&p, &D6, 6, 1);
	set_ext(&p, 5, five, zero);
	check("IPv6, five headers", &p, LG_DROP_MALFORMED);
	set_ext(&p, 1, frag, zero);
	check("IPv6, fragment", &p, LG_DROP_FRAGMENT);
	set_ext(&p, 1, hbh, zero);
	p.ip_proto = 58;
	check("IPv6, HBH + ICMPv6", &p, LG_DROP_NOT_OURS);
	p.ip_proto = LG_IPPROTO_UDP;
	p.eth_pad = 64;
	p.ip_len_delta = -(int)(8 + LG_UDP_HLEN + p.lgf_len) + 4;
	check("IPv6, payload length inside HBH", &p, LG_DROP_MALFORMED);
	p.eth_pad = 0;
	p.ip_len_delta = 1;
	check("IPv6, payload length beyond the frame", &p, LG_DROP_MALFORMED);

	lgt_pkt_from(&p, &D1, 1, 1);
	check_csum("IPv4 checksum", &p, 0);
	p.lgf_len += 1; /* odd length: the last byte is padded with a zero */
	check_csum("IPv4 checksum, odd length", &p, 0);
	lgt_pkt_from(&p, &D1, 1, 1);
	p.vlans = 1;
	p.tpid[0] = LG_ETH_P_8021Q;
	p.eth_pad = 20;
	check_csum("802.1Q IPv4 checksum, padding", &p, 0);
	lgt_pkt_from(&p, &D6, 6, 1);
	check_csum("IPv6 checksum", &p, 1);
	{
		struct lg_rx_pkt rx;
		lg_u8 f[LGT_FRAME_MAX];
		size_t len;

		lgt_pkt_from(&p, &D1, 1, 1);
		p.dport = 9;
		len = lgt_build(&p, f, sizeof(f));
		if (lg_backend_parse_frame(f, (uint32_t)len, LGF_DEFAULT_PORT, UADP_PORT, 0, &rx) !=
		    LG_DROP_NOT_OURS) {
			fprintf(stderr, "FAIL UDP to another port is not 'not ours'\n");
			fails++;
		}
	}
	printf("%d failed checks\n", fails);
	return fails ? 1 : 0;
}
