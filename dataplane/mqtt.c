// SPDX-License-Identifier: MIT
#include "mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lg_mqtt {
	struct mosquitto *mosq;
	struct lg_policy_mqtt cfg;
	/* Written by the output thread (published, dropped) and by libmosquitto's network
	 * thread (delivered, connected, connects). */
	_Atomic uint64_t published, delivered, dropped_scores, dropped_alerts, connects;
	_Atomic bool connected;
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct lg_mqtt *m = obj;

	(void)mosq;
	if (!rc) {
		atomic_store(&m->connected, true);
		atomic_fetch_add(&m->connects, 1);
	}
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	(void)mosq;
	(void)rc;
	atomic_store(&((struct lg_mqtt *)obj)->connected, false);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	(void)mosq;
	(void)mid;
	atomic_fetch_add(&((struct lg_mqtt *)obj)->delivered, 1);
}

int lg_mqtt_open(const struct lg_policy_mqtt *cfg, struct lg_mqtt **out, char *err,
		 size_t errlen)
{
	struct lg_mqtt *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->cfg = *cfg;
	mosquitto_lib_init();
	m->mosq = mosquitto_new(cfg->client_id, true, m);
	if (!m->mosq) {
		snprintf(err, errlen, "mosquitto_new: %s", strerror(errno));
		free(m);
		return -ENOMEM;
	}
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	/* A broker that goes away is retried every 1..30 s; publishing meanwhile is counted,
	 * never waited for. */
	mosquitto_reconnect_delay_set(m->mosq, 1, 30, true);
	rc = mosquitto_connect_async(m->mosq, cfg->host, cfg->port, 30);
	if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_ERRNO)
		rc = mosquitto_loop_start(m->mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "MQTT %s:%u: %s", cfg->host, cfg->port, mosquitto_strerror(rc));
		mosquitto_destroy(m->mosq);
		free(m);
		return -EIO;
	}
	*out = m;
	return 0;
}

void lg_mqtt_publish_event(struct lg_mqtt *m, const char *device, const char *payload,
			   size_t len)
{
	char topic[256];
	int rc;

	if (atomic_load(&m->published) - atomic_load(&m->delivered) >= LG_MQTT_MAX_QUEUED_ALERTS) {
		atomic_fetch_add(&m->dropped_alerts, 1);
		return;
	}
	snprintf(topic, sizeof(topic), "%s/events/%s", m->cfg.topic, device);
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, m->cfg.qos_alerts, false);
	if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && m->cfg.qos_alerts > 0))
		atomic_fetch_add(&m->published, 1);
	else
		atomic_fetch_add(&m->dropped_alerts, 1);
}

void lg_mqtt_publish(struct lg_mqtt *m, bool alert, const char *device, const char *payload,
		     size_t len)
{
	char topic[256];
	uint64_t queued = atomic_load(&m->published) - atomic_load(&m->delivered);
	int rc, qos;

	if (!alert && !m->cfg.scores)
		return;
	if (queued >= (alert ? LG_MQTT_MAX_QUEUED_ALERTS : LG_MQTT_MAX_QUEUED_SCORES)) {
		atomic_fetch_add(alert ? &m->dropped_alerts : &m->dropped_scores, 1);
		return;
	}
	snprintf(topic, sizeof(topic), "%s/%s/%s", m->cfg.topic, alert ? "alerts" : "scores",
		 device);
	qos = alert ? m->cfg.qos_alerts : m->cfg.qos_scores;
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, qos, false);
	/* While disconnected, libmosquitto keeps QoS 1 and 2 messages for the next
	 * connection and says MOSQ_ERR_NO_CONN; only QoS 0 ones are really lost then. */
	if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && qos > 0))
		atomic_fetch_add(&m->published, 1);
	else
		atomic_fetch_add(alert ? &m->dropped_alerts : &m->dropped_scores, 1);
}

/* incidents: <topic>/incidents/<device>, with the QoS of alerts (and their queue bound). */
void lg_mqtt_publish_incident(struct lg_mqtt *m, const char *device, const char *payload,
			      size_t len)
{
	char topic[256];
	uint64_t queued = atomic_load(&m->published) - atomic_load(&m->delivered);
	int rc;

	if (queued >= LG_MQTT_MAX_QUEUED_ALERTS) {
		atomic_fetch_add(&m->dropped_alerts, 1);
		return;
	}
	snprintf(topic, sizeof(topic), "%s/incidents/%s", m->cfg.topic, device);
	rc = mosquitto_publish(m->mosq, NULL, topic, (int)len, payload, m->cfg.qos_alerts, false);
	if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && m->cfg.qos_alerts > 0))
		atomic_fetch_add(&m->published, 1);
	else
		atomic_fetch_add(&m->dropped_alerts, 1);
}

void lg_mqtt_stats(const struct lg_mqtt *m, struct lg_mqtt_stats *st)
{
	st->published = atomic_load(&m->published);
	st->delivered = atomic_load(&m->delivered);
	st->dropped_scores = atomic_load(&m->dropped_scores);
	st->dropped_alerts = atomic_load(&m->dropped_alerts);
	st->connects = atomic_load(&m->connects);
	st->connected = atomic_load(&m->connected);
}

void lg_mqtt_flush(struct lg_mqtt *m, int timeout_ms)
{
	if (!m)
		return;
	for (int t = 0; t < timeout_ms && atomic_load(&m->connected) &&
			atomic_load(&m->delivered) < atomic_load(&m->published);
	     t += 10) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
}

void lg_mqtt_close(struct lg_mqtt *m)
{
	if (!m)
		return;
	mosquitto_disconnect(m->mosq);
	mosquitto_loop_stop(m->mosq, false);
	mosquitto_destroy(m->mosq);
	mosquitto_lib_cleanup();
	free(m);
}
