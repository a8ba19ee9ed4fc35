// SPDX-License-Identifier: MIT
/* Policy -> XDP admission tables: every field lands where the program reads it. */
#include "../../dataplane/xdp.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include <linegate/uadp.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char *const key_files[] = { "k", KEY, NULL };
static struct lgt_keys keys;

/*
 * UADP identities: every PublisherId type lands in the key the XDP parser
 * builds from that publisher's messages, and it is the worker's key too.
 */
static void test_uadp(void)
{
	static const char text[] =
		"version: 1\nport: 5000\nuadp_port: 4840\n"
		"devices:\n"
		"  - {id: 1, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}]}\n"
		"  - {id: 2, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 7, publisher_type: byte, writer_group: 1, writer: 2}}\n"
		"  - {id: 3, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 2234, writer_group: 100, writer: 62541}}\n"
		"  - {id: 4, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 4000000000, publisher_type: uint32, writer_group: 3, writer: 4}}\n"
		"  - {id: 5, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 18000000000000000000, publisher_type: uint64, writer_group: 5,"
		" writer: 6}}\n"
		"  - {id: 6, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: gw-1, publisher_type: string, writer_group: 1, writer: 1,"
		" signed: false}}\n"
		"  - {id: 7, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 0123456789abcdef0123456789ABCDEF, publisher_type: string,"
		" writer_group: 65535, writer: 65535}}\n";
	static const struct {
		lg_u8 type;
		lg_u64 num;
		const char *str;
		lg_u16 wg, w;
	} want[] = {
		{ 0, 0, NULL, 0, 0 },
		{ LG_UADP_PUBID_BYTE, 7, NULL, 1, 2 },
		{ LG_UADP_PUBID_UINT16, 2234, NULL, 100, 62541 },
		{ LG_UADP_PUBID_UINT32, 4000000000u, NULL, 3, 4 },
		{ LG_UADP_PUBID_UINT64, 18000000000000000000ull, NULL, 5, 6 },
		{ LG_UADP_PUBID_STRING, 0, "gw-1", 1, 1 },
		{ LG_UADP_PUBID_STRING, 0, "0123456789abcdef0123456789ABCDEF", 65535, 65535 },
	};
	static struct lg_uadp_msg m, d;
	static const float v = 1.5f;
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	struct lg_admit_uadp_key wk;
	struct lg_admit_uadp_key ukey;
	uint8_t buf[256];
	char err[256];
	size_t n;
	int len;

	CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	CHECK_EQ(n, 7);
	CHECK_EQ(cfg.uadp_port, 4840);
	CHECK_EQ(cfg.lgf_port, 5000);
	for (size_t i = 0; i < n && i < 7; i++) {
		const struct lg_admit_uadp_key *k = &e[i].uadp;

		CHECK_EQ(e[i].device_id, i + 1);
		CHECK_EQ(e[i].has_uadp, i ? 1 : 0);
		if (!i) {
			static const struct lg_admit_uadp_key zero;

			CHECK(!memcmp(k, &zero, sizeof(zero)));
			continue;
		}
		CHECK_EQ(k->pub_type, want[i].type);
		CHECK_EQ(k->pub_num, want[i].num);
		CHECK_EQ(k->writer_group_id, want[i].wg);
		CHECK_EQ(k->writer_id, want[i].w);
		CHECK_EQ(k->flags, 0);
		CHECK_EQ(k->pub_str_len, want[i].str ? strlen(want[i].str) : 0);
		if (want[i].str)
			CHECK(!memcmp(k->pub_str, want[i].str, k->pub_str_len));
		for (size_t b = k->pub_str_len; b < sizeof(k->pub_str); b++)
			CHECK_EQ(k->pub_str[b], 0);

		/* A message of this publisher: the worker's key and XDP's are these bytes. */
		memset(&m, 0, sizeof(m));
		m.flags = LG_UADP_VERSION | LG_UADP_F_PUBLISHER_ID | LG_UADP_F_GROUP_HEADER |
			  LG_UADP_F_PAYLOAD_HEADER | LG_UADP_F_EXT1;
		m.ext1 = want[i].type;
		m.pub_num = want[i].num;
		m.pub_str = (const uint8_t *)want[i].str;
		m.pub_str_len = want[i].str ? (uint32_t)strlen(want[i].str) : 0;
		m.group_flags = LG_UADP_G_WRITER_GROUP_ID;
		m.writer_group_id = want[i].wg;
		m.dsm_count = 1;
		m.dsm[0] = (struct lg_uadp_dsm){ .writer_id = want[i].w, .flags1 = LG_UADP_D1_VALID,
						 .field_count = 1 };
		m.fields[0] = (struct lg_uadp_field){ .type = LG_UADP_T_FLOAT, .count = 1,
						      .data = (const uint8_t *)&v };
		m.nfields = 1;
		len = lg_uadp_encode(&m, NULL, NULL, 0, buf, sizeof(buf));
		CHECK(len > 0);
		if (len <= 0)
			continue;
		CHECK_EQ(lg_uadp_decode(&d, buf, (size_t)len, NULL), 0);
		CHECK_EQ(lg_uadp_device_key(&d, 0, &wk), 0);
		CHECK(!memcmp(&wk, k, sizeof(wk)));
		memset(&ukey, 0xa5, sizeof(ukey));
		CHECK_EQ(lg_admit_parse_uadp(buf, buf + len, (lg_u32)len, LG_ADMIT_AF_INET,
					     (const lg_u8[4]){ 192, 0, 2, 1 }, &ukey),
			 LG_R_ADMITTED);
		CHECK(!memcmp(&ukey, k, sizeof(*k)));
	}
	free(e);
	lg_policy_free(&p);
}

static const char usage[] =
	"Usage: test_xdp_compile [options]\n"
	"\n"
	"Policy to XDP admission tables: every field of every device (address, port, MAC, rate,\n"
	"group flags, UADP PublisherId keys) lands where the XDP program reads it.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_xdp_compile: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static const char text[] =
		"version: 1\nport: 5000\nnot_ours: drop\n"
		"groups: {presses: {audit: true}, pumps: {audit: false}}\n"
		"devices:\n"
		"  - {id: 9, source: 10.1.2.3, port: 4000, mac: '02:00:00:00:00:09', rate: 50,"
		" group: presses, keys: [{id: 1, key_file: k.key}]}\n"
		"  - {id: 4, source: 'fd00::4', group: pumps, keys: [{id: 1, key_file: k.key}]}\n";
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	char err[256];
	size_t n;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(cfg.lgf_port, 5000);
	CHECK_EQ(cfg.not_ours, LG_ADMIT_NOT_OURS_DROP);
	CHECK_EQ(cfg.replay_window, 1024);
	CHECK_EQ(cfg.uadp_port, 0);
	/* Sorted by id, as the policy is. */
	CHECK_EQ(e[0].device_id, 4);
	CHECK_EQ(e[0].dev.family, LG_ADMIT_AF_INET6);
	CHECK(e[0].dev.addr[0] == 0xfd && e[0].dev.addr[15] == 4);
	CHECK_EQ(e[0].dev.flags, LG_ADMIT_DEV_ANY_MAC); /* pumps are enforced, no MAC bound */
	CHECK_EQ(e[0].dev.rate, 0);
	CHECK_EQ(e[1].device_id, 9);
	CHECK_EQ(e[1].dev.family, LG_ADMIT_AF_INET);
	CHECK(e[1].dev.addr[0] == 10 && e[1].dev.addr[3] == 3);
	CHECK_EQ(e[1].dev.src_port, 4000);
	CHECK(e[1].dev.mac[0] == 2 && e[1].dev.mac[5] == 9);
	CHECK_EQ(e[1].dev.flags, LG_ADMIT_DEV_AUDIT);
	CHECK_EQ(e[1].dev.rate, 50);
	CHECK_EQ(e[1].dev.burst, 16);
	CHECK_EQ(e[1].dev.group, 1);
	free(e);
	lg_policy_free(&p);
	test_uadp();
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_xdp_compile");
}
