/* SPDX-License-Identifier: MIT */
/*
 * NATS JetStream output (docs/fleet.md): incidents, alerts, drift events and every
 * score_every-th score of a device, as the same JSON as the JSON lines, and the chosen
 * features of every feature_every-th row of a device channel, on
 * <subject_prefix>.<plant>.<line>.<kind>.<device> (kind: incident, alert, event, score,
 * features).
 *
 * The output thread puts records into the on-disk outbox (outbox.h) and pumps: records are
 * published asynchronously (js_PublishMsgAsync, at most LG_NATS_INFLIGHT unacknowledged)
 * with the header Nats-Msg-Id = <plant>:<line>:<outbox id>:<sequence number>, so that a
 * record sent again (after a lost acknowledgement, a reconnect, a restart) is removed by the
 * stream's duplicate window; the stream's acknowledgements advance the outbox's cursor.
 * Nothing waits for the network: while the server is away, records wait on disk (bounded,
 * counted) and libnats reconnects.
 */
#ifndef LINEGATE_DP_NATS_H
#define LINEGATE_DP_NATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/policy.h>

#include "outbox.h"

#define LG_NATS_INFLIGHT 1024u /* published, not yet acknowledged */
/* Records refused with nothing acknowledged are sent again after 1, 2, 4, 8, then every
 * LG_NATS_RESEND_MAX_S seconds (nats.c, REWIND_NS); /readyz keeps a refusal that recent. */
#define LG_NATS_RESEND_MAX_S 16
#define LG_NATS_ACK_WAIT_MS 5000 /* an acknowledgement not seen by then: sent again */

struct lg_nats;

struct lg_nats_stats {
	uint64_t published;  /* messages handed to libnats (resends included) */
	uint64_t acked;	     /* acknowledgements from the stream (duplicates included) */
	uint64_t duplicates; /* of them, ones the stream said were duplicates */
	uint64_t resent;     /* records published again (a sequence number seen before) */
	uint64_t errors;     /* publishes refused or not acknowledged in time */
	uint64_t scores_skipped; /* scores left out by score_every (not a loss) */
	uint64_t connects;   /* connections made, the first and reconnections */
	uint64_t closes;     /* connections libnats gave up on (replaced after a backoff) */
	bool connected;
	/* Issue 13: messages the server refused (a permission violation: a subject this
	 * server's credentials may not publish to) and the server's last words on it. */
	uint64_t refused;
	char last_error[256];
	double last_error_age_s; /* seconds since last_error was set; -1: never */
	double last_ack_age_s;	 /* seconds since the newest acknowledgement; -1: none yet */
	/* Decimated features (issue 13): rows left out by feature_every (not a loss), rows the
	 * decimation chose with no finite chosen feature (a wide-layout model's rows carry
	 * none: nothing to publish, not a loss). Published records: outbox, kind features. */
	uint64_t features_skipped, features_none;
	struct lg_outbox_stats outbox;
};

/* Open the outbox and start connecting (in the background: a server that is down is not an
 * error; records wait in the outbox). */
int lg_nats_open(const struct lg_policy_nats *cfg, struct lg_nats **out, char *err,
		 size_t errlen);
/* A record (a JSON text without its newline) for the outbox; scores decimated per device. */
void lg_nats_put(struct lg_nats *n, enum lg_outbox_kind kind, uint32_t device_id,
		 const char *device, const char *json, size_t len);
/*
 * Decimated features (issue 13): the output.nats.features mask (0: none), and whether this
 * row of the device's channel is due (the 1st, feature_every+1-th, ... of the channel;
 * counted as skipped when not). A due row's record goes in by lg_nats_put with
 * LG_OUTBOX_FEATURES, or is counted by lg_nats_features_none when it has no feature.
 */
uint32_t lg_nats_features(const struct lg_nats *n);
bool lg_nats_feature_due(struct lg_nats *n, uint32_t device_id, unsigned channel);
void lg_nats_features_none(struct lg_nats *n);
/* Acknowledgements in, records out, the outbox synced when due. Called by the output thread
 * every round; never blocks on the network. */
void lg_nats_pump(struct lg_nats *n);
/* At shutdown: pump for up to timeout_ms while records are unacknowledged and connected. */
void lg_nats_flush(struct lg_nats *n, int timeout_ms);
void lg_nats_stats(const struct lg_nats *n, struct lg_nats_stats *st);
/* Close the connection, sync and close the outbox, free. Accepts NULL. */
void lg_nats_close(struct lg_nats *n);

#endif
