// SPDX-License-Identifier: MIT
/* Policy generations: per-device runtime state (replay window, feature window) is carried
 * by device id into the next generation; removed devices' state is freed, kept ones' not
 * (ASan in CI turns a wrong free into a failure). */
#include "../../dataplane/dataplane.h"
#include "../../dataplane/stages.h"

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define KEY "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"

static const char *const key_files[] = { "k", KEY, "k2", KEY2, NULL };
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

/*
 * Trial s21 Q: the replay mark belongs to the keys whose frames it covers. A policy of one
 * device `id` with the keys `which` ("1": k, "12": k and k2, "2": k2).
 */
static void key_policy(uint32_t id, const char *which, struct lg_policy *p)
{
	char text[1024], err[256];
	int off = snprintf(text, sizeof(text),
			   "version: 1\ndevices:\n  - {id: %u, source: 10.0.0.1, keys: [", id);

	for (const char *c = which; *c; c++)
		off += snprintf(text + off, sizeof(text) - off, "%s{id: %c, key_file: %s.key}",
				c == which ? "" : ", ", *c, *c == '1' ? "k" : "k2");
	snprintf(text + off, sizeof(text) - off, "]}\n");
	if (lg_policy_parse(text, strlen(text), keys.policy, p, err, sizeof(err)))
		fprintf(stderr, "%s\n", err);
}

/* What a worker does with a frame of device id under key id kid at seq, as verify.c does
 * after the tag verified: LG_OK when the window took it. */
static enum lg_reason frame(struct lg_gen *g, uint32_t id, unsigned kid, uint64_t seq)
{
	const struct lg_policy_device *d = lg_policy_find(&g->policy, id);
	struct lg_dev_state *s = g->state[d - g->policy.devices];
	enum lg_reason r = lg_replay_check(&s->replay, seq);

	if (r != LG_OK)
		return r;
	for (unsigned k = 0; k < d->nkeys; k++)
		if (d->keys[k].id == kid)
			lg_dev_key_marks(g, (size_t)(d - g->policy.devices), k);
	lg_dev_commit(s, seq);
	return LG_OK;
}

/* Apply policy `which` for device id: build, publish, the worker takes it; the old one freed. */
static struct lg_gen *apply(struct lg_dp *dp, struct lg_worker *w, uint32_t id, const char *which)
{
	struct lg_gen *old = atomic_load(&dp->gen), *g = NULL;
	struct lg_policy p;

	key_policy(id, which, &p);
	if (lg_gen_build(dp, &p, &g)) {
		lg_policy_free(&p);
		return old;
	}
	atomic_store(&dp->gen, g);
	lg_worker_replay_fresh(w, g);
	lg_gen_free(old, g);
	return g;
}

static void drop_all(struct lg_dp *dp)
{
	lg_gen_free(atomic_load(&dp->gen), NULL);
	atomic_store(&dp->gen, NULL);
}

#define TOP (UINT64_C(1) << 63)

/* The trial's lockout and its negative, with the state folder st (NULL: none). */
static void mark_keys(struct lg_state *sf)
{
	static struct lg_dp dp;
	struct lg_worker w = { .id = 0, .dp = &dp };
	struct lg_gen *g, *g2;
	struct lg_policy p;

	memset(&dp, 0, sizeof(dp));
	dp.nworkers = 1;
	dp.state = sf;

	/* Locked out by a valid frame at 2^63 under k; rotate to k2; its frames are refused
	 * during the grace (none accepted); prune k: a fresh mark, k2 from 1. */
	g = apply(&dp, &w, 106, "1");
	CHECK_EQ(frame(g, 106, 1, TOP), LG_OK);
	CHECK_EQ(frame(g, 106, 1, 5), LG_DROP_TOO_OLD);
	g = apply(&dp, &w, 106, "12");
	CHECK_EQ(st(g, 106)->replay.highest, TOP);
	CHECK_EQ(frame(g, 106, 2, 1), LG_DROP_TOO_OLD);
	g = apply(&dp, &w, 106, "2");
	CHECK_EQ(st(g, 106)->replay.highest, 0);
	if (sf)
		CHECK_EQ(atomic_load(lg_state_hwm(sf, 106)), 0);
	CHECK_EQ(frame(g, 106, 2, 1), LG_OK);
	CHECK_EQ(frame(g, 106, 2, 2), LG_OK);
	CHECK_EQ(frame(g, 106, 2, 2), LG_DROP_REPLAYED);
	/* the new mark's record holds k2 (and only k2): another apply keeps the mark */
	g = apply(&dp, &w, 106, "2");
	CHECK_EQ(st(g, 106)->replay.highest, 2);
	drop_all(&dp);

	/* The negative: frames under k2 accepted during the grace are in the mark: after the
	 * prune, a resend of them is refused. */
	g = apply(&dp, &w, 107, "1");
	CHECK_EQ(frame(g, 107, 1, 100), LG_OK);
	g = apply(&dp, &w, 107, "12");
	CHECK_EQ(frame(g, 107, 2, 101), LG_OK);
	CHECK_EQ(frame(g, 107, 2, 102), LG_OK);
	g = apply(&dp, &w, 107, "2");
	CHECK_EQ(st(g, 107)->replay.highest, 102);
	CHECK_EQ(frame(g, 107, 2, 101), LG_DROP_REPLAYED);
	CHECK_EQ(frame(g, 107, 2, 102), LG_DROP_REPLAYED);
	CHECK_EQ(frame(g, 107, 2, 103), LG_OK);
	drop_all(&dp);

	/* A frame under k2 accepted by the old generation after the new one was built (k2 not
	 * in the record then): the owner, taking the new generation, keeps the mark. */
	g = apply(&dp, &w, 108, "12");
	CHECK_EQ(frame(g, 108, 1, 10), LG_OK);
	key_policy(108, "2", &p);
	CHECK_EQ(lg_gen_build(&dp, &p, &g2), 0);
	CHECK_EQ(st(g2, 108)->replay.highest, 0); /* fresh at the build */
	CHECK_EQ(frame(g, 108, 2, 20), LG_OK);     /* still the old generation */
	atomic_store(&dp.gen, g2);
	lg_worker_replay_fresh(&w, g2);
	CHECK_EQ(st(g2, 108)->replay.highest, 20);
	CHECK_EQ(lg_replay_check(&st(g2, 108)->replay, 20), LG_DROP_REPLAYED);
	CHECK_EQ(lg_replay_check(&st(g2, 108)->replay, 21), LG_OK);
	if (sf)
		CHECK_EQ(atomic_load(lg_state_hwm(sf, 108)), 20);
	lg_gen_free(g, g2);
	drop_all(&dp);

	/* A device whose keys are all new (enroll anew): a fresh mark, as before. */
	g = apply(&dp, &w, 109, "1");
	CHECK_EQ(frame(g, 109, 1, 50), LG_OK);
	g = apply(&dp, &w, 109, "2");
	CHECK_EQ(st(g, 109)->replay.highest, 0);
	drop_all(&dp);
}

/* Across a restart: the record is in the state folder; a folder of an older linegate (the
 * keys the device had at the last apply) is read as the record. */
static void mark_keys_restart(void)
{
	char dir[] = "/tmp/lgt-gen-XXXXXX", err[256];
	struct lg_state *sf = NULL;
	static struct lg_dp dp;
	struct lg_worker w = { .id = 0, .dp = &dp };
	struct lg_gen *g;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(lg_state_open(dir, &sf, err, sizeof(err)), 0);
	mark_keys(sf);
	dp.nworkers = 1;
	dp.state = sf;
	g = apply(&dp, &w, 110, "1");
	CHECK_EQ(frame(g, 110, 1, TOP), LG_OK);
	g = apply(&dp, &w, 110, "12"); /* the rotation, then linegate stops */
	g = apply(&dp, &w, 111, "1");
	CHECK_EQ(frame(g, 111, 1, 100), LG_OK);
	g = apply(&dp, &w, 111, "12");
	CHECK_EQ(frame(g, 111, 2, 101), LG_OK);
	g = apply(&dp, &w, 112, "12");
	/* 112: a folder of an older linegate: both keys kept beside the mark at the apply */
	memcpy(lg_state_hwm_keys(lg_state_hwm(sf, 112)), g->kfp[0], LG_HWM_KEYS * LG_HWM_FP_LEN);
	atomic_store(lg_state_hwm(sf, 112), 77);
	drop_all(&dp);
	lg_state_close(sf);

	CHECK_EQ(lg_state_open(dir, &sf, err, sizeof(err)), 0);
	dp.state = sf;
	g = apply(&dp, &w, 110, "2"); /* started again, pruned */
	CHECK_EQ(st(g, 110)->replay.highest, 0);
	CHECK_EQ(frame(g, 110, 2, 1), LG_OK);
	drop_all(&dp);
	g = apply(&dp, &w, 111, "2");
	CHECK_EQ(st(g, 111)->replay.highest, 101);
	CHECK_EQ(frame(g, 111, 2, 101), LG_DROP_REPLAYED);
	drop_all(&dp);
	g = apply(&dp, &w, 112, "2");
	CHECK_EQ(st(g, 112)->replay.highest, 77); /* conservative: kept */
	drop_all(&dp);
	lg_state_close(sf);
	{
		char path[64];

		for (const char *const *n = (const char *const[]){ "replay.hwm", "incidents.state",
								   NULL }; *n; n++) {
			snprintf(path, sizeof(path), "%s/%s", dir, *n);
			unlink(path);
		}
		rmdir(dir);
	}
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

	mark_keys(NULL);
	mark_keys_restart();
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_generation");
}
