// SPDX-License-Identifier: MIT
/* OPC UA PubSub over MQTT: the broker's messages into the workers' handoff rings
 * (opcua_mqtt.h). Everything here runs on libmosquitto's network thread. */
#include "opcua_mqtt.h"

#include "dataplane.h"
#include "stages.h"

#include <linegate/uadp_json.h>

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lg_opcua_mqtt {
	struct lg_dp *dp;
	struct mosquitto *mosq;
	struct lg_policy_opcua_mqtt cfg;
	struct lg_uadp_json *conv;
	struct lg_uadp_msg *umsg; /* decode space to find a message's owner worker */
	uint8_t buf[LG_HANDOFF_MAX];
	/* Written by the network thread, read by stats. */
	_Atomic uint64_t received, json, handed, connects;
	_Atomic uint64_t drops[LG_REASON_MAX];
	_Atomic bool connected;
	bool stopped; /* lg_opcua_mqtt_stop() ran (the main thread's own flag) */
};

static void on_connect(struct mosquitto *mosq, void *obj, int rc)
{
	struct lg_opcua_mqtt *m = obj;

	/* The callbacks run on libmosquitto's thread: name it for top -H and the tests. */
	pthread_setname_np(pthread_self(), "lg-opcua-mqtt");
	if (rc) {
		fprintf(stderr, "linegate: opcua_mqtt: %s:%u refused the connection: %s\n",
			m->cfg.host, m->cfg.port, mosquitto_connack_string(rc));
		return;
	}
	/* One line a (re)connection: when the broker was away, the log says so. */
	fprintf(stderr, "linegate: opcua_mqtt: connected to %s:%u (connection %llu)\n",
		m->cfg.host, m->cfg.port,
		(unsigned long long)atomic_load(&m->connects) + 1);
	/* A clean session forgets subscriptions: subscribe on every (re)connection. */
	for (unsigned i = 0; i < m->cfg.ntopics; i++)
		mosquitto_subscribe(mosq, NULL, m->cfg.topics[i], m->cfg.qos);
	atomic_store(&m->connected, true);
	atomic_fetch_add(&m->connects, 1);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct lg_opcua_mqtt *m = obj;

	(void)mosq;
	atomic_store(&m->connected, false);
	/* rc 0: we asked for it (linegate stops); else the broker went away: reconnecting */
	if (rc)
		fprintf(stderr, "linegate: opcua_mqtt: lost %s:%u (%s); reconnecting, messages "
			"published meanwhile are the broker's to keep\n", m->cfg.host, m->cfg.port,
			mosquitto_strerror(rc));
}

/*
 * The policy's answer for a JSON message's (PublisherId, DataSetWriterId): the UADP device
 * with that publisher (by its text) and writer. A device that may speak over MQTT wins over
 * a UDP-only one with the same identity; the latter is still returned, so that the worker
 * refuses the message as spoofed_source rather than as unknown. Called under apply_lock.
 */
static int resolve(void *arg, const char *publisher, uint16_t writer,
		   struct lg_uadp_json_ident *out)
{
	const struct lg_gen *g = arg;
	const struct lg_policy_device *best = NULL;

	for (size_t i = 0; i < g->policy.ndevices; i++) {
		const struct lg_policy_device *d = &g->policy.devices[i];
		char num[24];

		if (!d->uadp_pub_type || d->uadp_writer != writer)
			continue;
		if (d->uadp_pub_type - 1 != LG_UADP_PUBID_STRING) {
			snprintf(num, sizeof(num), "%llu", (unsigned long long)d->uadp_pub_num);
			if (strcmp(num, publisher))
				continue;
		} else if (strcmp(d->uadp_pub_str, publisher)) {
			continue;
		}
		if (!best || (best->uadp_transport == LG_UADP_TRANSPORT_UDP &&
			      d->uadp_transport != LG_UADP_TRANSPORT_UDP))
			best = d;
	}
	if (!best)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->pub_type = (uint8_t)(best->uadp_pub_type - 1);
	out->pub_num = best->uadp_pub_num;
	snprintf(out->pub_str, sizeof(out->pub_str), "%s", best->uadp_pub_str);
	out->writer_group = best->uadp_writer_group;
	out->nfields = best->uadp_nfields;
	out->fields = best->uadp_fields;
	return 0;
}

/* The worker that owns the message's first DataSetMessage's device; 0 when none does (the
 * worker judges and counts it as it would a datagram). Called under apply_lock. */
static unsigned owner_of(struct lg_opcua_mqtt *m, const struct lg_gen *g, const uint8_t *data,
			 size_t len)
{
	struct lg_uadp_route key = { 0 }, *r;
	/* RawData (no_layout here) has its identity in the headers decoded before it. */
	int err = lg_uadp_decode(m->umsg, data, len, NULL);

	if ((err && err != -LG_UADP_NO_LAYOUT) || !m->umsg->dsm_count ||
	    lg_uadp_device_key(m->umsg, 0, &key.key))
		return 0;
	r = bsearch(&key, g->uadp, g->nuadp, sizeof(*r), lg_uadp_route_cmp);
	return r ? g->owner[r->dev] : 0;
}

static enum lg_reason json_reason(int err)
{
	if (err == -ENOMSG)
		return LG_DROP_UADP_EVENT; /* the reason a UADP event has */
	return err == -ENOTSUP ? LG_DROP_UNSUPPORTED : LG_DROP_MQTT_BAD_JSON;
}

/* Into the owner's ring; a full ring is waited for a little (the broker buffers behind us),
 * never a worker. */
static enum lg_reason hand_over(struct lg_opcua_mqtt *m, unsigned owner,
				const struct lg_rx_pkt *pkt)
{
	struct lg_dp *dp = m->dp;

	for (int t = 0; !lg_handoff_push(&dp->workers[owner].in, pkt); t++) {
		struct timespec ts = { 0, 1000000 };

		if (t >= LG_OPCUA_MQTT_WAIT_MS || atomic_load(&dp->stop))
			return LG_DROP_MQTT_QUEUE_FULL;
		nanosleep(&ts, NULL);
	}
	return LG_OK;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
	struct lg_opcua_mqtt *m = obj;
	struct lg_dp *dp = m->dp;
	const uint8_t *p = msg->payload;
	size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0, i = 0;
	struct lg_rx_pkt pkt = { .port_idx = 1, .transport = LG_RX_MQTT };
	enum lg_reason r = LG_OK;
	unsigned owner;
	int n;

	(void)mosq;
	pkt.rx_ns = lg_now_ns();
	pkt.arrival_ns = pkt.rx_ns; /* the broker client's callback: no earlier time */
	atomic_fetch_add_explicit(&m->received, 1, memory_order_relaxed);
	while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	/* The generation (the policy the JSON identity is looked up in, the owner table)
	 * cannot be freed while apply_lock is held; a worker never takes it. */
	pthread_mutex_lock(&dp->apply_lock);
	{
		struct lg_gen *g = atomic_load(&dp->gen);

		if (i < len && p[i] == '{') {
			/* The JSON mapping: the UADP message it is, unsigned. */
			atomic_fetch_add_explicit(&m->json, 1, memory_order_relaxed);
			n = lg_uadp_json_convert(m->conv, (const char *)p, len, resolve, g, m->buf,
						 sizeof(m->buf));
			if (n < 0) {
				r = json_reason(n);
			} else {
				pkt.data = m->buf;
				pkt.len = (uint32_t)n;
			}
		} else if (len > LG_HANDOFF_MAX) {
			r = LG_DROP_BAD_LENGTH;
		} else {
			/* UADP as it is; the worker decodes it (and refuses what is not). */
			pkt.data = p;
			pkt.len = (uint32_t)len;
		}
		owner = r == LG_OK ? owner_of(m, g, pkt.data, pkt.len) : 0;
	}
	pthread_mutex_unlock(&dp->apply_lock);
	if (r == LG_OK && !pkt.data)
		pkt.data = m->buf; /* an empty message: the worker counts it truncated */
	if (r == LG_OK)
		r = hand_over(m, owner < dp->nworkers ? owner : 0, &pkt);
	if (r == LG_OK)
		atomic_fetch_add_explicit(&m->handed, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&m->drops[r], 1, memory_order_relaxed);
}

int lg_opcua_mqtt_open(struct lg_dp *dp, const struct lg_policy_opcua_mqtt *cfg,
		       struct lg_opcua_mqtt **out, char *err, size_t errlen)
{
	struct lg_opcua_mqtt *m = calloc(1, sizeof(*m));
	int rc, ret = -ENOMEM;

	if (!m)
		return -ENOMEM;
	m->dp = dp;
	m->cfg = *cfg;
	m->umsg = malloc(sizeof(*m->umsg));
	if (!m->umsg || lg_uadp_json_new(&m->conv)) {
		snprintf(err, errlen, "opcua_mqtt: out of memory");
		goto err_free;
	}
	mosquitto_lib_init();
	m->mosq = mosquitto_new(cfg->client_id, true, m);
	if (!m->mosq) {
		snprintf(err, errlen, "opcua_mqtt: mosquitto_new: %s", strerror(errno));
		goto err_lib;
	}
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_message_callback_set(m->mosq, on_message);
	if (cfg->username[0]) {
		rc = mosquitto_username_pw_set(m->mosq, cfg->username,
					       cfg->password[0] ? cfg->password : NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "opcua_mqtt: %s", mosquitto_strerror(rc));
			ret = -EINVAL;
			goto err_destroy;
		}
	}
	if (cfg->tls_ca[0]) {
		/* The broker's certificate must chain to the CA and name the host. */
		rc = mosquitto_tls_set(m->mosq, cfg->tls_ca, NULL,
				       cfg->tls_cert[0] ? cfg->tls_cert : NULL,
				       cfg->tls_key[0] ? cfg->tls_key : NULL, NULL);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errlen, "opcua_mqtt tls: %s", mosquitto_strerror(rc));
			ret = -EINVAL;
			goto err_destroy;
		}
	}
	/* A broker that goes away is retried after 1, 2, 4 ... at most 10 s. */
	mosquitto_reconnect_delay_set(m->mosq, 1, 10, true);
	/* A broker that is down, refuses us or fails the TLS handshake now may be right later:
	 * only a configuration libmosquitto cannot take stops linegate. */
	rc = mosquitto_connect_async(m->mosq, cfg->host, cfg->port, 30);
	if (rc != MOSQ_ERR_INVAL && rc != MOSQ_ERR_NOMEM)
		rc = mosquitto_loop_start(m->mosq);
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "opcua_mqtt %s:%u: %s", cfg->host, cfg->port,
			 mosquitto_strerror(rc));
		ret = -EIO;
		goto err_destroy;
	}
	*out = m;
	return 0;

err_destroy:
	mosquitto_destroy(m->mosq);
err_lib:
	mosquitto_lib_cleanup();
err_free:
	lg_uadp_json_free(m->conv);
	free(m->umsg);
	free(m);
	return ret;
}

void lg_opcua_mqtt_stats(const struct lg_opcua_mqtt *m, struct lg_opcua_mqtt_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->received = atomic_load(&m->received);
	st->json = atomic_load(&m->json);
	st->handed = atomic_load(&m->handed);
	st->connects = atomic_load(&m->connects);
	st->connected = atomic_load(&m->connected);
	for (int r = 0; r < LG_REASON_MAX; r++)
		st->drops[r] = atomic_load(&m->drops[r]);
}

void lg_opcua_mqtt_stop(struct lg_opcua_mqtt *m)
{
	if (!m || m->stopped)
		return;
	mosquitto_disconnect(m->mosq);
	mosquitto_loop_stop(m->mosq, false);
	m->stopped = true;
	atomic_store(&m->connected, false);
}

void lg_opcua_mqtt_close(struct lg_opcua_mqtt *m)
{
	if (!m)
		return;
	lg_opcua_mqtt_stop(m);
	mosquitto_destroy(m->mosq);
	mosquitto_lib_cleanup();
	lg_uadp_json_free(m->conv);
	free(m->umsg);
	/* The password was a copy of the policy's: it goes with the client. */
	explicit_bzero(m->cfg.password, sizeof(m->cfg.password));
	free(m);
}
