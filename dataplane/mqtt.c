// SPDX-License-Identifier: MIT
/* MQTT output (mqtt.h). */
#include "mqtt.h"

#include <errno.h>
#include <inttypes.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include <sodium.h>

#define ACKQ 16384u			       /* mids acknowledged, waiting for the pump */
#define WINDOW (2u * LG_MQTT_INFLIGHT)	       /* outbox records acknowledged out of order */
#define DEV_SLOTS (2u * LG_POLICY_MAX_DEVICES) /* device status table (open addressing) */
#define DEV_SCAN_NS 100000000ull	       /* silent devices looked for every 100 ms */

const char *const lg_mqtt_drop_names[LG_MQTT_DROPS] = {
    [LG_MQTT_DROP_QUEUE_FULL] = "queue_full", [LG_MQTT_DROP_NOT_CONNECTED] = "not_connected",
    [LG_MQTT_DROP_CLIENT] = "client_error",   [LG_MQTT_DROP_OUTBOX_FULL] = "outbox_full",
    [LG_MQTT_DROP_TOO_LARGE] = "too_large",   [LG_MQTT_DROP_DISK] = "outbox_disk",
};

const char *const lg_mqtt_conn_error_names[LG_MQTT_ERRS] = {
    [LG_MQTT_ERR_AUTH] = "auth",       [LG_MQTT_ERR_PROTOCOL] = "protocol",
    [LG_MQTT_ERR_REFUSED] = "refused", [LG_MQTT_ERR_TLS] = "tls",
    [LG_MQTT_ERR_NETWORK] = "network",
};

static const char *const err_hint[LG_MQTT_ERRS] = {
    [LG_MQTT_ERR_AUTH] = "check output.mqtt.username and password_file against the "
			 "broker's password file",
    [LG_MQTT_ERR_PROTOCOL] = "a broker that speaks only MQTT 3.1.1 needs "
			     "output.mqtt.protocol: 3.1.1",
    [LG_MQTT_ERR_REFUSED] = "see the broker's log",
    [LG_MQTT_ERR_TLS] = "output.mqtt.tls.ca_file must hold the CA that signed the broker's "
			"certificate, and the certificate must name the host",
    [LG_MQTT_ERR_NETWORK] = "is the broker running and listening there?",
};

enum dev_state { DEV_UNKNOWN, DEV_ONLINE, DEV_OFFLINE };

struct dev {
	uint32_t id;	     /* 0: a free slot */
	uint8_t state, told; /* told: the state the broker has (this connection), or UNKNOWN */
	uint64_t last_ns;
	char name[LG_NAME_MAX];
};

struct lg_mqtt {
	struct lg_outbox_said ob_said; /* the outbox's losses said on stderr (output thread) */
	struct mosquitto *mosq;
	struct lg_policy_mqtt cfg;
	char status_topic[160];
	mosquitto_property *json_props; /* MQTT 5: content type application/json */
	pthread_t net;
	bool net_started;
	_Atomic bool stop;

	/* The outbox (NULL: messages wait in libmosquitto's memory only). */
	struct lg_outbox *ob;
	uint64_t *mid_seq; /* [65536]: the outbox record a message id carries, 0 if none */
	uint64_t done[WINDOW];
	uint64_t acked, pass_hi, sent_hi;

	/* Filled by the network thread (on_publish), taken by the pump. */
	pthread_mutex_t lock;
	uint16_t ackq[ACKQ];
	unsigned nackq;
	bool ack_overflow;
	char last_log[256]; /* libmosquitto's last error text (an OpenSSL error, ...) */

	/* The output thread's. */
	struct dev *devs;
	uint64_t conn_seen, last_scan_ns;

	/* The network thread's. */
	int refused_rc; /* reason code of a refused CONNACK, -1 if none */
	int last_said;	/* the error class said last, -1 if none (say each change once) */
	/* Issue 12: the last failure (class, -1: none since the last connection, and text),
	 * under lock, for /readyz and the stats. */
	int last_err;
	char last_err_text[320];

	_Atomic uint64_t published, delivered, connects, disconnects, resent;
	_Atomic int last_mid; /* the last message id acknowledged (the clean offline's wait) */
	_Atomic uint64_t published_kind[LG_MQTT_KINDS];
	_Atomic uint64_t dropped[LG_MQTT_KINDS][LG_MQTT_DROPS];
	_Atomic uint64_t conn_errors[LG_MQTT_ERRS];
	_Atomic uint32_t devices_online, devices_offline;
	_Atomic bool connected;

	/* Without an outbox (issue 12, per kind what a stop abandons): the kind each message
	 * id handed to libmosquitto carries (kind + 1; MID_ACKED: acknowledged before the
	 * publishing thread wrote it down), delivered per kind, and what the stop found
	 * handed over and not delivered. */
	_Atomic uint8_t *mid_kind; /* [65536] */
	_Atomic uint64_t delivered_kind[LG_MQTT_KINDS];
	_Atomic uint64_t abandoned[LG_MQTT_KINDS];
	bool stopped;
};

#define MID_ACKED 0xffu

/* Without an outbox: message id mid of this kind was handed to libmosquitto (any thread
 * that publishes). Its acknowledgement may have come first (on_publish, the network thread):
 * then it is counted delivered here. */
static void track(struct lg_mqtt *m, enum lg_mqtt_kind kind, int mid)
{
	uint8_t old, want = (uint8_t)(kind + 1);

	if (!m->mid_kind)
		return;
	old = atomic_exchange(&m->mid_kind[(uint16_t)mid], want);
	if (old == MID_ACKED && atomic_compare_exchange_strong(&m->mid_kind[(uint16_t)mid], &want,
							       0))
		atomic_fetch_add(&m->delivered_kind[kind], 1);
}

/* on_publish's half of track(). */
static void track_ack(struct lg_mqtt *m, int mid)
{
	uint8_t old, want = MID_ACKED;

	if (!m->mid_kind)
		return;
	old = atomic_exchange(&m->mid_kind[(uint16_t)mid], MID_ACKED);
	if (old && old != MID_ACKED && old <= LG_MQTT_KINDS) {
		atomic_fetch_add(&m->delivered_kind[old - 1], 1);
		atomic_compare_exchange_strong(&m->mid_kind[(uint16_t)mid], &want, 0);
	}
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* --- the network thread ----------------------------------------------------------------- */

static void set_last_error(struct lg_mqtt *m, int e, const char *why)
{
	pthread_mutex_lock(&m->lock);
	m->last_err = e;
	snprintf(m->last_err_text, sizeof(m->last_err_text), "%s", why);
	pthread_mutex_unlock(&m->lock);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
		       const mosquitto_property *props)
{
	struct lg_mqtt *m = obj;
	int mid = 0;

	(void)flags;
	(void)props;
	if (rc) {
		m->refused_rc = rc;
		return;
	}
	atomic_store(&m->connected, true);
	atomic_fetch_add(&m->connects, 1);
	/* Birth: the retained status says online until the will (or a clean stop) says
	 * offline. The pump tells the devices' status and sends the outbox. */
	if (mosquitto_publish(mosq, &mid, m->status_topic, 6, "online", m->cfg.qos[LG_MQTT_STATUS],
			      m->cfg.retain[LG_MQTT_STATUS]) == MOSQ_ERR_SUCCESS) {
		atomic_fetch_add(&m->published, 1);
		atomic_fetch_add(&m->published_kind[LG_MQTT_STATUS], 1);
		track(m, LG_MQTT_STATUS, mid);
	}
	fprintf(stderr, "linegate: mqtt: connected to %s:%u (MQTT %s%s)\n", m->cfg.host,
		m->cfg.port, m->cfg.protocol == 5 ? "5" : "3.1.1", m->cfg.tls_ca[0] ? ", TLS" : "");
	m->last_said = -1;
	set_last_error(m, -1, "");
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
	struct lg_mqtt *m = obj;

	(void)mosq;
	(void)rc;
	if (atomic_exchange(&m->connected, false))
		atomic_fetch_add(&m->disconnects, 1);
}

/* Any thread: a message left (QoS 0) or was acknowledged (QoS 1, 2). */
static void on_publish(struct mosquitto *mosq, void *obj, int mid)
{
	struct lg_mqtt *m = obj;

	(void)mosq;
	atomic_fetch_add(&m->delivered, 1);
	atomic_store(&m->last_mid, mid);
	track_ack(m, mid);
	if (!m->ob)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->nackq < ACKQ)
		m->ackq[m->nackq++] = (uint16_t)mid;
	else
		m->ack_overflow = true; /* sent again from the cursor: never lost */
	pthread_mutex_unlock(&m->lock);
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
	struct lg_mqtt *m = obj;

	(void)mosq;
	if (!(level & MOSQ_LOG_ERR))
		return;
	pthread_mutex_lock(&m->lock);
	snprintf(m->last_log, sizeof(m->last_log), "%s", str);
	pthread_mutex_unlock(&m->lock);
}

/* A connection attempt that did not end connected: counted by why, said once per change. */
static void conn_failed(struct lg_mqtt *m, int rc)
{
	char why[320], log[256];
	int e;

	if (m->refused_rc >= 0) {
		int r = m->refused_rc;

		if (r == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
		    r == CONNACK_REFUSED_NOT_AUTHORIZED || r == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
		    r == MQTT_RC_NOT_AUTHORIZED || r == MQTT_RC_BAD_AUTHENTICATION_METHOD)
			e = LG_MQTT_ERR_AUTH;
		else if (r == CONNACK_REFUSED_PROTOCOL_VERSION ||
			 r == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION)
			e = LG_MQTT_ERR_PROTOCOL;
		else
			e = LG_MQTT_ERR_REFUSED;
		snprintf(why, sizeof(why), "the broker refused the connection: %s",
			 m->cfg.protocol == 5 ? mosquitto_reason_string(r)
					      : mosquitto_connack_string(r));
		m->refused_rc = -1;
	} else {
		e = rc == MOSQ_ERR_TLS ? LG_MQTT_ERR_TLS : LG_MQTT_ERR_NETWORK;
		pthread_mutex_lock(&m->lock);
		snprintf(log, sizeof(log), "%s", m->last_log);
		m->last_log[0] = '\0';
		pthread_mutex_unlock(&m->lock);
		/* libmosquitto says only "TLS error" for a failed handshake; OpenSSL's reason came
		 * through its log. */
		if (e == LG_MQTT_ERR_TLS && strstr(log, "certificate verify failed"))
			snprintf(why, sizeof(why),
				 "TLS: the broker's certificate was not trusted "
				 "(%s)",
				 log);
		else if (log[0])
			snprintf(why, sizeof(why), "%s (%s)", rc == MOSQ_ERR_ERRNO ?
				 strerror(errno) : mosquitto_strerror(rc), log);
		else
			snprintf(why, sizeof(why), "%s", rc == MOSQ_ERR_ERRNO ? strerror(errno) :
				 mosquitto_strerror(rc));
	}
	/* libmosquitto's sentences (and 3.1.1's refusals) end in a full stop: ours goes on
	 * after a colon */
	size_t wl = strlen(why);

	if (wl && why[wl - 1] == '.')
		why[wl - 1] = '\0';
	atomic_fetch_add(&m->conn_errors[e], 1);
	set_last_error(m, e, why);
	if (m->last_said != e)
		fprintf(stderr,
			"linegate: mqtt: %s:%u: %s: %s (retried with a backoff up to %d s; "
			"linegatectl stats: mqtt.connect_errors.%s)\n",
			m->cfg.host, m->cfg.port, why, err_hint[e], LG_MQTT_BACKOFF_MAX_S,
			lg_mqtt_conn_error_names[e]);
	m->last_said = e;
}

/* A plain TCP connection to host:port, 1 s at most: 0 when it connects (the broker is
 * there, only slow), else why not (ECONNREFUSED, EHOSTUNREACH, ...). For the reason of a
 * failed attempt only. */
static int tcp_probe(const char *host, unsigned port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char ps[8];
	int ret = ETIMEDOUT;

	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &ai) || !ai)
		return EHOSTUNREACH;
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		socklen_t sl = sizeof(ret);

		if (fd < 0)
			continue;
		if (!connect(fd, a->ai_addr, a->ai_addrlen))
			ret = 0;
		else if (errno != EINPROGRESS)
			ret = errno;
		else if (poll(&pfd, 1, 1000) == 1 &&
			 !getsockopt(fd, SOL_SOCKET, SO_ERROR, &ret, &sl))
			; /* ret: 0 or the connection's error */
		else
			ret = ETIMEDOUT;
		close(fd);
		if (!ret)
			break;
	}
	freeaddrinfo(ai);
	return ret;
}

/* How long a connection attempt waits for the broker's CONNACK. */
#define LG_MQTT_CONNACK_S 5

/* Sleep s seconds unless stopped meanwhile. */
static void nap(struct lg_mqtt *m, unsigned s)
{
	for (unsigned i = 0; i < s * 10 && !atomic_load(&m->stop); i++) {
		struct timespec ts = {0, 100000000};

		nanosleep(&ts, NULL);
	}
}

/* Connect, keep the connection, reconnect after 1, 2, 4 ... 30 s (and 1 s again once
 * connected): a broker that is down is never waited for by anyone else. */
static void *net_main(void *arg)
{
	struct lg_mqtt *m = arg;
	unsigned backoff = 1;
	bool first = true, sock = false;
	struct timespec tried = { 0 };

	while (!atomic_load(&m->stop)) {
		int rc;

		if (!sock) {
			m->refused_rc = -1;
			rc = first ? mosquitto_connect_async(m->mosq, m->cfg.host, m->cfg.port, 30)
				   : mosquitto_reconnect_async(m->mosq);
			first = false;
			if (rc != MOSQ_ERR_SUCCESS) {
				conn_failed(m, rc);
				nap(m, backoff);
				backoff = backoff * 2 > LG_MQTT_BACKOFF_MAX_S
					      ? LG_MQTT_BACKOFF_MAX_S
					      : backoff * 2;
				continue;
			}
			sock = true;
			clock_gettime(CLOCK_MONOTONIC, &tried);
		}
		rc = mosquitto_loop(m->mosq, 100, 1);
		if (rc == MOSQ_ERR_SUCCESS && !atomic_load(&m->connected) && m->refused_rc < 0) {
			/* A connect to a broker that is down may never be told apart from a slow
			 * one by libmosquitto (it waited for the keepalive, 30 s): no CONNACK
			 * within LG_MQTT_CONNACK_S is a failed attempt, with the socket's error. */
			struct timespec now;
			int fd = mosquitto_socket(m->mosq), soerr = 0;
			socklen_t sl = sizeof(soerr);

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (fd >= 0)
				getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			if (soerr || fd < 0 || now.tv_sec - tried.tv_sec >= LG_MQTT_CONNACK_S) {
				mosquitto_disconnect(m->mosq);
				/* With TLS, libmosquitto's handshake took the socket's error
				 * (a refused connection looked like a timeout): ask TCP. */
				if (!soerr && m->cfg.tls_ca[0])
					soerr = tcp_probe(m->cfg.host, m->cfg.port);
				errno = soerr ? soerr : fd < 0 ? ENOTCONN : ETIMEDOUT;
				rc = MOSQ_ERR_ERRNO;
			}
		}
		if (rc == MOSQ_ERR_SUCCESS) {
			if (atomic_load(&m->connected))
				backoff = 1;
			continue;
		}
		sock = false;
		if (atomic_load(&m->stop))
			break;
		if (atomic_exchange(&m->connected, false)) {
			atomic_fetch_add(&m->disconnects, 1);
			char why[160];

			snprintf(why, sizeof(why), "connection lost (%s)", mosquitto_strerror(rc));
			set_last_error(m, LG_MQTT_ERR_NETWORK, why);
			fprintf(stderr,
				"linegate: mqtt: %s:%u: connection lost (%s); reconnecting\n",
				m->cfg.host, m->cfg.port, mosquitto_strerror(rc));
		} else {
			conn_failed(m, rc);
		}
		nap(m, backoff);
		backoff = backoff * 2 > LG_MQTT_BACKOFF_MAX_S ? LG_MQTT_BACKOFF_MAX_S : backoff * 2;
	}
	return NULL;
}

/* --- open ------------------------------------------------------------------------------- */

static struct dev *dev_slot(struct lg_mqtt *m, uint32_t id)
{
	uint32_t h = (id * 2654435761u) % DEV_SLOTS;

	for (unsigned i = 0; i < DEV_SLOTS; i++, h = (h + 1) % DEV_SLOTS)
		if (!m->devs[h].id || m->devs[h].id == id)
			return &m->devs[h];
	return NULL; /* cannot happen: twice the slots of the devices a policy may have */
}

static int setup_client(struct lg_mqtt *m, char *err, size_t errlen)
{
	const struct lg_policy_mqtt *c = &m->cfg;
	int rc;

	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     c->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_callback_set(m->mosq, on_publish);
	mosquitto_log_callback_set(m->mosq, on_log);
	/* The last will: the broker says offline for us when we vanish (SIGKILL, a cable). */
	rc = mosquitto_will_set(m->mosq, m->status_topic, 7, "offline", c->qos[LG_MQTT_STATUS],
				c->retain[LG_MQTT_STATUS]);
	if (rc == MOSQ_ERR_SUCCESS && c->username[0])
		rc = mosquitto_username_pw_set(m->mosq, c->username,
					       c->password[0] ? c->password : NULL);
	if (rc == MOSQ_ERR_SUCCESS && c->tls_ca[0])
		rc =
		    mosquitto_tls_set(m->mosq, c->tls_ca, NULL, c->tls_cert[0] ? c->tls_cert : NULL,
				      c->tls_key[0] ? c->tls_key : NULL, NULL);
	if (rc == MOSQ_ERR_SUCCESS && c->protocol == 5)
		rc = mosquitto_property_add_string(&m->json_props, MQTT_PROP_CONTENT_TYPE,
						   "application/json");
	if (rc != MOSQ_ERR_SUCCESS) {
		snprintf(err, errlen, "output.mqtt: %s%s", mosquitto_strerror(rc),
			 rc == MOSQ_ERR_INVAL && c->tls_ca[0]
			     ? " (tls: a certificate or key file libmosquitto cannot use)"
			     : "");
		return -EINVAL;
	}
	return 0;
}

int lg_mqtt_open(const struct lg_policy_mqtt *cfg, const struct lg_policy_device *devs,
		 size_t ndevs, struct lg_mqtt **out, char *err, size_t errlen)
{
	struct lg_mqtt *m = calloc(1, sizeof(*m));
	uint64_t now = mono_ns();
	int ret;

	if (!m)
		return -ENOMEM;
	mosquitto_lib_init(); /* counted: lg_mqtt_close's cleanup undoes this one */
	m->cfg = *cfg;
	m->refused_rc = -1;
	m->last_said = -1;
	m->last_err = -1;
	pthread_mutex_init(&m->lock, NULL);
	snprintf(m->status_topic, sizeof(m->status_topic), "%s/status", cfg->topic);
	m->devs = calloc(DEV_SLOTS, sizeof(*m->devs));
	if (!m->devs) {
		ret = -ENOMEM;
		goto err;
	}
	/* Enrolled devices that send nothing turn offline device_offline_s from now. */
	for (size_t i = 0; i < ndevs && i < LG_POLICY_MAX_DEVICES; i++) {
		struct dev *d = dev_slot(m, devs[i].id);

		d->id = devs[i].id;
		d->last_ns = now;
		snprintf(d->name, sizeof(d->name), "%s", devs[i].name);
	}
	if (cfg->outbox_dir[0]) {
		struct lg_outbox_cfg ocfg = {
		    .dir = cfg->outbox_dir, .max_bytes = cfg->outbox_max_bytes, .sync_ms = 20};
		struct lg_outbox_stats st;

		m->mid_seq = calloc(65536, sizeof(*m->mid_seq));
		if (!m->mid_seq) {
			ret = -ENOMEM;
			goto err;
		}
		ret = lg_outbox_open(&ocfg, &m->ob, err, errlen);
		if (ret)
			goto err;
		lg_outbox_stats(m->ob, &st);
		m->acked = m->pass_hi = st.acked;
		/* What a previous run left unacknowledged counts as sent: it may well have been. */
		m->sent_hi = st.next_seq - 1;
	} else {
		m->mid_kind = calloc(65536, sizeof(*m->mid_kind));
		if (!m->mid_kind) {
			ret = -ENOMEM;
			goto err;
		}
	}
	m->mosq = mosquitto_new(cfg->client_id, true, m);
	if (!m->mosq) {
		snprintf(err, errlen, "mosquitto_new: %s", strerror(errno));
		ret = -ENOMEM;
		goto err;
	}
	ret = setup_client(m, err, errlen);
	if (ret)
		goto err;
	if (pthread_create(&m->net, NULL, net_main, m)) {
		snprintf(err, errlen, "output.mqtt: no thread: %s", strerror(errno));
		ret = -EAGAIN;
		goto err;
	}
	pthread_setname_np(m->net, "lg-mqtt");
	m->net_started = true;
	*out = m;
	return 0;
err:
	lg_mqtt_close(m);
	return ret;
}

/* --- the output thread ------------------------------------------------------------------ */

static const enum lg_outbox_kind to_outbox[LG_MQTT_KINDS] = {
    [LG_MQTT_ALERTS] = LG_OUTBOX_ALERT, [LG_MQTT_INCIDENTS] = LG_OUTBOX_INCIDENT,
    [LG_MQTT_SCORES] = LG_OUTBOX_SCORE, [LG_MQTT_EVENTS] = LG_OUTBOX_EVENT,
    [LG_MQTT_STATUS] = LG_OUTBOX_EVENT, /* not used: status never goes to the outbox */
};

static enum lg_mqtt_kind from_outbox(enum lg_outbox_kind k)
{
	switch (k) {
	case LG_OUTBOX_ALERT:
		return LG_MQTT_ALERTS;
	case LG_OUTBOX_INCIDENT:
		return LG_MQTT_INCIDENTS;
	case LG_OUTBOX_SCORE:
		return LG_MQTT_SCORES;
	default:
		return LG_MQTT_EVENTS;
	}
}

static void drop(struct lg_mqtt *m, enum lg_mqtt_kind kind, enum lg_mqtt_drop why)
{
	atomic_fetch_add_explicit(&m->dropped[kind][why], 1, memory_order_relaxed);
}

/* One message to libmosquitto: MOSQ_ERR_* and its message id in *mid. */
static int send_msg(struct lg_mqtt *m, enum lg_mqtt_kind kind, const char *device,
		    const void *payload, size_t len, int *mid)
{
	char topic[320];
	int rc;

	/* device "": the line server's own event (a recording that stopped), <topic>/events */
	if (device[0])
		snprintf(topic, sizeof(topic), "%s/%s/%s", m->cfg.topic, lg_mqtt_kind_names[kind],
			 device);
	else
		snprintf(topic, sizeof(topic), "%s/%s", m->cfg.topic, lg_mqtt_kind_names[kind]);
	rc = mosquitto_publish_v5(m->mosq, mid, topic, (int)len, payload, m->cfg.qos[kind],
				  m->cfg.retain[kind],
				  kind == LG_MQTT_STATUS ? NULL : m->json_props);
	return rc;
}

void lg_mqtt_put(struct lg_mqtt *m, enum lg_mqtt_kind kind, uint32_t device_id, const char *device,
		 const char *payload, size_t len)
{
	struct dev *d = device_id ? dev_slot(m, device_id) : NULL; /* 0: no device's */
	uint64_t queued;
	int rc, mid = 0;

	if (d) {
		if (!d->id) {
			d->id = device_id;
			snprintf(d->name, sizeof(d->name), "%s", device);
		}
		d->last_ns = mono_ns();
		if (d->state != DEV_ONLINE) {
			d->state = DEV_ONLINE;
			m->last_scan_ns = 0; /* told in this round's pump */
		}
	}
	if (kind == LG_MQTT_SCORES && !m->cfg.scores)
		return;
	if (m->ob) {
		rc = lg_outbox_append(m->ob, to_outbox[kind], device, payload, len, NULL);
		if (rc == -ENOSPC)
			drop(m, kind, LG_MQTT_DROP_OUTBOX_FULL);
		else if (rc == -EMSGSIZE || rc == -EINVAL)
			drop(m, kind, LG_MQTT_DROP_TOO_LARGE);
		else if (rc)
			drop(m, kind, LG_MQTT_DROP_DISK);
		return;
	}
	queued = atomic_load(&m->published) - atomic_load(&m->delivered);
	if (queued >=
	    (kind == LG_MQTT_SCORES ? LG_MQTT_MAX_QUEUED_SCORES : LG_MQTT_MAX_QUEUED_ALERTS)) {
		drop(m, kind, LG_MQTT_DROP_QUEUE_FULL);
		return;
	}
	/* QoS 0 while not connected (no CONNACK yet, or a connection being lost) is lost:
	 * counted now, not handed to libmosquitto, whose queue would keep it as if sent
	 * (a new user's trial saw 6476 such scores counted published, never delivered). */
	if (!m->cfg.qos[kind] && !atomic_load(&m->connected)) {
		drop(m, kind, LG_MQTT_DROP_NOT_CONNECTED);
		return;
	}
	rc = send_msg(m, kind, device, payload, len, &mid);
	/* While disconnected, libmosquitto keeps QoS 1 and 2 messages for the next
	 * connection and says MOSQ_ERR_NO_CONN; only QoS 0 ones are really lost then. */
	if (rc == MOSQ_ERR_SUCCESS || (rc == MOSQ_ERR_NO_CONN && m->cfg.qos[kind] > 0)) {
		atomic_fetch_add(&m->published, 1);
		atomic_fetch_add(&m->published_kind[kind], 1);
		track(m, kind, mid);
	} else {
		drop(m, kind,
		     rc == MOSQ_ERR_NO_CONN ? LG_MQTT_DROP_NOT_CONNECTED : LG_MQTT_DROP_CLIENT);
	}
}

/* A device's status, retained: online or offline. */
static void tell_device(struct lg_mqtt *m, struct dev *d)
{
	const char *s = d->state == DEV_ONLINE ? "online" : "offline";
	int mid = 0, rc = send_msg(m, LG_MQTT_STATUS, d->name, s, strlen(s), &mid);

	if (rc == MOSQ_ERR_NO_CONN && m->cfg.qos[LG_MQTT_STATUS] > 0 && !m->ob) {
		/* The connection was lost just now: libmosquitto keeps it for the next one
		 * (and it is told again then): handed over, so counted like any other. */
		atomic_fetch_add(&m->published, 1);
		atomic_fetch_add(&m->published_kind[LG_MQTT_STATUS], 1);
		track(m, LG_MQTT_STATUS, mid);
		return;
	}
	if (rc != MOSQ_ERR_SUCCESS)
		return; /* not connected: told at the next connection */
	/* Its acknowledgement must not be taken for an old record's that had this id. */
	if (m->mid_seq)
		m->mid_seq[(uint16_t)mid] = 0;
	atomic_fetch_add(&m->published, 1);
	atomic_fetch_add(&m->published_kind[LG_MQTT_STATUS], 1);
	track(m, LG_MQTT_STATUS, mid);
	d->told = d->state;
}

/* Devices turn offline after device_offline_s without a record, online with one; the broker
 * is told each change, and everything again after a reconnect. */
static void device_status(struct lg_mqtt *m, bool reconnected)
{
	uint64_t now = mono_ns(), silence = (uint64_t)m->cfg.device_offline_s * 1000000000u;
	bool connected = atomic_load(&m->connected);
	uint32_t online = 0, offline = 0;

	if (!m->cfg.device_offline_s || (!reconnected && now - m->last_scan_ns < DEV_SCAN_NS))
		return;
	m->last_scan_ns = now;
	for (unsigned i = 0; i < DEV_SLOTS; i++) {
		struct dev *d = &m->devs[i];

		if (!d->id)
			continue;
		if (d->state != DEV_OFFLINE && now - d->last_ns >= silence)
			d->state = DEV_OFFLINE;
		online += d->state == DEV_ONLINE;
		offline += d->state == DEV_OFFLINE;
		if (reconnected)
			d->told = DEV_UNKNOWN;
		if (connected && d->state != DEV_UNKNOWN && d->told != d->state)
			tell_device(m, d);
	}
	atomic_store(&m->devices_online, online);
	atomic_store(&m->devices_offline, offline);
}

/* Acknowledgements in: the outbox cursor moves over every record acknowledged in a row. */
static void take_acks(struct lg_mqtt *m, bool reconnected)
{
	uint16_t q[ACKQ];
	unsigned cnt;
	bool rewind;
	struct lg_outbox_stats st;

	pthread_mutex_lock(&m->lock);
	cnt = m->nackq;
	memcpy(q, m->ackq, cnt * sizeof(q[0]));
	m->nackq = 0;
	rewind = m->ack_overflow || reconnected;
	m->ack_overflow = false;
	pthread_mutex_unlock(&m->lock);

	/* The outbox may have evicted records (full): the cursor is past them. */
	lg_outbox_stats(m->ob, &st);
	if (st.acked > m->acked)
		m->acked = st.acked;
	for (unsigned i = 0; i < cnt; i++) {
		uint64_t seq = m->mid_seq[q[i]];

		m->mid_seq[q[i]] = 0;
		if (seq > m->acked && seq - m->acked <= WINDOW)
			m->done[seq % WINDOW] = seq;
	}
	while (m->done[(m->acked + 1) % WINDOW] == m->acked + 1)
		m->acked++;
	lg_outbox_ack(m->ob, m->acked);
	if (m->pass_hi < m->acked)
		m->pass_hi = m->acked;
	/* A new connection: what the old one did not acknowledge is sent again (under new
	 * message ids: the old ones are forgotten, so that their reuse acknowledges nothing). */
	if (reconnected) {
		memset(m->mid_seq, 0, 65536 * sizeof(*m->mid_seq));
		/* What waited in the outbox for this connection counts as sent again when it
		 * goes (resent, docs/operations.md "Outbox"), sent before or not: after an
		 * outage, the backlog it delivers (trial Q, s23: 4810 records caught up, resent
		 * 0, as only records sent twice were counted) */
		if (st.next_seq - 1 > m->sent_hi)
			m->sent_hi = st.next_seq - 1;
	}
	if (rewind) {
		lg_outbox_rewind(m->ob);
		m->pass_hi = m->acked;
	}
}

/* A publish that may work later (on the next connection), not refused for good. */
static bool transient(int rc)
{
	return rc == MOSQ_ERR_NO_CONN || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NOMEM ||
	       rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_PENDING || rc == MOSQ_ERR_KEEPALIVE;
}

static void send_outbox(struct lg_mqtt *m)
{
	struct lg_outbox_rec r;

	while (m->pass_hi - m->acked < LG_MQTT_INFLIGHT && lg_outbox_next(m->ob, &r) == 1) {
		enum lg_mqtt_kind kind = from_outbox(r.kind);
		int mid = 0, rc = send_msg(m, kind, r.key, r.data, r.len, &mid);

		if (rc != MOSQ_ERR_SUCCESS && !transient(rc)) {
			/* Refused for good (larger than the broker takes, a topic it cannot
			 * carry): counted and passed, or it would hold every record behind it. */
			drop(m, kind, LG_MQTT_DROP_CLIENT);
			if (r.seq > m->acked && r.seq - m->acked <= WINDOW)
				m->done[r.seq % WINDOW] = r.seq;
			m->pass_hi = r.seq;
			continue;
		}
		if (rc != MOSQ_ERR_SUCCESS) {
			/* Not taken (a connection lost just now): from the cursor again later. */
			lg_outbox_rewind(m->ob);
			m->pass_hi = m->acked;
			break;
		}
		m->mid_seq[(uint16_t)mid] = r.seq;
		atomic_fetch_add(&m->published, 1);
		atomic_fetch_add(&m->published_kind[kind], 1);
		if (r.seq <= m->sent_hi)
			atomic_fetch_add(&m->resent, 1);
		else
			m->sent_hi = r.seq;
		m->pass_hi = r.seq;
	}
}

void lg_mqtt_pump(struct lg_mqtt *m)
{
	uint64_t conns = atomic_load(&m->connects);
	bool reconnected = conns != m->conn_seen && atomic_load(&m->connected);

	if (reconnected)
		m->conn_seen = conns;
	device_status(m, reconnected);
	if (!m->ob)
		return;
	lg_outbox_sync(m->ob, false);
	take_acks(m, reconnected);
	if (atomic_load(&m->connected))
		send_outbox(m);
	{
		char why[512];

		if (lg_outbox_loss_say(m->ob, &m->ob_said, mono_ns(), why, sizeof(why)))
			fprintf(stderr, "linegate: mqtt: %s (docs/operations.md \"MQTT\", "
				"Outbox)\n", why);
	}
}

void lg_mqtt_stats(const struct lg_mqtt *m, struct lg_mqtt_stats *st)
{
	struct lg_mqtt *x = (struct lg_mqtt *)m;

	*st = (struct lg_mqtt_stats){
	    .published = atomic_load(&x->published),
	    .delivered = atomic_load(&x->delivered),
	    .connects = atomic_load(&x->connects),
	    .disconnects = atomic_load(&x->disconnects),
	    .connected = atomic_load(&x->connected),
	    .resent = atomic_load(&x->resent),
	    .devices_online = atomic_load(&x->devices_online),
	    .devices_offline = atomic_load(&x->devices_offline),
	    .have_outbox = m->ob != NULL,
	};
	for (int k = 0; k < LG_MQTT_KINDS; k++) {
		st->published_kind[k] = atomic_load(&x->published_kind[k]);
		st->delivered_kind[k] = atomic_load(&x->delivered_kind[k]);
		st->abandoned[k] = atomic_load(&x->abandoned[k]);
		st->abandoned_total += st->abandoned[k];
		/* without an outbox: handed to libmosquitto, not delivered (yet) */
		if (!m->ob && st->published_kind[k] > st->delivered_kind[k])
			st->queued_kind[k] = st->published_kind[k] - st->delivered_kind[k];
		for (int r = 0; r < LG_MQTT_DROPS; r++) {
			st->dropped[k][r] = atomic_load(&x->dropped[k][r]);
			if (k == LG_MQTT_SCORES)
				st->dropped_scores += st->dropped[k][r];
			else
				st->dropped_alerts += st->dropped[k][r];
		}
	}
	for (int e = 0; e < LG_MQTT_ERRS; e++)
		st->conn_errors[e] = atomic_load(&x->conn_errors[e]);
	pthread_mutex_lock(&x->lock);
	st->last_error = x->last_err;
	snprintf(st->last_error_text, sizeof(st->last_error_text), "%s", x->last_err_text);
	pthread_mutex_unlock(&x->lock);
	if (m->ob)
		lg_outbox_stats(m->ob, &st->outbox);
}

static void pause_10ms(void)
{
	struct timespec ts = {0, 10000000};

	nanosleep(&ts, NULL);
}

void lg_mqtt_flush(struct lg_mqtt *m, int timeout_ms)
{
	if (!m)
		return;
	if (m->ob)
		lg_outbox_sync(m->ob, true);
	for (int t = 0; t < timeout_ms && atomic_load(&m->connected); t += 10) {
		struct lg_outbox_stats st = {0};

		lg_mqtt_pump(m);
		if (m->ob) {
			lg_outbox_sync(m->ob, true);
			lg_outbox_stats(m->ob, &st);
		}
		/* With an outbox, what matters is that it is empty (a QoS 0 message a lost
		 * connection took is in it again); without, that libmosquitto has sent all. */
		if (m->ob ? !st.records : atomic_load(&m->delivered) >= atomic_load(&m->published))
			break;
		pause_10ms();
	}
}

void lg_mqtt_close(struct lg_mqtt *m)
{
	lg_mqtt_close_within(m, 1000);
}

void lg_mqtt_stop_within(struct lg_mqtt *m, int timeout_ms)
{
	if (!m || m->stopped)
		return;
	m->stopped = true;
	if (m->net_started) {
		/* A clean stop says offline itself (the will is for vanishing), and waits up to
		 * timeout_ms (what the shutdown bound leaves) for the broker to have it. */
		int mid = -1;

		if (atomic_load(&m->connected) &&
		    mosquitto_publish(m->mosq, &mid, m->status_topic, 7, "offline",
				      m->cfg.qos[LG_MQTT_STATUS],
				      m->cfg.retain[LG_MQTT_STATUS]) == MOSQ_ERR_SUCCESS) {
			atomic_fetch_add(&m->published, 1);
			atomic_fetch_add(&m->published_kind[LG_MQTT_STATUS], 1);
			track(m, LG_MQTT_STATUS, mid);
			for (int t = 0; t < timeout_ms && atomic_load(&m->connected) &&
					atomic_load(&m->last_mid) != mid &&
					atomic_load(&m->delivered) < atomic_load(&m->published);
			     t += 10)
				pause_10ms();
		}
		atomic_store(&m->stop, true);
		mosquitto_disconnect(m->mosq);
		pthread_join(m->net, NULL);
		m->net_started = false;
	}
	if (m->ob)
		take_acks(m, false); /* acknowledgements that came in meanwhile move the cursor */
	/* Without an outbox, what libmosquitto holds now (handed to it, not delivered: waiting
	 * for the broker, or lost with a connection) dies with the process: abandoned, by
	 * kind. With one, it stays in the outbox for the next start. */
	for (int k = 0; !m->ob && k < LG_MQTT_KINDS; k++) {
		uint64_t p = atomic_load(&m->published_kind[k]),
			 d = atomic_load(&m->delivered_kind[k]);

		atomic_store(&m->abandoned[k], p > d ? p - d : 0);
	}
}

void lg_mqtt_close_within(struct lg_mqtt *m, int timeout_ms)
{
	if (!m)
		return;
	lg_mqtt_stop_within(m, timeout_ms);
	lg_outbox_close(m->ob);
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	mosquitto_property_free_all(&m->json_props);
	mosquitto_lib_cleanup();
	sodium_memzero(m->cfg.password, sizeof(m->cfg.password));
	pthread_mutex_destroy(&m->lock);
	free(m->mid_seq);
	free((void *)m->mid_kind);
	free(m->devs);
	free(m);
}

void lg_mqtt_abandon_summary(const struct lg_mqtt *m, FILE *f)
{
	struct lg_mqtt_stats st;

	if (!m)
		return;
	lg_mqtt_stats(m, &st);
	if (st.have_outbox) {
		fprintf(f, "linegate: shutdown: MQTT abandoned: 0 messages (%" PRIu64 " records "
			"not acknowledged stay in the outbox for the next start)\n",
			st.outbox.records);
		return;
	}
	fprintf(f, "linegate: shutdown: MQTT abandoned: %" PRIu64 " messages not delivered to "
		"the broker%s: %" PRIu64 " alerts, %" PRIu64 " incidents, %" PRIu64 " scores, %"
		PRIu64 " events, %" PRIu64 " status\n", st.abandoned_total,
		st.abandoned_total ? " within the shutdown timeout" : "",
		st.abandoned[LG_MQTT_ALERTS], st.abandoned[LG_MQTT_INCIDENTS],
		st.abandoned[LG_MQTT_SCORES], st.abandoned[LG_MQTT_EVENTS],
		st.abandoned[LG_MQTT_STATUS]);
}
