// SPDX-License-Identifier: MIT
/* The load generator's --tx and --dst-mac parsers (bench/loadgen_parse.h): exact answers
 * for what they take, and a refusal for each kind of text they must not. */
#include "loadgen_parse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_loadgen_parse [options]\n"
	"\n"
	"linegate-loadgen's --tx (sendmmsg, afxdp:IFNAME[:QUEUE]) and --dst-mac parsers: what\n"
	"they take, exactly, and what they refuse.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: on stdout \"test_loadgen_parse: N checks, M failed\".\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static const char *const bad_tx[] = {
		"", "afxdp", "afxdp:", "afxdp::1", "afxdp:lg1:", "afxdp:lg1:x", "afxdp:lg1:-1",
		"afxdp:lg1:65536", "afxdp:lg1:1:2", "afxdp:a/b", "afxdp:.", "afxdp:..",
		"afxdp:sixteen-chars-xx", "afxdp:a b", "afxdp:lg1: 1", "xdp:lg1", "sendmmsg2",
		"AFXDP:lg1",
	};
	static const char *const bad_mac[] = {
		"", "02:00:5e:10:00", "02:00:5e:10:00:01:", "02:00:5e:10:00:1", "2:0:5e:10:0:1",
		"02:00:5e:10:00:0g", "02.00.5e.10.00.01", "02:00:5e:10:00:011", " 02:00:5e:10:00:01",
	};
	struct lg_loadgen_tx tx;
	uint8_t mac[6] = { 0 };

	lgt_cli(argc, argv, usage, 0, 0);
	memset(&tx, 0x55, sizeof(tx));
	CHECK_EQ(lg_loadgen_parse_tx("sendmmsg", &tx), 0);
	CHECK_EQ(tx.kind, LG_LOADGEN_TX_SENDMMSG);
	CHECK_EQ(lg_loadgen_parse_tx("afxdp:lg1", &tx), 0);
	CHECK_EQ(tx.kind, LG_LOADGEN_TX_AFXDP);
	CHECK_STR(tx.ifname, "lg1");
	CHECK_EQ(tx.queue, 0u);
	CHECK_EQ(lg_loadgen_parse_tx("afxdp:fifteen-chars-x:65535", &tx), 0);
	CHECK_STR(tx.ifname, "fifteen-chars-x");
	CHECK_EQ(tx.queue, 65535u);
	CHECK_EQ(lg_loadgen_parse_tx("afxdp:enp3s0f1.100:7", &tx), 0);
	CHECK_STR(tx.ifname, "enp3s0f1.100");
	CHECK_EQ(tx.queue, 7u);
	CHECK_EQ(lg_loadgen_parse_tx("dpdk:vdev=net_pcap0;tx_pcap=/tmp/a.pcap,nohuge", &tx), 0);
	CHECK_EQ(tx.kind, LG_LOADGEN_TX_DPDK);
	CHECK_STR(tx.opts, "vdev=net_pcap0;tx_pcap=/tmp/a.pcap,nohuge");
	{
		char long_opts[1100] = "dpdk:";

		memset(long_opts + 5, 'a', 1024);
		CHECK_EQ(lg_loadgen_parse_tx(long_opts, &tx), -EINVAL);
		long_opts[5 + 1023] = '\0';
		CHECK_EQ(lg_loadgen_parse_tx(long_opts, &tx), 0);
		CHECK_EQ(strlen(tx.opts), 1023u);
		CHECK_EQ(lg_loadgen_parse_tx("dpdk:", &tx), -EINVAL);
	}
	CHECK_EQ(lg_loadgen_parse_tx("afxdp:enp3s0f1.100:7", &tx), 0);
	/* a refused text leaves the answer as it was */
	for (size_t i = 0; i < sizeof(bad_tx) / sizeof(bad_tx[0]); i++) {
		int r = lg_loadgen_parse_tx(bad_tx[i], &tx);

		if (r != -EINVAL)
			printf("--tx '%s' taken (%d)\n", bad_tx[i], r);
		CHECK_EQ(r, -EINVAL);
	}
	CHECK_STR(tx.ifname, "enp3s0f1.100");
	CHECK_EQ(tx.queue, 7u);

	CHECK_EQ(lg_loadgen_parse_mac("02:00:5e:10:00:aB", mac), 0);
	CHECK(!memcmp(mac, "\x02\x00\x5e\x10\x00\xab", 6));
	CHECK_EQ(lg_loadgen_parse_mac("ff-ee-dd-cc-bb-aa", mac), 0);
	CHECK(!memcmp(mac, "\xff\xee\xdd\xcc\xbb\xaa", 6));
	for (size_t i = 0; i < sizeof(bad_mac) / sizeof(bad_mac[0]); i++) {
		int r = lg_loadgen_parse_mac(bad_mac[i], mac);

		if (r != -EINVAL)
			printf("--dst-mac '%s' taken (%d)\n", bad_mac[i], r);
		CHECK_EQ(r, -EINVAL);
	}
	CHECK(!memcmp(mac, "\xff\xee\xdd\xcc\xbb\xaa", 6));

	/* --samples and --channels: N or N,N,... each in range, at most max values */
	{
		static const char *const bad_list[] = {
			"", ",", "1,", ",1", "1,,2", "0", "256", "1 ,2", "-1", "+1", "1,x", "1,2,3,4,5",
			"99999999999999999999",
		};
		unsigned v[4] = { 0 };

		CHECK_EQ(lg_loadgen_parse_list("7", 1, 255, v, 4), 1);
		CHECK_EQ(v[0], 7u);
		CHECK_EQ(lg_loadgen_parse_list("128,256,1,255", 1, 255, v, 4), -EINVAL);
		CHECK_EQ(lg_loadgen_parse_list("1,2,3,255", 1, 255, v, 4), 4);
		CHECK_EQ(v[0] + v[1] + v[2], 6u);
		CHECK_EQ(v[3], 255u);
		for (size_t i = 0; i < sizeof(bad_list) / sizeof(bad_list[0]); i++) {
			int r = lg_loadgen_parse_list(bad_list[i], 1, 255, v, 4);

			if (r != -EINVAL)
				printf("list '%s' taken (%d)\n", bad_list[i], r);
			CHECK_EQ(r, -EINVAL);
		}
	}
	{
		/* --first-seq (trial s20 I L4: 0 sent 1 silently, 2^64 was read as 2^64 - 1) */
		static const char *const bad_seq[] = { "", "0", "00", "0x0", "-1", "+1", " 1", "1 ",
						       "1x", "x1", "1.5" };
		uint64_t q = 0;

		CHECK_EQ(lg_loadgen_parse_seq("1", &q), 0);
		CHECK_EQ(q, 1u);
		CHECK_EQ(lg_loadgen_parse_seq("18446744073709551615", &q), 0);
		CHECK_EQ(q, UINT64_MAX);
		CHECK_EQ(lg_loadgen_parse_seq("0x10", &q), 0);
		CHECK_EQ(q, 16u);
		CHECK_EQ(lg_loadgen_parse_seq("18446744073709551616", &q), -ERANGE);
		CHECK_EQ(lg_loadgen_parse_seq("99999999999999999999999", &q), -ERANGE);
		for (size_t i = 0; i < sizeof(bad_seq) / sizeof(bad_seq[0]); i++) {
			int r = lg_loadgen_parse_seq(bad_seq[i], &q);

			if (r != -EINVAL)
				printf("--first-seq '%s' taken (%d)\n", bad_seq[i], r);
			CHECK_EQ(r, -EINVAL);
		}
	}
	{
		/* Unknown-device ids (trial s20 I L4: past 2^20 frames they wrapped to 0, 1, ...,
		 * enrolled ids among them): always in the top range, never 0. */
		static const uint64_t ks[] = { 0, 1, 0xfffff, 0x100000, 0x100001, 1200000,
					       UINT64_MAX };

		for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
			CHECK(lg_loadgen_unknown_id(ks[i]) >= LG_LOADGEN_UNKNOWN_ID_BASE);
		CHECK_EQ(lg_loadgen_unknown_id(0), 0xfff00000u);
		CHECK_EQ(lg_loadgen_unknown_id(0xfffff), 0xffffffffu);
		CHECK_EQ(lg_loadgen_unknown_id(0x100000), 0xfff00000u);
	}
	return lgt_done("test_loadgen_parse");
}
