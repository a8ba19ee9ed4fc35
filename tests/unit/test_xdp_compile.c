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

/*
 * The first NetworkMessage of open62541's IOP publisher (the UDP payload of the first
 * datagram of /work/peers/cap-ro/iop.pcap): no PublisherId, no GroupHeader, no
 * PayloadHeader, two DataSetMessages.
 */
static const lg_u8 iop_msg[] = {
	0x81, 0x01, 0xe1, 0x10, 0x3c, 0x17, 0xe2, 0xb7, 0x2e, 0x84, 0xdd, 0x01,
	0xc0, 0x48, 0x28, 0x92, 0xdc, 0x43, 0x28, 0x92, 0x04, 0x00, 0x0d, 0xe4,
	0x87, 0x95, 0xb7, 0x2e, 0x84, 0xdd, 0x01, 0x06, 0x00, 0x00, 0x00, 0x00,
	0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xe1, 0x10, 0x66, 0x18, 0xe2,
	0xb7, 0x2e, 0x84, 0xdd, 0x01, 0x6b, 0x5b, 0x28, 0x92, 0x33, 0x53, 0x28,
	0x92, 0x10, 0x00, 0x87, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x0a, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x00, 0x00,
	0x28, 0x00, 0x00, 0x00, 0x32, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x00, 0x00,
	0x46, 0x00, 0x00, 0x00, 0x50, 0x00, 0x00, 0x00, 0x5a, 0x00, 0x00, 0x00,
	0x0d, 0xc8, 0x99, 0x95, 0xb7, 0x2e, 0x84, 0xdd, 0x01, 0x0e, 0xbb, 0x30,
	0x8c, 0x7b, 0x6b, 0x1d, 0x80, 0x1f, 0xef, 0xde, 0x5d, 0x95, 0x3c, 0x33,
	0x23, 0xd2, 0x0f, 0x01, 0x00, 0x00, 0x00, 0x00, 0x0c, 0xff, 0xff, 0xff,
	0xff, 0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00,
	0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x07, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x02, 0x00, 0x08, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
	0x04, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
};

/*
 * Publishers without PublisherId, enrolled by source address and writer position: the
 * policy's key (lg_policy_uadp_key through lg_xdp_compile) is the one the XDP parser builds
 * from the real IOP message from that address, for position 1; position 2 is another key
 * that differs in writer_id only; a DataSetWriterId is never a position.
 */
static void test_uadp_by_source(void)
{
	static const char text[] =
		"version: 1\nport: 5000\nuadp_port: 4840\nfragments: reassemble\n"
		"devices:\n"
		"  - {id: 1, name: iop-writer-1, source: 10.9.0.2, port: 51124,"
		" keys: [{id: 1, key_file: k.key}], uadp: {writer_position: 1, signed: false}}\n"
		"  - {id: 2, name: iop-writer-2, source: 10.9.0.2, port: 51124,"
		" keys: [{id: 1, key_file: k.key}], uadp: {writer_position: 2, signed: false}}\n"
		"  - {id: 3, source: 'fd00::3', keys: [{id: 1, key_file: k.key}],"
		" uadp: {writer_group: 7, writer: 1}}\n"
		"  - {id: 4, source: 10.9.0.4, keys: [{id: 1, key_file: k.key}],"
		" uadp: {publisher_id: 9, writer_position: 1}}\n";
	static const lg_u8 src[4] = { 10, 9, 0, 2 }, src6[16] = { 0xfd, [15] = 3 };
	static const lg_u8 mapped[16] = { [10] = 0xff, 0xff, 10, 9, 0, 2 };
	struct lg_admit_uadp_key k;
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	char err[256];
	size_t n;

	CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(cfg.fragments, LG_ADMIT_FRAGMENTS_REASSEMBLE);
	if (n != 4)
		goto out;
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(e[i].has_uadp, 1);
	CHECK_EQ(e[0].uadp.pub_type, LG_ADMIT_UADP_PUBID_NONE);
	CHECK_EQ(e[0].uadp.pub_str_len, 16);
	CHECK(!memcmp(e[0].uadp.pub_str, mapped, 16));
	CHECK_EQ(e[0].uadp.pub_num, 0);
	CHECK_EQ(e[0].uadp.writer_group_id, 0);
	CHECK_EQ(e[0].uadp.writer_id, 1);
	CHECK_EQ(e[0].uadp.flags, LG_ADMIT_UADP_KEY_POSITION);
	CHECK_EQ(lg_admit_parse_uadp(iop_msg, iop_msg + sizeof(iop_msg), sizeof(iop_msg),
				     LG_ADMIT_AF_INET, src, &k),
		 LG_R_ADMITTED);
	CHECK(!memcmp(&k, &e[0].uadp, sizeof(k)));
	k.writer_id = 2;
	CHECK(!memcmp(&k, &e[1].uadp, sizeof(k)));
	/* IPv6 source, WriterGroupId 7, DataSetWriterId 1 (not a position). */
	CHECK_EQ(e[2].uadp.pub_type, LG_ADMIT_UADP_PUBID_NONE);
	CHECK(!memcmp(e[2].uadp.pub_str, src6, 16));
	CHECK_EQ(e[2].uadp.writer_group_id, 7);
	CHECK_EQ(e[2].uadp.flags, 0);
	/* A PublisherId and a position. */
	CHECK_EQ(e[3].uadp.pub_type, LG_UADP_PUBID_UINT16);
	CHECK_EQ(e[3].uadp.pub_num, 9);
	CHECK_EQ(e[3].uadp.pub_str_len, 0);
	CHECK_EQ(e[3].uadp.flags, LG_ADMIT_UADP_KEY_POSITION);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(lg_admit_uadp_key_check(&e[i].uadp), 0);
out:
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

/* uadp_multicast's groups into the admission configuration, in the admission's families. */
static void test_groups(void)
{
	static const char text[] =
		"version: 1\nuadp_port: 4840\n"
		"uadp_multicast: {groups: [224.0.0.22, 'ff0e::22', 239.255.0.1]}\n"
		"devices:\n"
		"  - {id: 9, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}]}\n";
	static const lg_u8 g6[16] = { 0xff, 0x0e, [15] = 0x22 };
	static const lg_u8 zero[16];
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	char err[256];
	size_t n;

	CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	CHECK_EQ(cfg.groups_only, 0);
	lg_xdp_groups(&p, &cfg);
	CHECK_EQ(cfg.groups_only, 1);
	CHECK_EQ(cfg.ngroups, 3);
	CHECK_EQ(cfg.group_family[0], LG_ADMIT_AF_INET);
	CHECK(!memcmp(cfg.groups[0], (lg_u8[4]){ 224, 0, 0, 22 }, 4));
	CHECK(!memcmp(cfg.groups[0] + 4, zero, 12));
	CHECK_EQ(cfg.group_family[1], LG_ADMIT_AF_INET6);
	CHECK(!memcmp(cfg.groups[1], g6, 16));
	CHECK_EQ(cfg.group_family[2], LG_ADMIT_AF_INET);
	CHECK(!memcmp(cfg.groups[2], (lg_u8[4]){ 239, 255, 0, 1 }, 4));
	CHECK_EQ(cfg.group_family[3], 0);
	free(e);
	lg_policy_free(&p);
}

static int vlan_bit(const struct lg_admit_cfg *cfg, unsigned id)
{
	return cfg->vlan_ids[id >> 3] >> (id & 7) & 1;
}

/*
 * vlans: the ids land in cfg.vlan_ids, bit per id, and nothing else; in front of a socket
 * (lg_xdp_socket_vlans) only those a VLAN interface on the XDP interface delivers stay.
 */
static void test_vlans(void)
{
	static const char text[] =
		"version: 1\nport: 5000\nvlans: [0, 7, 8, 100, 4094]\n"
		"devices:\n  - {id: 1, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}]}\n";
	static const char none[] =
		"version: 1\nport: 5000\n"
		"devices:\n  - {id: 1, source: 10.1.2.3, keys: [{id: 1, key_file: k.key}]}\n";
	/* /proc/net/vlan/config: lg0.7 on lg0, eth1.8 on another interface, QinQ 100 on
	 * lg0.7 (a VLAN interface of lg0). */
	static const char config[] =
		"VLAN Dev name	 | VLAN ID\n"
		"Name-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\n"
		"lg0.7          | 7  | lg0\n"
		"eth1.8         | 8  | eth1\n"
		"lg0.7.100      | 100  | lg0.7\n";
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	char err[256], missing[64];
	size_t n, set = 0;
	FILE *f;

	CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(p.nvlans, 5);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	for (unsigned id = 0; id < LG_ADMIT_VLAN_IDS; id++)
		set += (size_t)vlan_bit(&cfg, id);
	CHECK_EQ(set, 5);
	CHECK(vlan_bit(&cfg, 0) && vlan_bit(&cfg, 7) && vlan_bit(&cfg, 8) && vlan_bit(&cfg, 100) &&
	      vlan_bit(&cfg, 4094));
	CHECK(!vlan_bit(&cfg, 6) && !vlan_bit(&cfg, 9) && !vlan_bit(&cfg, 4095));
	free(e);

	/* In front of a socket on lg0: 8 (on eth1) and 4094 (no interface) go. */
	f = fmemopen((void *)config, sizeof(config) - 1, "r");
	CHECK(f != NULL);
	CHECK_EQ(lg_xdp_socket_vlans(&p, "lg0", f, &cfg, missing, sizeof(missing)), 2);
	fclose(f);
	CHECK_STR(missing, "8,4094");
	CHECK(vlan_bit(&cfg, 0) && vlan_bit(&cfg, 7) && vlan_bit(&cfg, 100));
	CHECK(!vlan_bit(&cfg, 8) && !vlan_bit(&cfg, 4094));
	/* No /proc/net/vlan/config (8021q not loaded): only 0 stays. */
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	free(e);
	CHECK_EQ(lg_xdp_socket_vlans(&p, "lg0", NULL, &cfg, missing, sizeof(missing)), 4);
	CHECK_STR(missing, "7,8,100,4094");
	CHECK(vlan_bit(&cfg, 0) && !vlan_bit(&cfg, 7));
	lg_policy_free(&p);

	CHECK_EQ(lg_policy_parse(none, strlen(none), keys.policy, &p, err, sizeof(err)), 0);
	CHECK_EQ(p.nvlans, 0);
	CHECK_EQ(lg_xdp_compile(&p, &cfg, &e, &n), 0);
	set = 0;
	for (unsigned id = 0; id < LG_ADMIT_VLAN_IDS; id++)
		set += (size_t)vlan_bit(&cfg, id);
	CHECK_EQ(set, 0);
	free(e);
	lg_policy_free(&p);
}

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
	CHECK_EQ(cfg.fragments, LG_ADMIT_FRAGMENTS_DROP); /* the default */
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
	/* No group list for the frame-reading backends: any group is judged. */
	CHECK_EQ(cfg.groups_only, 0);
	CHECK_EQ(cfg.ngroups, 0);
	/* In front of a socket without uadp_multicast: groups only, and none. */
	lg_xdp_groups(&p, &cfg);
	CHECK_EQ(cfg.groups_only, 1);
	CHECK_EQ(cfg.ngroups, 0);
	free(e);
	lg_policy_free(&p);
	test_uadp();
	test_uadp_by_source();
	test_groups();
	test_vlans();
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_xdp_compile");
}
