/* SPDX-License-Identifier: MIT */
/*
 * OPC UA PubSub over MQTT (OPC 10000-14, 7.3.5) as a second way in: a libmosquitto client,
 * with its own network thread (lg-opcua-mqtt), subscribes to the policy's opcua_mqtt.topics
 * and hands every message to a worker's handoff ring as a UADP packet with transport
 * LG_RX_MQTT: UADP payloads as they are, JSON ones converted (uadp_json.h). The worker
 * judges it as any datagram (identity, transport, security, replay). What this thread
 * refuses itself (JSON it cannot convert, a ring that stays full) it counts by reason, so
 * that received = admitted + dropped holds with it.
 */
#ifndef LINEGATE_DP_OPCUA_MQTT_H
#define LINEGATE_DP_OPCUA_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/frame.h>
#include <linegate/policy.h>

struct lg_dp;
struct lg_opcua_mqtt;

struct lg_opcua_mqtt_stats {
	uint64_t received;  /* messages the broker delivered */
	uint64_t json;      /* of them JSON, converted to UADP */
	uint64_t handed;    /* put into a worker's ring (the worker counts its verdict) */
	uint64_t connects;  /* successful connections; connects - 1 are reconnections */
	bool connected;
	uint64_t drops[LG_REASON_MAX]; /* refused here, by reason */
};

/* How long a message waits for room in a full handoff ring before it is dropped. */
#define LG_OPCUA_MQTT_WAIT_MS 100

/* Connect (in the background: a broker that is down is retried with backoff) and subscribe.
 * 0, or a negative errno with a message in err. */
int lg_opcua_mqtt_open(struct lg_dp *dp, const struct lg_policy_opcua_mqtt *cfg,
		       struct lg_opcua_mqtt **out, char *err, size_t errlen);
void lg_opcua_mqtt_stats(const struct lg_opcua_mqtt *m, struct lg_opcua_mqtt_stats *st);
/* Disconnect and stop its thread: nothing more is handed to a worker; the counters stay
 * readable. Accepts NULL, and a client stopped before. */
void lg_opcua_mqtt_stop(struct lg_opcua_mqtt *m);
/* Stop (if not yet) and free. Accepts NULL. */
void lg_opcua_mqtt_close(struct lg_opcua_mqtt *m);

#endif
