/* SPDX-License-Identifier: MIT */
/* MQTT output (libmosquitto): alerts and scores as the same JSON as the JSON lines, on
 * <topic>/alerts/<device> and <topic>/scores/<device>, incidents on
 * <topic>/incidents/<device>, drift events on <topic>/events/<device>. Publishing never
 * blocks the output thread; what cannot be queued is counted. */
#ifndef LINEGATE_DP_MQTT_H
#define LINEGATE_DP_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linegate/policy.h>

/* Messages waiting for the broker; past these, routine scores and then alerts are
 * dropped (and counted) instead of growing memory without bound. */
#define LG_MQTT_MAX_QUEUED_SCORES 10000
#define LG_MQTT_MAX_QUEUED_ALERTS 100000

struct lg_mqtt;

struct lg_mqtt_stats {
	uint64_t published, delivered, dropped_scores, dropped_alerts, connects;
	bool connected;
};

int lg_mqtt_open(const struct lg_policy_mqtt *cfg, struct lg_mqtt **out, char *err,
		 size_t errlen);
void lg_mqtt_publish(struct lg_mqtt *m, bool alert, const char *device, const char *payload,
		     size_t len);
/* incidents: an incident event on <topic>/incidents/<device>, QoS of alerts. */
void lg_mqtt_publish_incident(struct lg_mqtt *m, const char *device, const char *payload,
			      size_t len);
/* An event (drift.h) on <topic>/events/<device>, at the alerts' QoS and queue bound. */
void lg_mqtt_publish_event(struct lg_mqtt *m, const char *device, const char *payload,
			   size_t len);
void lg_mqtt_stats(const struct lg_mqtt *m, struct lg_mqtt_stats *st);
/* Wait up to timeout_ms for queued messages to reach the broker (while connected). */
void lg_mqtt_flush(struct lg_mqtt *m, int timeout_ms);
/* Disconnect and free. Accepts NULL. */
void lg_mqtt_close(struct lg_mqtt *m);

#endif
