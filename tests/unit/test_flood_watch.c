// SPDX-License-Identifier: MIT
/* flood_watch.c (lg_dp_flood_watch) in a replay: a device's rate is judged on the
 * recording's clock, as admission's token bucket is (docs/replay.md, "Admission"), so that two
 * seconds of a recorded flood read in a moment of the wall clock are named as two seconds. */
#include "../../dataplane/dataplane.h"

#include <linegate/uadmit.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_frames.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define SEC 1000000000ull

static const char policy_text[] =
    "version: 1\ndevices:\n"
    "  - {id: 7, source: 10.0.0.1, rate: 100, burst: 16, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = {"k1", KEY1, NULL};
static struct lgt_keys keys;

/* What lg_dp_flood_watch() says to stderr (at most size - 1 bytes). */
static void watch(struct lg_dp *dp, bool final, char *out, size_t size)
{
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n = 0;

	fflush(stderr);
	dup2(fileno(tmp), 2);
	lg_dp_flood_watch(dp, final);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, size - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
}

static const char usage[] =
    "Usage: test_flood_watch [options]\n"
    "\n"
    "The flood watch of a replay judges a device's rate on the recording's clock.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_flood_watch: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	static struct lg_dp dp;
	static uint8_t f[512];
	struct lg_admit_verdict v;
	struct lg_dev_state *s;
	struct lg_policy p;
	struct lg_gen *g;
	uint64_t seq = 1, passed = 0, limited = 0;
	char err[256], said[1024];
	uint32_t len;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	CHECK_EQ(
	    lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err)),
	    0);
	dp.nworkers = 1;
	dp.replay_clock = true; /* as main.c sets it for a backend with LG_BACKEND_F_REPLAY */
	CHECK_EQ(lg_dp_uadmit_start(&dp, &p), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	atomic_store(&dp.gen, g);
	s = g->state[0];

	/* Nothing judged yet: no clock, no look. */
	watch(&dp, false, said, sizeof(said));
	CHECK_EQ(s->flood_t0_ns, 0);
	/* The recording's first second: the device at its rate, 100 frames, all verified. */
	for (int i = 0; i < 100; i++) {
		len = lgt_lgf_frame(f, sizeof(f), p.port, 7, seq++);
		lg_uadmit_judge(dp.uadmit, 0, f, len, SEC + (uint64_t)i * SEC / 100, &v);
		passed += v.pass;
	}
	CHECK_EQ(passed, 100);
	atomic_store(&s->admitted, passed);
	watch(&dp, false, said, sizeof(said));
	CHECK_EQ(s->flood_t0_ns, SEC + 99 * SEC / 100); /* the recording's time, not the wall's */
	CHECK_EQ(said[0], '\0');
	/* Two seconds of the recording, read at once: 1000 frames a second forged in its
	 * name, failing their tags; 20 a second of its own verify. */
	passed = 0;
	for (int i = 0; i < 2000; i++) {
		len = lgt_lgf_frame(f, sizeof(f), p.port, 7, seq++);
		lg_uadmit_judge(dp.uadmit, 0, f, len, 2 * SEC + (uint64_t)i * SEC / 1000, &v);
		passed += v.pass;
		limited += !v.pass && v.reason == LG_R_RATE_LIMITED;
	}
	CHECK(limited > 1500);
	CHECK_EQ(lg_uadmit_clock(dp.uadmit), 2 * SEC + 1999 * SEC / 1000);
	atomic_fetch_add(&s->admitted, 40);
	atomic_store(&s->drops[LG_DROP_BAD_TAG], passed - 40);
	watch(&dp, false, said, sizeof(said));
	CHECK_STR_CONTAINS(said, "device device-7 (id 7)");
	CHECK_STR_CONTAINS(said,
			   "(100/s) dropped in 2.0 s while its verified frames came at 19.9/s");
	CHECK_EQ(s->flood_said_ns, 2 * SEC + 1999 * SEC / 1000);
	/* Said once a minute of the recording at most: its next second of flood is kept for
	 * later, and said at the end (final). */
	passed = 0;
	for (int i = 0; i < 1000; i++) {
		len = lgt_lgf_frame(f, sizeof(f), p.port, 7, seq++);
		lg_uadmit_judge(dp.uadmit, 0, f, len, 4 * SEC + (uint64_t)i * SEC / 1000, &v);
		passed += v.pass;
	}
	atomic_fetch_add(&s->admitted, 20);
	atomic_fetch_add(&s->drops[LG_DROP_BAD_TAG], passed - 20);
	watch(&dp, false, said, sizeof(said));
	CHECK_EQ(said[0], '\0');
	CHECK(s->flood_pend_rl > 800);
	watch(&dp, true, said, sizeof(said));
	CHECK_STR_CONTAINS(said, "dropped in 1.0 s while its verified frames came at 20.0/s");

	atomic_store(&dp.gen, NULL);
	lg_gen_free(g, NULL);
	lg_uadmit_destroy(dp.uadmit);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_flood_watch");
}
