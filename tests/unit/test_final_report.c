// SPDX-License-Identifier: MIT
/* The exit summary and --stats-out (lg_dp_final_report()) say the same counts while admission
 * counts on, as XDP does after a stop (no_reader): they come from one snapshot. Here a thread
 * keeps user-space admission judging while the report is made, and the summary's "user-space
 * admission judged" line must match the JSON's "admission" block, every time. */
#include "../../dataplane/dataplane.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <linegate/uadmit.h>
#include <pthread.h>
#include <stdio.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_frames.h"
#include "../lgt_keys.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char policy_text[] =
    "version: 1\ndevices:\n"
    "  - {id: 7, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = {"k1", KEY1, NULL};
static struct lgt_keys keys;
static struct lg_dp dp;
static uint16_t port;
static _Atomic bool stop;
static _Atomic uint64_t judged;

/* Frames of device 7 through queue 0's admission until stop. */
static void *judge(void *arg)
{
	static uint8_t f[512];
	struct lg_admit_verdict v;
	uint64_t seq = 1;

	(void)arg;
	while (!atomic_load(&stop)) {
		uint32_t len = lgt_lgf_frame(f, sizeof(f), port, 7, seq);

		lg_uadmit_judge(dp.uadmit, 0, f, len, seq * 1000, &v);
		seq++;
		atomic_fetch_add(&judged, 1);
	}
	return NULL;
}

/* The count after "admitted " in the summary's admission line, or UINT64_MAX. */
static uint64_t summary_admitted(const char *text)
{
	const char *l = strstr(text, "user-space admission judged:");
	const char *a = l ? strstr(l, " admitted ") : NULL;
	const char *nl = l ? strchr(l, '\n') : NULL;

	if (!a || (nl && a > nl))
		return UINT64_MAX;
	return strtoull(a + strlen(" admitted "), NULL, 10);
}

static const char usage[] =
    "Usage: test_final_report [options]\n"
    "\n"
    "The exit summary and the stats JSON come from one snapshot of the counters.\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: \"test_final_report: N checks, M failed\" on stdout.\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct lg_policy p;
	struct lg_gen *g;
	pthread_t t;
	char err[256];
	unsigned differ = 0, rounds = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);
	CHECK_EQ(
	    lg_policy_parse(policy_text, strlen(policy_text), keys.policy, &p, err, sizeof(err)),
	    0);
	dp.nworkers = 1;
	CHECK_EQ(lg_dp_uadmit_start(&dp, &p), 0);
	CHECK_EQ(lg_gen_build(&dp, &p, &g), 0);
	atomic_store(&dp.gen, g);
	port = p.port;
	CHECK_EQ(pthread_create(&t, NULL, judge, NULL), 0);
	while (atomic_load(&judged) < 1000)
		sched_yield();
	for (; rounds < 200; rounds++) {
		static char text[16384];
		uint64_t before = atomic_load(&judged), in_json = UINT64_MAX, in_summary;
		json_object *o, *adm = NULL, *n = NULL;
		FILE *f;
		char *js;
		size_t len;

		/* the judging thread runs while the report is made */
		while (atomic_load(&judged) < before + 1000)
			sched_yield();
		f = tmpfile();
		js = lg_dp_final_report(&dp, f);
		o = js ? json_tokener_parse(js) : NULL;
		rewind(f);
		len = fread(text, 1, sizeof(text) - 1, f);
		text[len] = '\0';
		fclose(f);
		if (o && json_object_object_get_ex(o, "admission", &adm) &&
		    json_object_object_get_ex(adm, "admitted", &n))
			in_json = (uint64_t)json_object_get_int64(n);
		in_summary = summary_admitted(text);
		CHECK(in_json != UINT64_MAX && in_json > 0);
		CHECK(in_summary != UINT64_MAX);
		differ += in_json != in_summary;
		json_object_put(o);
		free(js);
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
	printf("%u of %u reports with the summary and the JSON apart\n", differ, rounds);
	CHECK_EQ(differ, 0);

	atomic_store(&dp.gen, NULL);
	lg_gen_free(g, NULL);
	lg_uadmit_destroy(dp.uadmit);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_final_report");
}
