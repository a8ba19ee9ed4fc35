/* SPDX-License-Identifier: MIT */
/*
 * MQTT output (libmosquitto; docs/policy.md "MQTT output", docs/operations.md "MQTT"):
 * alerts, scores, incidents and drift events as the same JSON as the JSON lines, on
 * <topic>/{alerts,scores,incidents,events}/<device>, each kind at its own QoS and retain
 * flag; the line server's retained <topic>/status ("online" after each connect, "offline"
 * as the last will and at a clean stop) and each device's <topic>/status/<device> (online
 * while its windows are scored, offline after device_offline_s without one).
 *
 * Without an outbox, messages wait in libmosquitto's memory (bounded below; a restart loses
 * them). With output.mqtt.outbox they go through the on-disk outbox (outbox.h): sent when
 * connected, removed once the broker acknowledged them (QoS 1, 2) or they were written to it
 * (QoS 0), sent again from the last acknowledged one after a reconnect or a restart (at
 * least once). Publishing never blocks the output thread; what cannot be kept is counted.
 *
 * A thread of its own connects, and reconnects with a backoff of 1, 2, 4 ... 30 s; a
 * refused connection (bad password, TLS) is counted by why and said on stderr.
 */
#ifndef LINEGATE_DP_MQTT_H
#define LINEGATE_DP_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <linegate/policy.h>

#include "outbox.h"

/* Messages waiting for the broker (no outbox); past these, routine scores and then alerts
 * are dropped (and counted) instead of growing memory without bound. */
#define LG_MQTT_MAX_QUEUED_SCORES 10000
#define LG_MQTT_MAX_QUEUED_ALERTS 100000
/* Outbox records handed to libmosquitto and not yet acknowledged, at most. */
#define LG_MQTT_INFLIGHT 256u
#define LG_MQTT_BACKOFF_MAX_S 30

/* Why a message was not published (lg_mqtt_drop_names: the metric label). */
enum lg_mqtt_drop {
	LG_MQTT_DROP_QUEUE_FULL,    /* no outbox: too many waiting for the broker */
	LG_MQTT_DROP_NOT_CONNECTED, /* no outbox: QoS 0 while disconnected */
	LG_MQTT_DROP_CLIENT,	    /* libmosquitto refused it (too large, out of memory) */
	LG_MQTT_DROP_OUTBOX_FULL,   /* a score, the outbox past 3/4 full */
	LG_MQTT_DROP_TOO_LARGE,	    /* larger than an outbox segment */
	LG_MQTT_DROP_DISK,	    /* the outbox's write failed (ENOSPC, EIO) */
	LG_MQTT_DROPS
};
extern const char *const lg_mqtt_drop_names[LG_MQTT_DROPS];

/* Why a connection attempt failed (lg_mqtt_conn_error_names). */
enum lg_mqtt_conn_error {
	LG_MQTT_ERR_AUTH,     /* the broker refused the user name or password */
	LG_MQTT_ERR_PROTOCOL, /* the broker does not speak the protocol version */
	LG_MQTT_ERR_REFUSED,  /* refused for another reason (client id, server busy, ...) */
	LG_MQTT_ERR_TLS,      /* TLS handshake: certificate not trusted, wrong name, ... */
	LG_MQTT_ERR_NETWORK,  /* no TCP connection (nobody listening, unreachable) */
	LG_MQTT_ERRS
};
extern const char *const lg_mqtt_conn_error_names[LG_MQTT_ERRS];

struct lg_mqtt;

struct lg_mqtt_stats {
	uint64_t published;	 /* handed to libmosquitto, every kind, resends included */
	uint64_t delivered;	 /* acknowledged (QoS 1, 2) or written (QoS 0) */
	uint64_t dropped_scores; /* dropped[scores][*] */
	uint64_t dropped_alerts; /* dropped[alerts, incidents, events][*] */
	uint64_t connects, disconnects;
	bool connected;
	uint64_t published_kind[LG_MQTT_KINDS];
	uint64_t dropped[LG_MQTT_KINDS][LG_MQTT_DROPS];
	uint64_t resent; /* outbox records published again (reconnect, restart) */
	uint64_t conn_errors[LG_MQTT_ERRS];
	uint32_t devices_online, devices_offline;
	bool have_outbox;
	struct lg_outbox_stats outbox;
	/* Issue 12, without an outbox: by kind, delivered (acknowledged, or written for QoS
	 * 0), handed to libmosquitto and not delivered yet (queued), and what the stop
	 * abandoned (lg_mqtt_stop_within(): queued then; 0 until then, and with an outbox). */
	uint64_t delivered_kind[LG_MQTT_KINDS];
	uint64_t queued_kind[LG_MQTT_KINDS];
	uint64_t abandoned[LG_MQTT_KINDS], abandoned_total;
	/* Issue 12: why the last attempt failed or the connection was lost (an enum
	 * lg_mqtt_conn_error, -1: none since the last connection), and what was said. */
	int last_error;
	char last_error_text[320];
};

/* Connect in the background. devs: the enrolled devices, whose status turns offline when
 * they send nothing for device_offline_s from now on. */
int lg_mqtt_open(const struct lg_policy_mqtt *cfg, const struct lg_policy_device *devs,
		 size_t ndevs, struct lg_mqtt **out, char *err, size_t errlen);
/* One record (kind alerts, incidents, scores or events) of a device: into the outbox, or
 * to libmosquitto. Marks the device online. Output thread only. */
void lg_mqtt_put(struct lg_mqtt *m, enum lg_mqtt_kind kind, uint32_t device_id, const char *device,
		 const char *payload, size_t len);
/* Each round of the output thread: acknowledgements in, outbox records out, device
 * status. */
void lg_mqtt_pump(struct lg_mqtt *m);
void lg_mqtt_stats(const struct lg_mqtt *m, struct lg_mqtt_stats *st);
/* Wait up to timeout_ms for what is queued (outbox included) to reach the broker, while
 * connected. Output thread (or after it stopped). */
void lg_mqtt_flush(struct lg_mqtt *m, int timeout_ms);
/* Publish the clean "offline", disconnect and free (the outbox keeps what was not
 * acknowledged). Accepts NULL. */
void lg_mqtt_close(struct lg_mqtt *m);
/* The shutdown's line: what the stop abandoned, by kind (or what the outbox keeps). */
void lg_mqtt_abandon_summary(const struct lg_mqtt *m, FILE *f);
/* Say the clean "offline" (waiting at most timeout_ms for the broker to have it), stop the
 * network thread and count what libmosquitto still holds as abandoned, by kind (no outbox).
 * lg_mqtt_stats() works on after it; lg_mqtt_close*() do it when it was not done. */
void lg_mqtt_stop_within(struct lg_mqtt *m, int timeout_ms);
/* lg_mqtt_close(), waiting at most timeout_ms (0: not at all) for the broker to have the
 * clean "offline": a shutdown whose bound has passed does not wait for a silent broker. */
void lg_mqtt_close_within(struct lg_mqtt *m, int timeout_ms);

#endif
