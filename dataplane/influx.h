/* SPDX-License-Identifier: MIT */
/*
 * InfluxDB line protocol over HTTP (issue 12, docs/policy.md "InfluxDB line protocol"):
 * scores, chosen features and incidents as points, to any server that takes InfluxDB's
 * /write or /api/v2/write (InfluxDB 1.x and 2.x, VictoriaMetrics, QuestDB, Telegraf).
 *
 * The output thread formats lines into a bounded buffer of batches (lg_influx_row(),
 * lg_influx_incident(): a mutex, never the network); a thread of the module's own POSTs
 * a batch when it holds batch_lines lines or its oldest is flush_ms old, with libcurl.
 * A server that is down or answers 5xx, 408 or 429 is retried with backoff while lines
 * wait (at most max_buffer_lines; past that new lines are dropped, counted); a batch the
 * server refuses (another 4xx) is dropped, counted, and the status and body are logged
 * once per status. Once linegate stops, requests, retries and backoff keep to its shutdown
 * deadline (lg_influx_set_deadline()); what is not sent by then is counted as dropped.
 */
#ifndef LINEGATE_DP_INFLUX_H
#define LINEGATE_DP_INFLUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/policy.h>

struct lg_event;
struct lg_meta_ent;
struct lg_influx;

/* What a piece of text is in a line: each has its own escapes (lg_influx_escape()). */
enum lg_lp_kind {
	LG_LP_MEASUREMENT, /* comma and space */
	LG_LP_TAG,         /* tag keys, tag values and field keys: comma, equals, space */
	LG_LP_STRING,      /* a string field's value, without its quotes: quote, backslash */
};

/*
 * in as line protocol text of the kind given, into out (NUL-terminated): the characters
 * the kind escapes get a backslash, a backslash is doubled, and newline, carriage return
 * and tab, which a line cannot hold, are written as the two characters \n, \r and \t.
 * Returns the length written, or -ENOSPC when out is too small.
 */
int lg_influx_escape(enum lg_lp_kind kind, const char *in, char *out, size_t len);

enum lg_influx_kind { LG_IX_SCORE, LG_IX_FEATURES, LG_IX_INCIDENT, LG_IX_KINDS };
enum lg_influx_drop { LG_IX_DROP_FULL, LG_IX_DROP_REFUSED, LG_IX_DROP_STOP, LG_IX_DROPS };
extern const char *const lg_influx_kind_names[LG_IX_KINDS];
extern const char *const lg_influx_drop_names[LG_IX_DROPS];

struct lg_influx_stats {
	uint64_t lines[LG_IX_KINDS]; /* lines made, by measurement */
	uint64_t skipped;            /* windows left out by decimation (not a loss) */
	uint64_t written;            /* lines in batches the server accepted (2xx) */
	uint64_t dropped[LG_IX_DROPS];
	uint64_t requests, failures, retries; /* POSTs; failed ones (retried or not) */
	uint64_t buffered;           /* lines waiting, the batch being sent included */
	unsigned last_status;        /* the last HTTP status, 0 = none (no answer) */
	bool up;                     /* the last request was answered 2xx */
};

/* Start the sender thread (no connection is made before the first batch). */
int lg_influx_open(const struct lg_policy_influx *cfg, struct lg_influx **out, char *err,
		   size_t errlen);
/* Output thread: a scored row (score and features points, decimated per device channel) and
 * an incident event. m is the device's metadata (meta.h), NULL when unknown. */
void lg_influx_row(struct lg_influx *ix, const struct lg_event *e, struct lg_meta_ent *m);
void lg_influx_incident(struct lg_influx *ix, const struct lg_event *e, struct lg_meta_ent *m);
void lg_influx_stats(struct lg_influx *ix, struct lg_influx_stats *st);
/* linegate is stopping: from now on a request, its retries and the backoff between them end
 * within timeout_ms (the shutdown bound); past it nothing more is sent, and at
 * lg_influx_stop() what is left is counted as dropped (shutdown). Accepts NULL. */
void lg_influx_set_deadline(struct lg_influx *ix, int timeout_ms);
/* Send what is buffered for up to timeout_ms (or the deadline set before, when sooner),
 * then stop the sender; what is left is
 * counted as dropped (shutdown). The stats stay readable. Accepts NULL. */
void lg_influx_stop(struct lg_influx *ix, int timeout_ms);
/* Stop (at once, when not stopped yet) and free. Accepts NULL. */
void lg_influx_close(struct lg_influx *ix);

#endif
