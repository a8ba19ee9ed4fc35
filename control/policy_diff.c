// SPDX-License-Identifier: MIT
/*
 * The table of policy fields and the diff of two policies (policy_diff.h). Each field
 * renders itself as text; two policies differ in a field when the texts differ, so the
 * table is the one place that knows both how a field reads and whether it is live.
 */
#include <linegate/policy_diff.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <json-c/json.h>

#include <linegate/features.h>

typedef void (*fmt_fn)(const struct lg_policy *p, char *buf, size_t len);

#define FMT_U(fn, expr)                                                       \
	static void fn(const struct lg_policy *p, char *b, size_t l)          \
	{                                                                     \
		snprintf(b, l, "%" PRIu64, (uint64_t)(expr));                 \
	}
#define FMT_S(fn, expr)                                                       \
	static void fn(const struct lg_policy *p, char *b, size_t l)          \
	{                                                                     \
		snprintf(b, l, "%s", (expr));                                 \
	}

static void f_version(const struct lg_policy *p, char *b, size_t l)
{
	(void)p;
	snprintf(b, l, "1"); /* the parser takes version 1 only */
}
FMT_U(f_port, p->port)
FMT_U(f_uadp_port, p->uadp_port)
FMT_S(f_not_ours, p->not_ours == LG_ADMIT_NOT_OURS_PASS ? "pass" : "drop")
FMT_S(f_fragments, p->fragments == LG_ADMIT_FRAGMENTS_REASSEMBLE ? "reassemble" : "drop")
static void f_vlans(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	snprintf(b, l, "none");
	for (unsigned i = 0; i < p->nvlans && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%u", i ? "," : "", p->vlans[i]);
}
FMT_U(f_window, p->window)
FMT_U(f_batch, p->batch)
FMT_U(f_deadline, p->deadline_ms)
/*
 * A file as one spelling: "etc/model.json" from a policy named relatively and
 * "/tmp/x/etc/model.json" from the same policy named absolutely are one model, and must not
 * show as a change (nor make an apply load it again). A file that exists is its real path;
 * one that does not (yet) is as written.
 */
static void f_file(const char *path, char *b, size_t l)
{
	char real[PATH_MAX], dir[PATH_MAX], name[PATH_MAX];
	const char *slash;
	size_t n = strlen(path);

	if (path[0] && realpath(path, real)) {
		snprintf(b, l, "%s", real);
		return;
	}
	/* not there yet (a recording or outbox folder made at start): its folder's real path
	 * and its name ("rec", "./rec" and the absolute path of the policy's "rec" are one;
	 * s24 LOW: an apply between them showed as a change) */
	while (n > 1 && path[n - 1] == '/') /* "rec/" is "rec" */
		n--;
	snprintf(name, sizeof(name), "%.*s", (int)n, path);
	path = name;
	slash = strrchr(path, '/');
	if (slash && slash != path && (size_t)(slash - path) < sizeof(dir) && slash[1]) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (realpath(dir, real)) {
			snprintf(b, l, "%s/%s", real, slash + 1);
			return;
		}
	}
	snprintf(b, l, "%s", path);
}

/* A path field: as f_file() spells it. */
#define FMT_F(fn, expr)                                                       \
	static void fn(const struct lg_policy *p, char *b, size_t l)          \
	{                                                                     \
		f_file((expr), b, l);                                         \
	}

static void f_model(const struct lg_policy *p, char *b, size_t l)
{
	f_file(p->model, b, l);
}

static void f_jsonl(const struct lg_policy *p, char *b, size_t l)
{
	f_file(p->jsonl, b, l);
}
FMT_U(f_jsonl_max, p->jsonl_max_bytes)
FMT_U(f_jsonl_keep, p->jsonl_keep)
FMT_S(f_mqtt_host, p->mqtt.host)
FMT_U(f_mqtt_port, p->mqtt.port)
FMT_S(f_mqtt_client, p->mqtt.client_id)
FMT_S(f_mqtt_topic, p->mqtt.topic)
FMT_S(f_mqtt_scores, p->mqtt.scores ? "true" : "false")
/* output.mqtt, issue 12: start-only as the rest of output.mqtt. */
#define FMT_MQTT_KIND(k, K)                                                    \
	FMT_U(f_mqtt_q_##k, p->mqtt.qos[LG_MQTT_##K])                          \
	FMT_S(f_mqtt_r_##k, p->mqtt.retain[LG_MQTT_##K] ? "true" : "false")
FMT_MQTT_KIND(alerts, ALERTS)
FMT_MQTT_KIND(incidents, INCIDENTS)
FMT_MQTT_KIND(scores, SCORES)
FMT_MQTT_KIND(events, EVENTS)
FMT_MQTT_KIND(status, STATUS)
FMT_S(f_mqtt_protocol, p->mqtt.protocol == 4 ? "3.1.1" : "5")
FMT_S(f_mqtt_user, p->mqtt.username)
/* The password itself never: only whether there is one. */
FMT_S(f_mqtt_pass, p->mqtt.password[0] ? "(set)" : "")
FMT_F(f_mqtt_tls_ca, p->mqtt.tls_ca)
FMT_F(f_mqtt_tls_cert, p->mqtt.tls_cert)
FMT_F(f_mqtt_tls_key, p->mqtt.tls_key)
FMT_U(f_mqtt_dev_off, p->mqtt.device_offline_s)
FMT_F(f_mqtt_outbox, p->mqtt.outbox_dir)
FMT_U(f_mqtt_outbox_max, p->mqtt.outbox_dir[0] ? p->mqtt.outbox_max_bytes : 0)
FMT_S(f_om_host, p->opcua_mqtt.host)
FMT_U(f_om_port, p->opcua_mqtt.port)
FMT_S(f_om_client, p->opcua_mqtt.client_id)
FMT_U(f_om_qos, p->opcua_mqtt.qos)
FMT_S(f_om_user, p->opcua_mqtt.username)
/* Whether there is a password, never a byte of it. */
FMT_S(f_om_pass, p->opcua_mqtt.password[0] ? "(set)" : "")
FMT_F(f_om_tls_ca, p->opcua_mqtt.tls_ca)
FMT_F(f_om_tls_cert, p->opcua_mqtt.tls_cert)
FMT_F(f_om_tls_key, p->opcua_mqtt.tls_key)

static void f_om_topics(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (unsigned i = 0; i < p->opcua_mqtt.ntopics && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%s", i ? "," : "", p->opcua_mqtt.topics[i]);
}
static void f_registry(const struct lg_policy *p, char *b, size_t l)
{
	f_file(p->registry, b, l);
}

/* recording: the whole section on one line (docs/recording.md). */
static void f_recording(const struct lg_policy *p, char *b, size_t l)
{
	const struct lg_policy_recording *r = &p->recording;
	size_t u;

	char dir[PATH_MAX];

	f_file(r->dir, dir, sizeof(dir));
	u = (size_t)snprintf(b, l, "%s dir=%s prefix=%s files<=%llu B/%llu s total<=%llu B "
			     "free>=%llu B", r->enabled ? "on" : "off", dir, r->prefix,
			     (unsigned long long)r->max_file_bytes,
			     (unsigned long long)r->max_file_seconds,
			     (unsigned long long)r->max_total_bytes,
			     (unsigned long long)r->min_free_bytes);
	for (unsigned i = 0; i < r->ndevices && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%s", i ? "," : " devices=", r->devices[i]);
	for (unsigned i = 0; i < r->ngroups && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%s", i ? "," : " groups=", r->groups[i]);
}

static void f_threshold(const struct lg_policy *p, char *b, size_t l)
{
	if (p->threshold > 0)
		snprintf(b, l, "%.9g", (double)p->threshold);
	else
		snprintf(b, l, "model's own");
}

/* Bad samples (issue 8) */
static void f_bad_samples(const struct lg_policy *p, char *b, size_t l)
{
	snprintf(b, l, "%s", p->bad_samples == LG_BAD_SAMPLES_MASK ? "mask" : "drop");
}

/* The ONNX models' GEMM route */
static void f_gemm(const struct lg_policy *p, char *b, size_t l)
{
	static const char *const names[] = { "auto", "openblas", "xsmm", "xsmm-bf16" };

	snprintf(b, l, "%s", p->gemm < 4 ? names[p->gemm] : "?");
}

/* incidents */
static void f_incidents(const struct lg_policy *p, char *b, size_t l)
{
	const struct lg_policy_incidents *in = &p->incidents;

	snprintf(b, l, "confirm %u of %u, resolve_after %u, hysteresis %.6g, update_ms %u",
		 in->confirm, in->of, in->resolve_after, (double)in->hysteresis, in->update_ms);
}

static void f_drift(const struct lg_policy *p, char *b, size_t l)
{
	const struct lg_policy_drift *d = &p->drift;
	const struct lg_policy_retrain *r = &d->retrain;
	int u;

	if (!d->enabled) {
		snprintf(b, l, "off");
		return;
	}
	u = snprintf(b, l, "psi %u windows > %.9g, page-hinkley delta %.9g lambda %.9g",
		     d->psi_windows, (double)d->psi_threshold, (double)d->ph_delta,
		     (double)d->ph_lambda);
	if (r->record_seconds && u > 0 && (size_t)u < l)
		snprintf(b + u, l - (size_t)u, ", retrain: record %u s, min_windows %u, "
			 "cooldown %u s", r->record_seconds, r->min_windows, r->cooldown_seconds);
}

static void f_cores(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (unsigned i = 0; i < p->ncores && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%u", i ? "," : "", p->cores[i]);
	if (!p->ncores)
		snprintf(b, l, "not pinned");
}

static void f_groups(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (size_t i = 0; i < p->ngroups && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%s%s", i ? "," : "", p->groups[i].name,
				      p->groups[i].audit ? "(audit)" : "");
}

static void f_mcast(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (unsigned i = 0; i < p->nmcast && u < l; i++) {
		char a[INET6_ADDRSTRLEN];

		inet_ntop(p->mcast[i].family, p->mcast[i].addr, a, sizeof(a));
		u += (size_t)snprintf(b + u, l - u, "%s%s", i ? "," : "", a);
	}
	if (p->mcast_if[0] && u < l)
		snprintf(b + u, l - u, " on %s", p->mcast_if);
}

/* output.nats (docs/fleet.md): start-only, as output.mqtt; a restart opens the outbox again. */
static void f_nats_urls(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (unsigned i = 0; i < p->nats.nurls && u < l; i++)
		u += (size_t)snprintf(b + u, l - u, "%s%s", i ? "," : "", p->nats.urls[i]);
}
FMT_S(f_nats_prefix, p->nats.nurls ? p->nats.subject_prefix : "")
FMT_S(f_nats_plant, p->nats.plant)
FMT_S(f_nats_line, p->nats.line)
FMT_F(f_nats_outbox, p->nats.outbox_dir)
FMT_U(f_nats_outbox_max, p->nats.nurls ? p->nats.outbox_max_bytes : 0)
FMT_U(f_nats_score_every, p->nats.score_every)
FMT_F(f_nats_tls_ca, p->nats.tls_ca)
FMT_F(f_nats_tls_cert, p->nats.tls_cert)
FMT_F(f_nats_tls_key, p->nats.tls_key)
/* Credentials (issue 13): the files' paths, never what they hold. */
FMT_F(f_nats_nkey, p->nats.nkey_file)
FMT_F(f_nats_creds, p->nats.creds_file)

/* output.influx (issue 12): start-only, as output.mqtt; secrets shown as "(set)" only. */
FMT_S(f_ix_url, p->influx.url)
FMT_S(f_ix_db, p->influx.database)
FMT_S(f_ix_bucket, p->influx.bucket)
FMT_S(f_ix_org, p->influx.org)
/* A secret as "(set, <fingerprint>)": the first 8 hex digits of its SHA-256, so that a new
 * token or password shows as a change (refused live: start-only), never a byte of it. */
static void f_secret(const char *secret, char *b, size_t l)
{
	char fp[LG_KEY_FP_LEN + 1];

	if (!secret[0]) {
		snprintf(b, l, "%s", "");
		return;
	}
	lg_key_fingerprint((const uint8_t *)secret, strlen(secret), fp);
	snprintf(b, l, "(set, %s)", fp);
}

static void f_ix_token(const struct lg_policy *p, char *b, size_t l)
{
	f_secret(p->influx.token, b, l);
}

static void f_ix_pass(const struct lg_policy *p, char *b, size_t l)
{
	f_secret(p->influx.password, b, l);
}
FMT_S(f_ix_user, p->influx.username)
FMT_S(f_ix_prefix, p->influx.url[0] ? p->influx.prefix : "")
FMT_U(f_ix_decim, p->influx.url[0] ? p->influx.decimation : 0)
FMT_S(f_ix_scores, !p->influx.url[0] ? "" : p->influx.scores ? "true" : "false")
FMT_U(f_ix_batch, p->influx.url[0] ? p->influx.batch_lines : 0)
FMT_U(f_ix_flush, p->influx.url[0] ? p->influx.flush_ms : 0)
FMT_U(f_ix_max, p->influx.url[0] ? p->influx.max_buffer_lines : 0)
FMT_U(f_ix_timeout, p->influx.url[0] ? p->influx.timeout_ms : 0)

static void fmt_features(uint32_t mask, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (unsigned j = 0; j < LG_FEAT_N && u < l; j++)
		if (mask & (1u << j))
			u += (size_t)snprintf(b + u, l - u, "%s%u", u ? "," : "", j);
}

static void f_ix_features(const struct lg_policy *p, char *b, size_t l)
{
	fmt_features(p->influx.features, b, l);
}

/* output.nats.features, feature_every (issue 13): start-only like the rest of output.nats. */
static void f_nats_features(const struct lg_policy *p, char *b, size_t l)
{
	fmt_features(p->nats.nurls ? p->nats.features : 0, b, l);
}
FMT_U(f_nats_feature_every, p->nats.nurls && p->nats.features ? p->nats.feature_every : 0)

/* backend (docs/operations.md): start-only, a restart brings up another backend or port. */
static void f_backend(const struct lg_policy *p, char *b, size_t l)
{
	if (!p->backend.name[0] && !p->backend.workers)
		snprintf(b, l, "not set");
	else
		snprintf(b, l, "%s%s%s, workers %u", p->backend.name[0] ? p->backend.name : "-",
			 p->backend.opts[0] ? ":" : "", p->backend.opts, p->backend.workers);
}

/* Public keys, but long: their first 12 hex digits say which they are (fewer than the 16
 * that every reply hides as a possible secret). */
static void f_trusted(const struct lg_policy *p, char *b, size_t l)
{
	size_t u = 0;

	b[0] = '\0';
	for (size_t i = 0; i < p->nmodel_keys && u < l; i++) {
		char hex[65];

		lg_hex_encode(p->model_keys[i], 32, hex);
		u += (size_t)snprintf(b + u, l - u, "%s%.12s", i ? "," : "", hex);
	}
}

static const struct {
	struct lg_policy_field f;
	fmt_fn fmt;
} fields[] = {
	{ { "version", LG_FIELD_START_ONLY }, f_version },
	{ { "port", LG_FIELD_START_ONLY }, f_port },
	{ { "uadp_port", LG_FIELD_START_ONLY }, f_uadp_port },
	{ { "uadp_multicast", LG_FIELD_LIVE }, f_mcast },
	{ { "not_ours", LG_FIELD_LIVE }, f_not_ours },
	{ { "fragments", LG_FIELD_LIVE }, f_fragments },
	{ { "vlans", LG_FIELD_LIVE }, f_vlans },
	{ { "workers.cores", LG_FIELD_LIVE }, f_cores },
	{ { "groups", LG_FIELD_LIVE }, f_groups },
	{ { "detection.window", LG_FIELD_LIVE }, f_window },
	{ { "detection.batch", LG_FIELD_LIVE }, f_batch },
	{ { "detection.deadline_ms", LG_FIELD_LIVE }, f_deadline },
	{ { "detection.model", LG_FIELD_LIVE }, f_model },
	{ { "detection.threshold", LG_FIELD_LIVE }, f_threshold },
	{ { "detection.bad_samples", LG_FIELD_LIVE }, f_bad_samples },
	{ { "detection.gemm", LG_FIELD_LIVE }, f_gemm },
	{ { "detection.incidents", LG_FIELD_LIVE }, f_incidents },
	{ { "detection.drift", LG_FIELD_LIVE }, f_drift },
	{ { "models.trusted_keys", LG_FIELD_LIVE }, f_trusted },
	{ { "models.registry", LG_FIELD_START_ONLY }, f_registry },
	{ { "output.jsonl", LG_FIELD_LIVE }, f_jsonl },
	{ { "output.jsonl.max_bytes", LG_FIELD_LIVE }, f_jsonl_max },
	{ { "output.jsonl.keep", LG_FIELD_LIVE }, f_jsonl_keep },
	{ { "recording", LG_FIELD_LIVE }, f_recording },
	{ { "output.mqtt.host", LG_FIELD_START_ONLY }, f_mqtt_host },
	{ { "output.mqtt.port", LG_FIELD_START_ONLY }, f_mqtt_port },
	{ { "output.mqtt.client_id", LG_FIELD_START_ONLY }, f_mqtt_client },
	{ { "output.mqtt.topic", LG_FIELD_START_ONLY }, f_mqtt_topic },
	{ { "output.mqtt.scores", LG_FIELD_START_ONLY }, f_mqtt_scores },
	/* output.mqtt, issue 12 */
	{ { "output.mqtt.protocol", LG_FIELD_START_ONLY }, f_mqtt_protocol },
	{ { "output.mqtt.username", LG_FIELD_START_ONLY }, f_mqtt_user },
	{ { "output.mqtt.password_file", LG_FIELD_START_ONLY }, f_mqtt_pass },
	{ { "output.mqtt.tls.ca_file", LG_FIELD_START_ONLY }, f_mqtt_tls_ca },
	{ { "output.mqtt.tls.cert_file", LG_FIELD_START_ONLY }, f_mqtt_tls_cert },
	{ { "output.mqtt.tls.key_file", LG_FIELD_START_ONLY }, f_mqtt_tls_key },
	{ { "output.mqtt.qos_alerts", LG_FIELD_START_ONLY }, f_mqtt_q_alerts },
	{ { "output.mqtt.qos_incidents", LG_FIELD_START_ONLY }, f_mqtt_q_incidents },
	{ { "output.mqtt.qos_scores", LG_FIELD_START_ONLY }, f_mqtt_q_scores },
	{ { "output.mqtt.qos_events", LG_FIELD_START_ONLY }, f_mqtt_q_events },
	{ { "output.mqtt.qos_status", LG_FIELD_START_ONLY }, f_mqtt_q_status },
	{ { "output.mqtt.retain_alerts", LG_FIELD_START_ONLY }, f_mqtt_r_alerts },
	{ { "output.mqtt.retain_incidents", LG_FIELD_START_ONLY }, f_mqtt_r_incidents },
	{ { "output.mqtt.retain_scores", LG_FIELD_START_ONLY }, f_mqtt_r_scores },
	{ { "output.mqtt.retain_events", LG_FIELD_START_ONLY }, f_mqtt_r_events },
	{ { "output.mqtt.retain_status", LG_FIELD_START_ONLY }, f_mqtt_r_status },
	{ { "output.mqtt.device_offline_seconds", LG_FIELD_START_ONLY }, f_mqtt_dev_off },
	{ { "output.mqtt.outbox.dir", LG_FIELD_START_ONLY }, f_mqtt_outbox },
	{ { "output.mqtt.outbox.max_bytes", LG_FIELD_START_ONLY }, f_mqtt_outbox_max },
	{ { "output.nats.urls", LG_FIELD_START_ONLY }, f_nats_urls },
	{ { "output.nats.subject_prefix", LG_FIELD_START_ONLY }, f_nats_prefix },
	{ { "output.nats.plant", LG_FIELD_START_ONLY }, f_nats_plant },
	{ { "output.nats.line", LG_FIELD_START_ONLY }, f_nats_line },
	{ { "output.nats.outbox.dir", LG_FIELD_START_ONLY }, f_nats_outbox },
	{ { "output.nats.outbox.max_bytes", LG_FIELD_START_ONLY }, f_nats_outbox_max },
	{ { "output.nats.score_every", LG_FIELD_START_ONLY }, f_nats_score_every },
	{ { "output.nats.tls.ca_file", LG_FIELD_START_ONLY }, f_nats_tls_ca },
	{ { "output.nats.tls.cert_file", LG_FIELD_START_ONLY }, f_nats_tls_cert },
	{ { "output.nats.tls.key_file", LG_FIELD_START_ONLY }, f_nats_tls_key },
	{ { "output.nats.nkey_file", LG_FIELD_START_ONLY }, f_nats_nkey },
	{ { "output.nats.creds_file", LG_FIELD_START_ONLY }, f_nats_creds },
	{ { "output.nats.features", LG_FIELD_START_ONLY }, f_nats_features },
	{ { "output.nats.feature_every", LG_FIELD_START_ONLY }, f_nats_feature_every },
	{ { "output.influx.url", LG_FIELD_START_ONLY }, f_ix_url },
	{ { "output.influx.database", LG_FIELD_START_ONLY }, f_ix_db },
	{ { "output.influx.bucket", LG_FIELD_START_ONLY }, f_ix_bucket },
	{ { "output.influx.org", LG_FIELD_START_ONLY }, f_ix_org },
	{ { "output.influx.token_file", LG_FIELD_START_ONLY }, f_ix_token },
	{ { "output.influx.username", LG_FIELD_START_ONLY }, f_ix_user },
	{ { "output.influx.password_file", LG_FIELD_START_ONLY }, f_ix_pass },
	{ { "output.influx.measurement_prefix", LG_FIELD_START_ONLY }, f_ix_prefix },
	{ { "output.influx.decimation", LG_FIELD_START_ONLY }, f_ix_decim },
	{ { "output.influx.scores", LG_FIELD_START_ONLY }, f_ix_scores },
	{ { "output.influx.features", LG_FIELD_START_ONLY }, f_ix_features },
	{ { "output.influx.batch_lines", LG_FIELD_START_ONLY }, f_ix_batch },
	{ { "output.influx.flush_ms", LG_FIELD_START_ONLY }, f_ix_flush },
	{ { "output.influx.max_buffer_lines", LG_FIELD_START_ONLY }, f_ix_max },
	{ { "output.influx.timeout_ms", LG_FIELD_START_ONLY }, f_ix_timeout },
	{ { "backend", LG_FIELD_START_ONLY }, f_backend },
	{ { "opcua_mqtt.host", LG_FIELD_START_ONLY }, f_om_host },
	{ { "opcua_mqtt.port", LG_FIELD_START_ONLY }, f_om_port },
	{ { "opcua_mqtt.topics", LG_FIELD_START_ONLY }, f_om_topics },
	{ { "opcua_mqtt.client_id", LG_FIELD_START_ONLY }, f_om_client },
	{ { "opcua_mqtt.qos", LG_FIELD_START_ONLY }, f_om_qos },
	{ { "opcua_mqtt.username", LG_FIELD_START_ONLY }, f_om_user },
	{ { "opcua_mqtt.password_file", LG_FIELD_START_ONLY }, f_om_pass },
	{ { "opcua_mqtt.tls.ca_file", LG_FIELD_START_ONLY }, f_om_tls_ca },
	{ { "opcua_mqtt.tls.cert_file", LG_FIELD_START_ONLY }, f_om_tls_cert },
	{ { "opcua_mqtt.tls.key_file", LG_FIELD_START_ONLY }, f_om_tls_key },
};

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

const struct lg_policy_field *lg_policy_field_at(size_t i)
{
	return i < NFIELDS ? &fields[i].f : NULL;
}

int lg_policy_field_class(const char *name)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (!strcmp(fields[i].f.name, name))
			return (int)fields[i].f.cls;
	return -ENOENT;
}

/* Device fields: every one is live (decision 1: devices, every field). */
static void d_name(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	snprintf(b, l, "%s", d->name);
}

static void d_source(const struct lg_policy *p, const struct lg_policy_device *d, char *b,
		     size_t l)
{
	char a[INET6_ADDRSTRLEN] = "?";

	(void)p;
	inet_ntop(d->family, d->addr, a, sizeof(a));
	if (d->port)
		snprintf(b, l, d->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, d->port);
	else
		snprintf(b, l, "%s", a);
}

static void d_mac(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	if (d->has_mac)
		snprintf(b, l, "%02x:%02x:%02x:%02x:%02x:%02x", d->mac[0], d->mac[1], d->mac[2],
			 d->mac[3], d->mac[4], d->mac[5]);
	else
		snprintf(b, l, "any");
}

static void d_rate(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	snprintf(b, l, "%" PRIu32, d->rate);
}

/* Bad samples (issue 8) */
static void d_range(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	if (d->has_range)
		snprintf(b, l, "[%.9g, %.9g]", (double)d->range_min, (double)d->range_max);
	else
		snprintf(b, l, "[-%g, %g] (no range)", (double)LG_SAMPLE_LIMIT,
			 (double)LG_SAMPLE_LIMIT);
}

static void d_burst(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	snprintf(b, l, "%" PRIu32, d->burst);
}

static void d_sample_rate(const struct lg_policy *p, const struct lg_policy_device *d, char *b,
			  size_t l)
{
	(void)p;
	snprintf(b, l, "%" PRIu32, d->sample_rate);
}

static void d_score(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	(void)p;
	snprintf(b, l, "%s", d->unscored ? "false" : "true");
}

static void d_group(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	const char *g = d->group && d->group <= p->ngroups ? p->groups[d->group - 1].name : "";

	snprintf(b, l, "%s", g);
}

static void d_uadp(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	static const char *const sec[] = { "", " unsigned", " encrypted" };
	static const char *const rep[] = { "", "sequence", "nonce", "timestamp", "none" };
	static const char *const tr[] = { "", " transport mqtt", " transport any" };
	/* The replay protection is shown where it is not the default for the security. */
	unsigned dflt = d->uadp_security == LG_UADP_SEC_NONE ? LG_UADP_REPLAY_SEQUENCE
							     : LG_UADP_REPLAY_NONCE;
	char more[120], ahead[40] = "";
	const char *w = d->uadp_by_position ? "writer_position" : "writer";

	(void)p;
	if (d->uadp_ahead_ms != 60000)
		snprintf(ahead, sizeof(ahead), " clock_ahead_ms %" PRIu32, d->uadp_ahead_ms);
	snprintf(more, sizeof(more), "%s%s%s%s%s", sec[d->uadp_security % 3],
		 d->uadp_replay == dflt ? "" : " replay ",
		 d->uadp_replay == dflt ? "" : rep[d->uadp_replay % 5], tr[d->uadp_transport % 3],
		 ahead);
	if (!d->uadp_pub_type)
		snprintf(b, l, "none");
	else if (d->uadp_pub_type - 1 == LG_ADMIT_UADP_PUBID_NONE)
		snprintf(b, l, "publisher (source) writer_group %u %s %u%s", d->uadp_writer_group, w,
			 d->uadp_writer, more);
	else if (d->uadp_pub_str[0])
		snprintf(b, l, "publisher %s writer_group %u %s %u%s", d->uadp_pub_str,
			 d->uadp_writer_group, w, d->uadp_writer, more);
	else
		snprintf(b, l, "publisher %" PRIu64 " writer_group %u %s %u%s", d->uadp_pub_num,
			 d->uadp_writer_group, w, d->uadp_writer, more);
}

/*
 * The DataSet's fields as given, typed ones with their RawData type and array length
 * ("t:DateTime,ax:Float[64]"): a changed layout is a changed device. A list longer than
 * the buffer ends in a hash of the whole, so that no change hides past the cut.
 */
static void d_fields(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	char all[LG_UADP_FIELD_NAMES + LG_UADP_MAX_NAMED_FIELDS * 32];
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t u = 0;

	(void)p;
	all[0] = '\0';
	for (unsigned i = 0; i < d->uadp_nfields && u < sizeof(all); i++) {
		const struct lg_uadp_raw_field *f = &d->uadp_raw[i];
		const char *name = lg_policy_uadp_field(d, i), *sep = i ? "," : "";

		if (!d->uadp_typed)
			u += (size_t)snprintf(all + u, sizeof(all) - u, "%s%s", sep, name);
		else if (f->max_len)
			u += (size_t)snprintf(all + u, sizeof(all) - u, "%s%s:%s[%u]", sep, name,
					      lg_policy_uadp_type_name(f->type), f->max_len);
		else
			u += (size_t)snprintf(all + u, sizeof(all) - u, "%s%s:%s", sep, name,
					      lg_policy_uadp_type_name(f->type));
	}
	if (strlen(all) < l) {
		snprintf(b, l, "%s", all);
		return;
	}
	for (const char *q = all; *q; q++)
		h = (h ^ (uint8_t)*q) * 16777619u;
	snprintf(b, l, "%.*s... #%08x", (int)(l - 16), all, h);
}

/* Keys by id and fingerprint (and expiry), never their bytes. */
static void d_keys(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	size_t u = 0;

	(void)p;
	b[0] = '\0';
	for (unsigned k = 0; k < d->nkeys && u < l; k++) {
		char fp[9], when[32] = "";

		lg_policy_key_fingerprint(&d->keys[k], fp);
		if (d->keys[k].expires) {
			time_t t = (time_t)d->keys[k].expires;
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), " expires %Y-%m-%dT%H:%M:%SZ", &tm);
		}
		u += (size_t)snprintf(b + u, l - u, "%s%u:%s%s", k ? "," : "", d->keys[k].id, fp,
				      when);
	}
}

/*
 * Metadata (issue 12), as the device has it with its group's filled in:
 * "line=L1 station=S2 asset=pump-3 sensor=... units=... tags k=v,k2=v2". Text longer than
 * the buffer ends in a hash of the whole, so that no change hides past the cut.
 */
static void d_meta(const struct lg_policy *p, const struct lg_policy_device *d, char *b, size_t l)
{
	const struct lg_policy_meta *m = &d->meta;
	const char *name[] = { "line", "station", "asset", "sensor", "units" };
	const char *val[] = { m->line, m->station, m->asset, m->sensor, m->units };
	char all[5 * (LG_META_STR_MAX + 10) + LG_META_MAX_TAGS * (LG_META_KEY_MAX +
								   LG_META_STR_MAX + 2) + 8];
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t u = 0;

	(void)p;
	all[0] = '\0';
	for (unsigned i = 0; i < 5; i++)
		if (val[i][0])
			u += (size_t)snprintf(all + u, sizeof(all) - u, "%s%s=%s", u ? " " : "",
					      name[i], val[i]);
	for (unsigned i = 0; i < m->ntags && u < sizeof(all); i++)
		u += (size_t)snprintf(all + u, sizeof(all) - u, "%s%s=%s",
				      i ? "," : u ? " tags " : "tags ", m->tags[i].key,
				      m->tags[i].value);
	if (strlen(all) < l) {
		snprintf(b, l, "%s", all);
		return;
	}
	for (const char *q = all; *q; q++)
		h = (h ^ (uint8_t)*q) * 16777619u;
	snprintf(b, l, "%.*s... #%08x", (int)(l - 16), all, h);
}

typedef void (*dfmt_fn)(const struct lg_policy *p, const struct lg_policy_device *d, char *b,
			size_t l);
static const struct {
	const char *name;
	dfmt_fn fmt;
} dev_fields[] = {
	{ "name", d_name },   { "source", d_source }, { "mac", d_mac },
	{ "rate", d_rate },   { "burst", d_burst },   { "group", d_group },
	{ "uadp", d_uadp },   { "keys", d_keys },     { "range", d_range },
	{ "sample_rate", d_sample_rate }, { "score", d_score }, { "fields", d_fields },
	{ "meta", d_meta }, /* issue 12 */
};

static int push(struct lg_policy_diff *d, size_t *cap, const struct lg_policy_change *c)
{
	if (d->n == *cap) {
		size_t n = *cap ? *cap * 2 : 16;
		struct lg_policy_change *m = realloc(d->c, n * sizeof(*m));

		if (!m)
			return -ENOMEM;
		d->c = m;
		*cap = n;
	}
	d->c[d->n++] = *c;
	return 0;
}

static void dev_summary(const struct lg_policy *p, const struct lg_policy_device *d, char *b,
			size_t l)
{
	char src[80], keys[256];

	d_source(p, d, src, sizeof(src));
	d_keys(p, d, keys, sizeof(keys));
	snprintf(b, l, "%s %s keys %s", d->name, src, keys);
}

static int diff_device(const struct lg_policy *op, const struct lg_policy_device *od,
		       const struct lg_policy *np, const struct lg_policy_device *nd,
		       struct lg_policy_diff *out, size_t *cap)
{
	for (size_t i = 0; i < sizeof(dev_fields) / sizeof(dev_fields[0]); i++) {
		struct lg_policy_change c = { .kind = LG_CHANGE_DEVICE_FIELD, .cls = LG_FIELD_LIVE,
					      .device = nd->id };

		dev_fields[i].fmt(op, od, c.old, sizeof(c.old));
		dev_fields[i].fmt(np, nd, c.new, sizeof(c.new));
		if (!strcmp(c.old, c.new))
			continue;
		snprintf(c.field, sizeof(c.field), "%s", dev_fields[i].name);
		if (push(out, cap, &c))
			return -ENOMEM;
	}
	return 0;
}

int lg_policy_diff(const struct lg_policy *old, const struct lg_policy *new,
		   struct lg_policy_diff *out)
{
	size_t cap = 0, i = 0, j = 0;

	out->n = 0;
	out->c = NULL;
	for (size_t f = 0; f < NFIELDS; f++) {
		struct lg_policy_change c = { .kind = LG_CHANGE_SETTING, .cls = fields[f].f.cls };

		fields[f].fmt(old, c.old, sizeof(c.old));
		fields[f].fmt(new, c.new, sizeof(c.new));
		if (!strcmp(c.old, c.new))
			continue;
		snprintf(c.field, sizeof(c.field), "%s", fields[f].f.name);
		if (push(out, &cap, &c))
			goto nomem;
	}
	/* Both device lists are sorted by id: one merge. */
	while (i < old->ndevices || j < new->ndevices) {
		const struct lg_policy_device *od = i < old->ndevices ? &old->devices[i] : NULL;
		const struct lg_policy_device *nd = j < new->ndevices ? &new->devices[j] : NULL;
		struct lg_policy_change c = { .cls = LG_FIELD_LIVE };

		if (od && (!nd || od->id < nd->id)) {
			c.kind = LG_CHANGE_DEVICE_REMOVED;
			c.device = od->id;
			dev_summary(old, od, c.old, sizeof(c.old));
			i++;
		} else if (nd && (!od || nd->id < od->id)) {
			c.kind = LG_CHANGE_DEVICE_ADDED;
			c.device = nd->id;
			dev_summary(new, nd, c.new, sizeof(c.new));
			j++;
		} else {
			i++;
			j++;
			if (diff_device(old, od, new, nd, out, &cap))
				goto nomem;
			continue;
		}
		if (push(out, &cap, &c))
			goto nomem;
	}
	return 0;
nomem:
	lg_policy_diff_free(out);
	return -ENOMEM;
}

void lg_policy_diff_free(struct lg_policy_diff *d)
{
	if (!d)
		return;
	free(d->c);
	d->c = NULL;
	d->n = 0;
}

const struct lg_policy_change *lg_policy_diff_start_only(const struct lg_policy_diff *d)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->c[i].cls == LG_FIELD_START_ONLY)
			return &d->c[i];
	return NULL;
}

char *lg_policy_diff_json(const struct lg_policy_diff *d)
{
	static const char *const change[] = {
		[LG_CHANGE_DEVICE_ADDED] = "added",
		[LG_CHANGE_DEVICE_REMOVED] = "removed",
		[LG_CHANGE_DEVICE_FIELD] = "changed",
	};
	json_object *a = json_object_new_array();
	char *s = NULL;

	if (!a)
		return NULL;
	for (size_t i = 0; i < d->n; i++) {
		const struct lg_policy_change *c = &d->c[i];
		json_object *o = json_object_new_object();

		if (!o || json_object_array_add(a, o)) {
			json_object_put(o);
			goto out;
		}
		if (c->kind != LG_CHANGE_SETTING) {
			json_object_object_add(o, "device", json_object_new_int64(c->device));
			json_object_object_add(o, "change",
					       json_object_new_string(change[c->kind]));
		}
		if (c->field[0])
			json_object_object_add(o, "field", json_object_new_string(c->field));
		json_object_object_add(o, "class", json_object_new_string(
			c->cls == LG_FIELD_LIVE ? "live" : "start-only"));
		if (c->kind != LG_CHANGE_DEVICE_ADDED)
			json_object_object_add(o, "old", json_object_new_string(c->old));
		if (c->kind != LG_CHANGE_DEVICE_REMOVED)
			json_object_object_add(o, "new", json_object_new_string(c->new));
	}
	s = strdup(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(a);
	return s;
}
