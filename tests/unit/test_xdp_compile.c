// SPDX-License-Identifier: MIT
/* Policy -> XDP admission tables: every field lands where the program reads it. */
#include "../../dataplane/xdp.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include "../lgtest.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

int main(void)
{
	static const char text[] =
		"version: 1\nport: 5000\nnot_ours: drop\n"
		"groups: {presses: {audit: true}, pumps: {audit: false}}\n"
		"devices:\n"
		"  - {id: 9, source: 10.1.2.3, port: 4000, mac: '02:00:00:00:00:09', rate: 50,"
		" group: presses, keys: [{id: 1, key: " KEY "}]}\n"
		"  - {id: 4, source: 'fd00::4', group: pumps, keys: [{id: 1, key: " KEY "}]}\n";
	struct lg_policy p;
	struct lg_admit_cfg cfg;
	struct lg_admit_entry *e;
	char err[256];
	size_t n;

	CHECK_EQ(lg_policy_parse(text, strlen(text), "t", &p, err, sizeof(err)), 0);
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
	return lgt_done("test_xdp_compile");
}
