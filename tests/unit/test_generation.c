// SPDX-License-Identifier: MIT
/* Policy generations: per-device runtime state (replay window, feature window) is carried
 * by device id into the next generation; removed devices' state is freed, kept ones' not
 * (ASan in CI turns a wrong free into a failure). */
#include "../../dataplane/dataplane.h"

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char *const key_files[] = { "k", KEY, NULL };
static struct lgt_keys keys;

static void policy(const char *ids, struct lg_policy *p)
{
	char text[4096], err[256];
	int off = snprintf(text, sizeof(text), "version: 1\ndevices:\n");
	char buf[64], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", ids);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		off += snprintf(text + off, sizeof(text) - off,
				"  - {id: %s, source: 10.0.0.1, keys: [{id: 1, key_file: k.key}]}\n", t);
	if (lg_policy_parse(text, strlen(text), keys.policy, p, err, sizeof(err)))
		fprintf(stderr, "%s\n", err);
}

static struct lg_dev_state *st(struct lg_gen *g, uint32_t id)
{
	const struct lg_policy_device *d = lg_policy_find(&g->policy, id);

	return d ? g->state[d - g->policy.devices] : NULL;
}

static unsigned owner(struct lg_gen *g, uint32_t id)
{
	const struct lg_policy_device *d = lg_policy_find(&g->policy, id);

	return d ? g->owner[d - g->policy.devices] : ~0u;
}

static const char usage[] =
	"Usage: test_generation [options]\n"
	"\n"
	"Policy generations: per-device runtime state (replay window, feature window), one per\n"
	"device with its owner worker, is carried by device id into the next generation; removed devices' state is freed, kept ones' not\n"
	"(under ASan a wrong free is a failure).\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_generation: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	struct lg_policy p1, p2, p3;
	struct lg_gen *g1, *g2, *g3;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	dp.nworkers = 2;
	policy("1,2,5", &p1);
	CHECK_EQ(lg_gen_build(&dp, &p1, &g1), 0);
	atomic_store(&dp.gen, g1);
	lg_replay_commit(&st(g1, 2)->replay, 40);
	st(g1, 2)->win = malloc(16);
	st(g1, 5)->win = malloc(16);
	/* One state per device, owned by the worker the steering hash names. */
	for (uint32_t id = 1; id <= 5; id += id == 2 ? 3 : 1)
		CHECK_EQ(owner(g1, id), lg_steer_lgf(id, 2));
	CHECK(st(g1, 1) != st(g1, 2) && st(g1, 2) != st(g1, 5));

	policy("2,3,5", &p2);
	CHECK_EQ(lg_gen_build(&dp, &p2, &g2), 0);
	CHECK(st(g2, 2) == st(g1, 2));
	CHECK(st(g2, 5) == st(g1, 5));
	CHECK(st(g2, 3) && st(g2, 3) != st(g1, 1));
	CHECK_EQ(st(g2, 2)->replay.highest, 40);
	CHECK_EQ(lg_replay_check(&st(g2, 2)->replay, 40), LG_DROP_REPLAYED);
	CHECK_EQ(st(g2, 3)->replay.highest, 0);
	atomic_store(&dp.gen, g2);
	lg_gen_free(g1, g2); /* frees device 1's state only */

	policy("3", &p3);
	CHECK_EQ(lg_gen_build(&dp, &p3, &g3), 0);
	CHECK(st(g3, 3) == st(g2, 3));
	atomic_store(&dp.gen, g3);
	lg_gen_free(g2, g3); /* frees 2 and 5, with their windows */
	lg_gen_free(g3, NULL);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_generation");
}
