// SPDX-License-Identifier: MIT
/*
 * The AF_XDP worker's frame parser (dataplane/backend_afxdp.c, compiled in here
 * to reach its static parse()) on what the XDP admission program redirects: it
 * must find the UDP payload and the sender behind VLAN tags and the IPv6
 * extension headers XDP walks, at the same place as the admission parser does,
 * and refuse what XDP refuses. No kernel needed.
 */
#include "../../dataplane/backend_afxdp.c"

#include <stdio.h>

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

/* ok: the worker takes it, and finds what the admission parser found. */
static void check(const char *what, const struct lgt_pkt *p, int ok)
{
	struct lg_admit_cfg cfg = {
	    .generation = 1, .lgf_port = LGF_DEFAULT_PORT, .uadp_port = UADP_PORT};
	struct lg_backend b = {.port = LGF_DEFAULT_PORT, .port2 = UADP_PORT};
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
	rc = parse(&b, f, (uint32_t)len, &rx);
	if (ok != !rc) {
		fprintf(stderr, "FAIL %s: parse %d, want %s\n", what, rc, ok ? "0" : "-EBADMSG");
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

static const char usage[] =
    "Usage: test_afxdp_parse [options]\n"
    "\n"
    "The AF_XDP worker's frame parser on frames the XDP admission program redirects\n"
    "(VLAN tags, IPv6 extension headers, UADP) and on some it refuses.\n"
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
	check("IPv4", &p, 1);
	p.vlans = 2;
	p.tpid[0] = LG_ETH_P_8021AD;
	p.tpid[1] = LG_ETH_P_8021Q;
	check("QinQ IPv4", &p, 1);
	lgt_pkt_from(&p, &D6, 6, 1);
	check("IPv6", &p, 1);
	set_ext(&p, 1, hbh, zero);
	check("IPv6, HBH", &p, 1);
	p.vlans = 1;
	p.tpid[0] = LG_ETH_P_8021Q;
	check("802.1Q IPv6, HBH", &p, 1);
	p.vlans = 0;
	set_ext(&p, 4, four, four_len);
	check("IPv6, four headers", &p, 1);
	p.eth_pad = 30;
	check("IPv6, four headers, Ethernet padding", &p, 1);
	p.eth_pad = 0;
	p.dport = UADP_PORT;
	p.raw = uadp;
	p.lgf_len = sizeof(uadp);
	set_ext(&p, 4, four, big);
	check("IPv6, 728 bytes of headers, UADP port", &p, 1);

	lgt_pkt_from(&p, &D6, 6, 1);
	set_ext(&p, 5, five, zero);
	check("IPv6, five headers", &p, 0);
	set_ext(&p, 1, frag, zero);
	check("IPv6, fragment", &p, 0);
	set_ext(&p, 1, hbh, zero);
	p.ip_proto = 58;
	check("IPv6, HBH + ICMPv6", &p, 0);
	p.ip_proto = LG_IPPROTO_UDP;
	p.eth_pad = 64;
	p.ip_len_delta = -(int)(8 + LG_UDP_HLEN + p.lgf_len) + 4;
	check("IPv6, payload length inside HBH", &p, 0);
	p.eth_pad = 0;
	p.ip_len_delta = 1;
	check("IPv6, payload length beyond the frame", &p, 0);
	printf("%d failed checks\n", fails);
	return fails ? 1 : 0;
}
