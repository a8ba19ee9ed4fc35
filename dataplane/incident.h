/* SPDX-License-Identifier: MIT */
/*
 * Incidents (docs/operations.md "Incidents"): per device, alerts become one incident per
 * fault. The core is pure (no clock, no I/O): one device window's verdict in, one
 * transition out, so that its unit test (tests/unit/test_incident.c) gives exact sequences.
 *
 *	closed --(confirm of the last 'of' windows alerted)--> open          LG_INC_OPEN
 *	open   --(news, at most once a update_ms)-----------> open          LG_INC_UPDATE
 *	open   --(resolve_after windows in a row with score < threshold x max(hysteresis,
 *	          the model's normal level))
 *	       -------------------------------------------> closed          LG_INC_RESOLVE
 *
 * An incident's persistent part (struct lg_inc_rec) lives in the state folder when there is
 * one (statefile.c, incidents.state), written by the device's owner worker only: a
 * restarted linegate continues an open incident (LG_INC_CONTINUE, shown as an update) and
 * never opens it a second time.
 */
#ifndef LG_INCIDENT_H
#define LG_INCIDENT_H

#include <stdbool.h>
#include <stdint.h>

#include <linegate/policy.h>

/* Where a window's sample time came from (the "clock" member of an incident event). */
enum lg_inc_clock {
	LG_INC_CLOCK_RECEIVE = 0, /* linegate's wall clock when the window's first frame came */
	LG_INC_CLOCK_SENDER,      /* LGF timestamp_ns, the sender's clock */
	LG_INC_CLOCK_SOURCE,      /* a UADP DataSet's DateTime field (source_time) */
};

enum lg_inc_event {
	LG_INC_NONE = 0,
	LG_INC_OPEN,
	LG_INC_UPDATE,
	LG_INC_RESOLVE,
	LG_INC_CONTINUE, /* an incident a previous run left open, seen again: an update */
	LG_INC_FINAL,    /* linegate stops (or a replay ends) with it open: its last figures,
			  * an update with "final":true (lg_inc_final()) */
	LG_INC_REMOVED,  /* its device left the policy (revoked, or a policy without it): a
			  * resolve with "reason":"device removed from the policy"
			  * (lg_inc_removed()) */
};

#define LG_INC_ID_LEN 128

/* What outlives a restart: 192 bytes, three cache lines, one slot per device. */
struct lg_inc_rec {
	uint32_t dev;        /* device id, 0 = free slot */
	uint32_t open;       /* written last when opening, first when resolving */
	uint64_t counter;    /* incidents this device ever opened (the id's last part) */
	uint64_t onset_ns;   /* sample time (ns since 1970) of the first alerting window */
	uint64_t opened_ns;  /* when it opened: wall clock, or sample time of a finite stream */
	uint64_t windows;    /* device windows since the onset, the onset's included */
	uint64_t alerts;     /* of them, windows that alerted */
	float max_score;
	float threshold;
	uint8_t clock;       /* enum lg_inc_clock of onset_ns */
	uint8_t tti_set;     /* tti_ms below was measured when it opened (older files: 0) */
	uint8_t pad[2];
	/* time to insight on one clock: opened - onset, the onset carried onto linegate's
	 * clock by the offset the window that opened it showed (sender clock -> arrival) */
	uint32_t tti_ms;
	char id[LG_INC_ID_LEN];
};
_Static_assert(sizeof(struct lg_inc_rec) == 192, "three cache lines a slot");

/* A sender's clock this far from linegate's (at an incident's open) has its onset carried
 * onto linegate's clock for tti_ms (incident.c, inc_tti). */
#define LG_INC_CLOCK_STEP_NS 1000000000LL

/* The volatile part, per device, in its lg_dev_state. */
struct lg_inc_core {
	uint32_t hist;   /* bit i: the device window i windows ago alerted */
	uint32_t nhist;  /* windows in hist */
	uint64_t t[LG_INCIDENT_MAX_OF];     /* their sample times */
	float score[LG_INCIDENT_MAX_OF];    /* and scores */
	uint32_t normal_run;  /* open: windows in a row below the normal level (lg_inc_step) */
	bool seen;            /* the record was looked at this run (LG_INC_CONTINUE) */
	uint64_t last_event_ns; /* when the last open/update went out */
	uint64_t ev_alerts;     /* alerts and max score the last event showed */
	float ev_max;
	uint64_t ev_windows;    /* and its windows */
	uint64_t last_now_ns;   /* the event clock of the newest window */
};

/* One device window: any of its channels alerted, the highest score of its channels. */
struct lg_inc_win {
	bool alert;
	float score, threshold;
	uint64_t sample_ns; /* the window's sample time (ns since 1970) */
	uint8_t clock;      /* enum lg_inc_clock */
	uint64_t now_ns;    /* the event clock: wall time, or sample time of a finite stream */
	/* the model's normal level for this device (lg_detector.normal_level; 0: none): a
	 * window is normal below threshold x max(the policy's hysteresis, level) */
	float level;
};

/*
 * Feed one device window to the device's state machine (cfg: the policy's
 * detection.incidents; a new one takes effect from the next window). On LG_INC_OPEN the
 * record gets its id from name (the device's name), the onset and counter; the caller
 * publishes the record as it is after the call.
 */
enum lg_inc_event lg_inc_step(struct lg_inc_core *c, struct lg_inc_rec *r,
			      const struct lg_policy_incidents *cfg, const struct lg_inc_win *w,
			      const char *name);

/*
 * linegate stops or a replay ends: LG_INC_FINAL when the record is open and has news since
 * its last event (windows, alerts or a higher score seen by this run), so that the last
 * line of an open incident carries the figures its windows reached; LG_INC_NONE otherwise.
 * The record's windows, alerts and max_score are written with relaxed atomic stores by
 * lg_inc_step(), so that status may read them while the owner worker runs (metrics.c).
 */
enum lg_inc_event lg_inc_final(struct lg_inc_core *c, const struct lg_inc_rec *r);

/*
 * The device left the policy (a revoke, a policy without it): no window will come to
 * resolve an open incident, which would stay open (status, linegate_incidents_open, and
 * the state folder across restarts) for ever (trial J F11). LG_INC_REMOVED when the record
 * was open, now closed (and written closed first, as a resolve: a restart does not bring it
 * back); LG_INC_NONE otherwise. The device's incident counter is kept: if it is enrolled
 * again, its next incident has a new id.
 */
enum lg_inc_event lg_inc_removed(struct lg_inc_core *c, struct lg_inc_rec *r);

/* RFC 3339 UTC with milliseconds (2026-12-04T18:00:00.123Z) of ns since 1970. */
void lg_inc_time(uint64_t ns, char *out, size_t len);
const char *lg_inc_clock_name(uint8_t clock);
const char *lg_inc_event_name(enum lg_inc_event ev);

#endif
