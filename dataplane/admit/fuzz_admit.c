// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the admission parser (include/linegate/admit.h), the
 * user-space build of what XDP runs. Beyond "no read past the frame" (the
 * input is exactly its size): results are one of the parser's, an admitted
 * frame's fields are consistent with it, and a UDP datagram behind IPv6
 * extension headers is judged exactly like the same datagram without them,
 * which the harness builds by cutting the walked headers out.
 *
 * Built with -fsanitize=fuzzer,address,undefined when meson -Dfuzzers=true and
 * CC=clang (docs/fuzzing.md); fuzz_main.c replays files through it otherwise.
 */
#include <linegate/admit.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lg_admit_cfg cfg = {
	.generation = 1,
	.lgf_port = LGF_DEFAULT_PORT,
	.uadp_port = 4840,
	.not_ours = LG_ADMIT_NOT_OURS_PASS,
};

static int parse(const uint8_t *f, size_t n, struct lg_admit_pkt *pkt,
		 struct lg_admit_uadp_key *ukey)
{
	int rc;

	memset(pkt, 0, sizeof(*pkt));
	memset(ukey, 0, sizeof(*ukey));
	rc = lg_admit_parse(f, f + n, &cfg, pkt, ukey);
	if (rc != LG_R_ADMITTED && rc != LG_R_MALFORMED && rc != LG_R_NOT_OURS &&
	    rc != LG_R_FRAGMENT && rc != LG_R_BAD_CHECKSUM)
		abort();
	if (rc != LG_R_ADMITTED)
		return rc;
	if (pkt->family != LG_ADMIT_AF_INET && pkt->family != LG_ADMIT_AF_INET6)
		abort();
	if (pkt->kind == LG_ADMIT_KIND_LGF) {
		if (!pkt->device_id || !pkt->sequence || pkt->payload_len < LGF_MIN_LEN ||
		    pkt->dst_port != cfg.lgf_port)
			abort();
	} else if (pkt->kind == LG_ADMIT_KIND_UADP) {
		if (pkt->device_id || pkt->dst_port != cfg.uadp_port ||
		    pkt->payload_off > LG_ADMIT_PAYLOAD_OFF_MASK ||
		    pkt->payload_off + (size_t)pkt->payload_len > n)
			abort();
	} else {
		abort();
	}
	return rc;
}

/* Where the layer 3 header of ethertype want starts (after up to two tags), or 0. */
static size_t l3_at(const uint8_t *f, size_t n, uint16_t want)
{
	size_t off = 12;
	uint16_t proto;

	for (int v = 0; v < 3; v++) {
		if (off + 2 > n)
			return 0;
		proto = (uint16_t)(f[off] << 8 | f[off + 1]);
		if (proto == want)
			return off + 2;
		if (proto != LG_ETH_P_8021Q && proto != LG_ETH_P_8021AD)
			return 0;
		off += 4;
	}
	return 0;
}

/* Where the IPv6 header starts (after up to two tags), or 0 if the frame is not IPv6. */
static size_t ipv6_at(const uint8_t *f, size_t n)
{
	size_t at = l3_at(f, n, LG_ETH_P_IPV6);

	return at && at + 40 <= n ? at : 0;
}

/*
 * Where the IPv4 header starts (after up to two tags) when its ihl bytes are in the frame,
 * or 0. The fuzzer rarely makes a right header checksum: the frame is parsed again with one
 * put in, so that what lies behind the check is fuzzed too.
 */
static size_t ipv4_at(const uint8_t *f, size_t n)
{
	size_t at = l3_at(f, n, LG_ETH_P_IP);

	return at && at + 20 <= n && (f[at] & 15) >= 5 && at + (f[at] & 15u) * 4 <= n ? at : 0;
}

static void ipv4_fixed(const uint8_t *data, size_t size, size_t at)
{
	struct lg_admit_pkt pkt;
	struct lg_admit_uadp_key ukey;
	uint8_t *f = malloc(size);
	size_t ihl = (data[at] & 15u) * 4;
	uint32_t sum = 0;

	if (!f)
		return;
	memcpy(f, data, size);
	f[at + 10] = f[at + 11] = 0;
	for (size_t i = 0; i < ihl; i += 2)
		sum += (uint32_t)(f[at + i] << 8 | f[at + i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[at + 10] = (uint8_t)(~sum >> 8);
	f[at + 11] = (uint8_t)~sum;
	if (parse(f, size, &pkt, &ukey) == LG_R_BAD_CHECKSUM)
		abort(); /* a right checksum refused */
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_admit_pkt pkt, pkt2;
	struct lg_admit_uadp_key ukey, ukey2;
	const lg_u8 *l4, *ip;
	size_t at, ext, plen;
	uint8_t *cut;
	int rc, rc2;

	rc = parse(data, size, &pkt, &ukey);
	at = ipv4_at(data, size);
	if (at)
		ipv4_fixed(data, size, at);

	/* UDP behind walked IPv6 extension headers: the same frame without them. */
	at = ipv6_at(data, size);
	if (!at || data[at + 6] == LG_IPPROTO_UDP)
		return 0;
	ip = data + at;
	plen = (size_t)(ip[4] << 8 | ip[5]);
	if (at + 40 + plen > size)
		return 0;
	l4 = ip + 40;
	if (lg_admit_ipv6_ext(&l4, ip + 40 + plen, data + size, ip[6]) != LG_R_ADMITTED)
		return 0;
	ext = (size_t)(l4 - (ip + 40));
	cut = malloc(size - ext);
	if (!cut)
		return 0;
	memcpy(cut, data, at + 40);
	memcpy(cut + at + 40, l4, size - (size_t)(l4 - data));
	cut[at + 4] = (uint8_t)((plen - ext) >> 8);
	cut[at + 5] = (uint8_t)(plen - ext);
	cut[at + 6] = LG_IPPROTO_UDP;
	rc2 = parse(cut, size - ext, &pkt2, &ukey2);
	free(cut);
	if (rc != rc2)
		abort();
	if (rc == LG_R_ADMITTED) {
		if (pkt.kind == LG_ADMIT_KIND_UADP && pkt.payload_off != pkt2.payload_off + ext)
			abort();
		pkt2.payload_off = pkt.payload_off;
		if (memcmp(&pkt, &pkt2, sizeof(pkt)) || memcmp(&ukey, &ukey2, sizeof(ukey)))
			abort();
	}
	return 0;
}
