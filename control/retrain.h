/* SPDX-License-Identifier: MIT */
/*
 * Retraining after drift: linegated's part of the loop drift -> bounded recording ->
 * candidate -> a person's verdict (docs/models.md, "Retraining after drift").
 *
 * When the data plane's status shows a device's drift monitor starting and the policy has
 * detection.drift.retrain, linegated asks the data plane to record that device for
 * record_seconds (prefix "drift", origin "drift", the policy's recording folder and bounds).
 * When the recording has ended, it runs linegate-train on those files in a process of
 * lowest priority (nice 19, SCHED_IDLE) on the cores no worker is pinned to: --base and
 * --compare the active model, --candidate-dir the registry's candidates/. The candidate
 * waits there for `linegatectl models approve|reject`. Every step is one audit line
 * ("retrain": recording, training, candidate, skipped, refused, failed, stopped).
 *
 * A line that already records every device (a continuous recording, the policy's or a
 * command's) keeps its recording: linegated cuts it (record rotate) at the drift and again
 * record_seconds later, and trains on the files between the cuts with --only-device.
 *
 * One retrain at a time: a device whose drift starts while another's retrain runs waits its
 * turn (lg_retrain_next(), when it is still in drift then); a device is retrained at most
 * once per cooldown_seconds. All of it runs from linegated's loop and never waits: a tick
 * looks and returns.
 */
#ifndef LG_RETRAIN_H
#define LG_RETRAIN_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <linegate/policy.h>

struct lg_retrain_env {
	void *ctx;
	/* one request to the data plane's control socket (takes req) */
	int (*dp)(void *ctx, json_object *req, json_object **reply, char *err, size_t errlen);
	/* one audit line, what "retrain" */
	void (*audit)(void *ctx, const char *result, const char *detail);
	const struct lg_policy *policy; /* running */
	const char *policy_path;        /* its file: device names and keys for the trainer */
	const char *model;              /* the active model's file */
	/* its registry reference ("name@version"), NULL when the policy's detection.model
	 * runs: a candidate is named after the registry name, so that its approval adds a
	 * version of the active model, not a model named after the file */
	const char *model_ref;
	const char *candidates;         /* <registry>/candidates */
	const char *train_bin;          /* linegate-train */
	const char *log_dir;            /* the trainer's output: LOG_DIR/retrain-<time>.log */
};

enum lg_retrain_phase { LG_RETRAIN_IDLE, LG_RETRAIN_RECORDING, LG_RETRAIN_TRAINING };

/* A job that failed holds its device off this long (the cooldown when shorter), not for the
 * whole cooldown: retry_after() in retrain.c. */
#define LG_RETRAIN_RETRY_S 600

struct lg_retrain {
	enum lg_retrain_phase phase;
	char device[64];
	uint32_t id;
	char method[32];          /* the monitor that started it */
	struct timespec started;  /* CLOCK_REALTIME: the recording's start */
	time_t deadline;          /* the recording should have ended by then */
	/* riding along a recording that runs: its files from first (a cut, record rotate)
	 * up to the next cut, made when the time is up */
	bool ride;
	char first[4096];
	/* the device's counters when its recording started (the data plane's stats): what
	 * changed while it was recorded goes with the candidate's reason (trial T, s24: a
	 * candidate trained on a forged fault's frames looked like any other) */
	struct lg_retrain_counts { uint64_t alerts, missing, dropped; bool known; } at_start;
	pid_t pid;                /* the trainer */
	char log[4096];           /* its output */
	uint64_t jobs, candidates, failed, skipped;
	char last[512];           /* the last result, for status */
	/* cooldown: until when a device's drifts start no retrain (its last one's start +
	 * cooldown_seconds, or a failed one's end + LG_RETRAIN_RETRY_S), and whether it failed */
	struct { char name[64]; time_t until; bool failed; } recent[64];
	unsigned nrecent;
	/* drifts that started while another retrain ran, oldest first, one per device (trial
	 * T, s24: the second of two drifts at once was skipped and never retrained) */
	struct { char name[64]; uint32_t id; char method[32]; } waiting[16];
	unsigned nwaiting;
};

/*
 * Where a candidate came from (trial X2, s26: a folder written by hand into candidates/, its
 * evaluation.json forged, was listed and approvable like one of the retrain's). A candidate
 * the retrain made is recorded in LOG_DIR/candidates-made/ID: the SHA-256 of its
 * evaluation.json as the trainer wrote it.
 */
#define LG_RETRAIN_MADE_DIR "candidates-made"
enum lg_cand_origin {
	LG_CAND_RETRAIN,        /* made by this linegated's retrain, evaluation.json as written */
	LG_CAND_RETRAIN_CHANGED, /* made by it, but its evaluation.json changed since */
	LG_CAND_OTHER,          /* not made by it: linegate-train by hand, or written there */
};
/* One line kept for candidate id in DIR/SUB/ID (DIR: linegated's state folder, NULL: none
 * kept): what its retrain made (LG_RETRAIN_MADE_DIR), the verdict given (linegated.c). get:
 * true with the line (no newline); put: 0, or -EIO with err said (DIR NULL: 0). */
bool lg_cand_note_get(const char *dir, const char *sub, const char *id, char *line, size_t len);
int lg_cand_note_put(const char *dir, const char *sub, const char *id, const char *line,
		     char *err, size_t errlen);
/* The origin of candidate id whose evaluation is eval_path, by log_dir's record (NULL: none). */
enum lg_cand_origin lg_retrain_origin(const char *log_dir, const char *id, const char *eval_path);
/* How linegated's candidate list names an origin ("origin"), and linegatectl reads it. */
static inline const char *lg_cand_origin_name(enum lg_cand_origin o)
{
	switch (o) {
	case LG_CAND_RETRAIN:
		return "retrain";
	case LG_CAND_RETRAIN_CHANGED:
		return "retrain, evaluation.json changed since";
	case LG_CAND_OTHER:
		break;
	}
	return "not this linegated's retrain";
}

/* A drift monitor (method) of device name/id started. */
void lg_retrain_drift(struct lg_retrain *r, const struct lg_retrain_env *e, const char *name,
		      uint32_t id, const char *method);
/* No retrain runs and a drift waits: its device, id and method, taken off the queue (the
 * caller starts it with lg_retrain_drift() when the device is still in drift). */
bool lg_retrain_next(struct lg_retrain *r, char *name, size_t len, uint32_t *id, char *method,
		     size_t mlen);
/* Every interval: a recording that ended starts the trainer; a trainer that ended is read. */
void lg_retrain_tick(struct lg_retrain *r, const struct lg_retrain_env *e);
/* linegated stops: a trainer still running is ended (SIGTERM) and audited. */
void lg_retrain_stop(struct lg_retrain *r, const struct lg_retrain_env *e);
/* "retrain" for linegated's status. */
json_object *lg_retrain_status(const struct lg_retrain *r);

#endif
