// SPDX-License-Identifier: MIT
/*
 * The pcapng writer of recordings (include/linegate/pcapng.h): its blocks byte for byte
 * against known answers, and read back with libpcap. The expected bytes were made by a
 * separate Python implementation (struct.pack after the pcapng specification, RFC 791/768/
 * 8200 checksums), not by this C code. (tests/e2e/recording.sh replays recordings through
 * the admission parser with checksums checked.)
 */
#include <linegate/pcapng.h>

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
    "Usage: test_pcapng\n"
    "\n"
    "Checks the pcapng blocks linegate records frames in (SHB, IDB, EPB with synthesized\n"
    "Ethernet/IPv4/IPv6/UDP headers) byte for byte against known answers, and reads them\n"
    "back with libpcap (a temporary file in /tmp).\n"
    "\n"
    "Output: \"pcapng: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

static const uint8_t want_header[60] = {
    0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0x00, 0x00, 0x00, 0x4d, 0x3c, 0x2b, 0x1a, 0x01, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1c, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x09,
    0x00, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
};

/* 10.77.0.2:40000 -> 10.77.0.1:4739, payload 4c 47 01 02 05, at 1733356800.123456789 s */
static const uint8_t want_epb4[80] = {
    0x06, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd3, 0x1e, 0x0e, 0x18,
    0x15, 0xcd, 0x5d, 0x74, 0x2f, 0x00, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x45, 0x00, 0x00, 0x21, 0x00, 0x00,
    0x40, 0x00, 0x40, 0x11, 0x26, 0x30, 0x0a, 0x4d, 0x00, 0x02, 0x0a, 0x4d, 0x00, 0x01, 0x9c, 0x40,
    0x12, 0x83, 0x00, 0x0d, 0xea, 0x2a, 0x4c, 0x47, 0x01, 0x02, 0x05, 0x00, 0x50, 0x00, 0x00, 0x00,
};

/* [fd00::2]:4841 -> [fd00::1]:4840, payload 11 22 33, at 5 ns */
static const uint8_t want_epb6[100] = {
    0x06, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x05, 0x00, 0x00, 0x00, 0x41, 0x00, 0x00, 0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x86, 0xdd, 0x60, 0x00, 0x00,
    0x00, 0x00, 0x0b, 0x11, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x12, 0xe9, 0x12, 0xe8, 0x00, 0x0b, 0x9b, 0xe0,
    0x11, 0x22, 0x33, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00,
};

int main(int argc, char **argv)
{
	static const uint8_t pl4[] = {0x4c, 0x47, 0x01, 0x02, 0x05}, pl6[] = {0x11, 0x22, 0x33};
	uint8_t hdr[LG_PCAPNG_HEADER_LEN], b4[128], b6[128], s4[4], d4[4], s6[16], d6[16];
	char path[] = "/tmp/lg-test-pcapng-XXXXXX", perr[PCAP_ERRBUF_SIZE];
	size_t n4, n6;
	int fd;

	lgt_cli(argc, argv, usage, 0, 0);
	inet_pton(AF_INET, "10.77.0.2", s4);
	inet_pton(AF_INET, "10.77.0.1", d4);
	inet_pton(AF_INET6, "fd00::2", s6);
	inet_pton(AF_INET6, "fd00::1", d6);
	CHECK_EQ(lg_pcapng_header(hdr), sizeof(want_header));
	CHECK(!memcmp(hdr, want_header, sizeof(want_header)));
	n4 = lg_pcapng_udp_epb(b4, 1733356800123456789ull, AF_INET, s4, 40000, d4, 4739, pl4,
			       sizeof(pl4));
	CHECK_EQ(n4, sizeof(want_epb4));
	CHECK_EQ(n4, lg_pcapng_epb_len(lg_pcapng_l2_len(AF_INET) + sizeof(pl4)));
	CHECK(!memcmp(b4, want_epb4, sizeof(want_epb4)));
	n6 = lg_pcapng_udp_epb(b6, 5, AF_INET6, s6, 4841, d6, 4840, pl6, sizeof(pl6));
	CHECK_EQ(n6, sizeof(want_epb6));
	CHECK(!memcmp(b6, want_epb6, sizeof(want_epb6)));
	/* A received frame as it is: the same block. */
	CHECK_EQ(lg_pcapng_epb(b6, 1733356800123456789ull, want_epb4 + 28, 47), sizeof(want_epb4));
	CHECK(!memcmp(b6, want_epb4, sizeof(want_epb4)));
	n6 = lg_pcapng_udp_epb(b6, 5, AF_INET6, s6, 4841, d6, 4840, pl6, sizeof(pl6));
	/* A datagram too long for a UDP header over IPv4 is refused, not wrapped. */
	CHECK_EQ(lg_pcapng_udp_epb(b4, 0, AF_INET, s4, 1, d4, 2, pl4, 65508), 0);

	/* Read back with libpcap, nanosecond precision. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return lgt_done("pcapng");
	CHECK_EQ(write(fd, hdr, sizeof(hdr)), (long)sizeof(hdr));
	CHECK_EQ(write(fd, b4, n4), (long)n4);
	CHECK_EQ(write(fd, b6, n6), (long)n6);
	close(fd);
	{
		pcap_t *pc =
		    pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, perr);
		struct pcap_pkthdr *ph;
		const u_char *data;

		CHECK(pc != NULL);
		if (!pc) {
			fprintf(stderr, "%s\n", perr);
			unlink(path);
			return lgt_done("pcapng");
		}
		CHECK_EQ(pcap_datalink(pc), DLT_EN10MB);
		CHECK_EQ(pcap_next_ex(pc, &ph, &data), 1);
		CHECK_EQ(ph->ts.tv_sec, 1733356800);
		CHECK_EQ(ph->ts.tv_usec, 123456789); /* nanoseconds with PRECISION_NANO */
		CHECK_EQ(ph->caplen, 47);
		CHECK_EQ(ph->len, 47);
		CHECK(!memcmp(data, want_epb4 + 28, 47));
		CHECK_EQ(pcap_next_ex(pc, &ph, &data), 1);
		CHECK_EQ(ph->ts.tv_sec, 0);
		CHECK_EQ(ph->ts.tv_usec, 5);
		CHECK_EQ(ph->caplen, 65);
		CHECK(!memcmp(data, want_epb6 + 28, 65));
		CHECK_EQ(pcap_next_ex(pc, &ph, &data), PCAP_ERROR_BREAK);
		pcap_close(pc);
	}
	unlink(path);
	return lgt_done("pcapng");
}
