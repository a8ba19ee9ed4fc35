// SPDX-License-Identifier: MIT
/* linegated's retrain queue (control/retrain.h): a drift that starts while another device's
 * retrain runs waits its turn, once per device, and comes out oldest first when no retrain
 * runs; a full queue says so; the device being retrained does not queue (trial T, s24: the
 * second of two drifts at once was skipped and never retrained). */
#include "retrain.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
	"Usage: test_retrain\n"
	"\n"
	"linegated's retrain queue (control/retrain.c): drifts that start while a retrain runs\n"
	"wait, one per device, oldest first; a full queue is said; nothing waits twice.\n"
	"\n" LGT_EXIT_STATUS;

static char last_result[32], last_detail[512];
static unsigned audits, dp_calls;

static void audit(void *ctx, const char *result, const char *detail)
{
	(void)ctx;
	snprintf(last_result, sizeof(last_result), "%s", result);
	snprintf(last_detail, sizeof(last_detail), "%s", detail);
	audits++;
}

static int dp(void *ctx, json_object *req, json_object **reply, char *err, size_t errlen)
{
	(void)ctx;
	json_object_put(req);
	*reply = NULL;
	dp_calls++;
	snprintf(err, errlen, "no data plane in this test");
	return -1;
}

int main(int argc, char **argv)
{
	static struct lg_policy pol;
	static struct lg_retrain r;
	struct lg_retrain_env e = { .dp = dp, .audit = audit, .policy = &pol };
	char name[64], method[32];
	uint32_t id = 0;

	lgt_cli(argc, argv, usage, 0, 0);
	pol.drift.retrain.record_seconds = 60;
	r.phase = LG_RETRAIN_RECORDING;
	snprintf(r.device, sizeof(r.device), "pump-1");

	/* another device's drift while pump-1's retrain runs: it waits, said once */
	lg_retrain_drift(&r, &e, "fan-1", 7, "page_hinkley");
	CHECK_EQ(r.nwaiting, 1u);
	CHECK_STR(last_result, "waiting");
	CHECK_STR_CONTAINS(last_detail, "device fan-1 (id 7): page_hinkley drift: a retrain of "
			   "pump-1 runs; one at a time: its own starts after that one");
	lg_retrain_drift(&r, &e, "fan-1", 7, "psi");
	CHECK_EQ(r.nwaiting, 1u);
	CHECK_STR(last_result, "skipped"); /* said (trial X4, s27: no trace) */
	CHECK_STR_CONTAINS(last_detail, "device fan-1 (id 7): psi drift: it waits already for "
			   "its retrain (page_hinkley drift), behind pump-1's");
	/* the device being retrained does not queue behind itself, and says so */
	snprintf(r.method, sizeof(r.method), "page_hinkley");
	lg_retrain_drift(&r, &e, "pump-1", 3, "psi");
	CHECK_EQ(r.nwaiting, 1u);
	CHECK_STR(last_result, "skipped");
	CHECK_STR_CONTAINS(last_detail, "device pump-1 (id 3): psi drift: its own retrain "
			   "(page_hinkley drift) runs now; its recording holds this drift too");
	CHECK_EQ(r.skipped, 2u);
	/* nothing comes out while a retrain runs */
	CHECK(!lg_retrain_next(&r, name, sizeof(name), &id, method, sizeof(method)));
	for (unsigned i = 0; i < 15; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "d%u", i);
		lg_retrain_drift(&r, &e, nm, 100 + i, "psi");
	}
	CHECK_EQ(r.nwaiting, 16u);
	/* a full queue: skipped, and said with the count */
	lg_retrain_drift(&r, &e, "d99", 199, "psi");
	CHECK_EQ(r.nwaiting, 16u);
	CHECK_EQ(r.skipped, 3u);
	CHECK_STR(last_result, "skipped");
	CHECK_STR_CONTAINS(last_detail, "16 more drifts wait their turn");
	{
		json_object *st = lg_retrain_status(&r), *w;

		CHECK(json_object_object_get_ex(st, "waiting", &w));
		CHECK_EQ(json_object_array_length(w), 16u);
		json_object_put(st);
	}
	/* idle: oldest first, with its method */
	r.phase = LG_RETRAIN_IDLE;
	CHECK(lg_retrain_next(&r, name, sizeof(name), &id, method, sizeof(method)));
	CHECK_STR(name, "fan-1");
	CHECK_EQ(id, 7u);
	CHECK_STR(method, "page_hinkley");
	CHECK(lg_retrain_next(&r, name, sizeof(name), &id, method, sizeof(method)));
	CHECK_STR(name, "d0");
	CHECK_EQ(r.nwaiting, 14u);
	CHECK_EQ(dp_calls, 0u);

	/* A job that fails (the trainer exits 1, no candidate) holds its device off for
	 * LG_RETRAIN_RETRY_S, not the whole cooldown, and says so; a drift then is skipped
	 * with the time left and why (trial X2, s26: a failed retrain started the cooldown). */
	{
		pid_t pid = fork();
		time_t t0 = time(NULL);
		unsigned i;

		if (pid == 0)
			_exit(1);
		CHECK(pid > 0);
		pol.drift.retrain.cooldown_seconds = 3600;
		r.phase = LG_RETRAIN_TRAINING;
		r.pid = pid;
		snprintf(r.device, sizeof(r.device), "press-2");
		snprintf(r.log, sizeof(r.log), "/nonexistent/retrain.log");
		for (i = 0; i < 500 && r.phase == LG_RETRAIN_TRAINING; i++) {
			lg_retrain_tick(&r, &e);
			usleep(10000);
		}
		CHECK_EQ(r.phase, LG_RETRAIN_IDLE);
		CHECK_STR(last_result, "failed");
		CHECK_STR_CONTAINS(last_detail, "device press-2: linegate-train: no output (log "
				   "/nonexistent/retrain.log); a new drift retrains it after 600 s");
		lg_retrain_drift(&r, &e, "press-2", 12, "psi");
		CHECK_STR(last_result, "skipped");
		CHECK_STR_CONTAINS(last_detail, "device press-2 (id 12): psi drift: its last retrain "
				   "failed, held off for ");
		CHECK_STR_CONTAINS(last_detail, "(cooldown_seconds 3600 after a retrain, 600 s after "
				   "a failed one)");
		for (i = 0; i < r.nrecent; i++)
			if (!strcmp(r.recent[i].name, "press-2"))
				break;
		CHECK(i < r.nrecent);
		if (i < r.nrecent) {
			CHECK(r.recent[i].failed);
			CHECK(r.recent[i].until >= t0 + 600 && r.recent[i].until <= time(NULL) + 600);
			/* past it: the next drift starts a job (here the data plane refuses it) */
			r.recent[i].until = time(NULL) - 1;
		}
		lg_retrain_drift(&r, &e, "press-2", 12, "psi");
		CHECK_STR(last_result, "refused");
	}

	/* A job that made a candidate: recorded as this retrain's in the state folder
	 * (candidates-made/ID, the SHA-256 of its evaluation.json); when that cannot be
	 * written the candidate's audit line says so, instead of it listing as made by
	 * another with no word why (s27 note). */
	for (int broken = 0; broken < 2; broken++) {
		char dir[] = "/tmp/test_retrain.XXXXXX", path[512], got[80];
		const char *cid = "press-2-20261207T230000Z";
		pid_t pid;
		FILE *f;
		unsigned i;

		CHECK(mkdtemp(dir) != NULL);
		snprintf(path, sizeof(path), "%s/%s", dir, cid);
		CHECK_EQ(mkdir(path, 0700), 0);
		snprintf(path, sizeof(path), "%s/%s/evaluation.json", dir, cid);
		f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fputs("{\"candidate\": {}, \"active\": {}}\n", f);
			fclose(f);
		}
		snprintf(r.log, sizeof(r.log), "%s/retrain.log", dir);
		f = fopen(r.log, "w");
		CHECK(f != NULL);
		if (f) {
			fprintf(f, "candidate %s: written\n", cid);
			fclose(f);
		}
		if (broken) { /* candidates-made a file: nothing can be written under it */
			snprintf(path, sizeof(path), "%s/%s", dir, LG_RETRAIN_MADE_DIR);
			f = fopen(path, "w");
			CHECK(f != NULL);
			if (f)
				fclose(f);
		}
		e.candidates = dir;
		e.log_dir = dir;
		pid = fork();
		if (pid == 0)
			_exit(0);
		CHECK(pid > 0);
		r.phase = LG_RETRAIN_TRAINING;
		r.pid = pid;
		for (i = 0; i < 500 && r.phase == LG_RETRAIN_TRAINING; i++) {
			lg_retrain_tick(&r, &e);
			usleep(10000);
		}
		CHECK_STR(last_result, "candidate");
		snprintf(path, sizeof(path), "%s/%s/evaluation.json", dir, cid);
		if (broken) {
			CHECK_STR_CONTAINS(last_detail, "(not recorded as this retrain's: ");
			CHECK_STR_CONTAINS(last_detail, "Not a directory; it lists as made by "
					   "another, and approve says so)");
			CHECK_EQ(lg_retrain_origin(dir, cid, path), LG_CAND_OTHER);
		} else {
			CHECK(strstr(last_detail, "not recorded") == NULL);
			CHECK(lg_cand_note_get(dir, LG_RETRAIN_MADE_DIR, cid, got, sizeof(got)));
			CHECK_EQ(strlen(got), 64u);
			CHECK_EQ(lg_retrain_origin(dir, cid, path), LG_CAND_RETRAIN);
		}
		snprintf(path, sizeof(path), "rm -rf '%s'", dir);
		CHECK_EQ(system(path), 0);
	}
	e.candidates = e.log_dir = NULL;
	return lgt_done("retrain");
}
