/* SPDX-License-Identifier: MIT */
/*
 * Recording admitted frames to pcapng files (docs/recording.md). Workers copy a verified
 * frame into their own bounded ring (a full ring counts record_dropped: a worker never
 * waits); a recorder thread writes the rings into <dir>/<prefix>-<UTC time>-<n>.pcapng
 * (".part" until closed), rotates by size and age, deletes the oldest closed files to stay
 * under max_total_bytes, and stops by itself (never blocks) when a write fails or free
 * space falls under min_free_bytes: record_errors, state "stopped: <reason>", one event
 * line in the JSON lines output and one log line.
 *
 * lg_record_start()/lg_record_stop() are the whole interface for whoever starts one: the
 * policy's 'recording' section, `linegatectl record`, later a drift event.
 */
#ifndef LG_RECORD_H
#define LG_RECORD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/backend.h>
#include <linegate/policy.h>

struct lg_dp;
struct lg_worker;
struct lg_recorder;

/* What to record, and its bounds. */
struct lg_rec_conf {
	char dir[LG_PATH_MAX];
	char prefix[LG_NAME_MAX];
	const uint32_t *ids; /* device ids to record (copied); nids 0 = every device */
	size_t nids;
	uint64_t max_file_bytes, max_file_seconds, max_total_bytes, min_free_bytes;
	uint64_t for_seconds; /* stop after this long; 0 = until stopped */
	const char *origin;   /* who started it: "policy", "command", ... (shown in status) */
};

struct lg_rec_status {
	char state[320]; /* "off", "recording", "stopped: <reason>" */
	char origin[32]; /* who started the recording that runs, or the last one ("" none) */
	bool running;	 /* a recording runs (state "recording") */
	char current[LG_PATH_MAX + 8]; /* the file being written ("" when none) */
	char dir[LG_PATH_MAX];
	uint64_t files;		/* files created since linegate started */
	uint64_t bytes, frames; /* written to files since linegate started */
	uint64_t dropped;	/* frames lost to a full ring (record_dropped) */
	uint64_t errors;	/* recordings stopped by a failed write or a full disk */
	uint64_t deleted;	/* closed files deleted for max_total_bytes */
	size_t nids;		/* devices selected, 0 = all */
	/* recordings that ended by themselves (--for up, the policy's section changed, a
	 * failure; not a command's stop nor linegate's), and how the last did: "<origin> in
	 * <dir>: stopped: <reason>" */
	uint64_t ended;
	char last_end[LG_PATH_MAX + 400];
};

/* The recorder of dp (its rings, its thread). bind_addr: the address linegate receives on
 * (--bind), the destination written into synthesized headers; NULL = 0.0.0.0 / ::. */
int lg_record_init(struct lg_dp *dp, const char *bind_addr, struct lg_recorder **out);
/* Stop a recording (if any), end the thread, free everything. Workers must have ended. */
void lg_record_destroy(struct lg_recorder *r);

/* Start recording; refused (-EBUSY) while one runs, or with err saying why (a folder that
 * cannot be written, less free space than min_free_bytes, bounds that do not fit). */
int lg_record_start(struct lg_recorder *r, const struct lg_rec_conf *c, char *err, size_t errlen);
/* Stop: the frames already taken are written, the file is closed. -ENOENT when none ran,
 * -EBUSY when the recorder stayed busy writing for 2 s (start too: err says so). Status
 * never waits for a write. */
int lg_record_stop(struct lg_recorder *r, const char *why);
void lg_record_status(struct lg_recorder *r, struct lg_rec_status *st);
/* Close the file being written (renamed from .part, with every frame taken before the
 * call) and go on in a new one, whose final name (without .part) goes to next: a cut in
 * time that later files start after. -ENOENT when no recording runs, -EBUSY as stop, -EIO
 * when the write failed (the recording stopped: status says why). */
int lg_record_rotate(struct lg_recorder *r, char *next, size_t len);
/* The origin of the recording that runs ("" when none). */
bool lg_record_running(struct lg_recorder *r, char *origin, size_t len);

/*
 * The policy's recording section (p's) after an apply (or at start): a change starts it
 * anew (enabled) or stops one the policy started (disabled); a recording started by a
 * command is left alone unless the policy enables its own. 0, or a negative errno with err
 * (the policy was applied; the recording was not started).
 */
int lg_record_apply_policy(struct lg_recorder *r, const struct lg_policy_recording *old,
			   const struct lg_policy *p, char *err, size_t errlen);
/* Device names and group names of p into ids (malloc'd); err names an unknown one. */
int lg_record_select(const struct lg_policy *p, const char *const *devices, size_t ndev,
		     const char *const *groups, size_t ngroups, uint32_t **ids, size_t *nids,
		     char *err, size_t errlen);

/* The counters and state as "recording": {...} in the stats object o (a json_object *),
 * with record_dropped and record_errors at its top level too. */
void lg_record_stats_json(struct lg_recorder *r, void *o);

/* Output thread: the pending event line (with '\n'), 0 when none. */
size_t lg_record_take_event(struct lg_recorder *r, char *buf, size_t len);

/* Worker: record a frame admitted for the devices ids[0..n) (one LGF frame, or one UADP
 * NetworkMessage with its DataSetMessages' devices) that came to UDP port dport. Costs a
 * load when nothing records; never waits. */
void lg_record_frame(struct lg_worker *w, uint16_t dport, const struct lg_rx_pkt *pkt,
		     const uint32_t *ids, unsigned n);

#endif /* LG_RECORD_H */
