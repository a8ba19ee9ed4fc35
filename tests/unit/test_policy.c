// SPDX-License-Identifier: MIT
/* Policy parser: a valid policy, and every kind of mistake with its line and column. */
#include <pwd.h>
#include <linegate/features.h>
#include <linegate/policy.h>
#include <linegate/nats_url.h>
#include "../../control/policy_edit.h"

#include <arpa/inet.h>

#include <sched.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

/* Policies name keys by key file; these are written (0600) into a temp folder and the
 * policies below are parsed as "<that folder>/t.yaml". */
static const char *const key_files[] = { "k1", KEY1, "k2", KEY2, NULL };
static struct lgt_keys keys;

static const char good[] =
	"version: 1\n"
	"port: 5000\n"
	"detection:\n"
	"  window: 512\n"
	"  batch: 32\n"
	"  deadline_ms: 20\n"
	"  model: models/m.json\n"
	"  threshold: 12.5\n"
	"  incidents: {confirm: 3, of: 5, resolve_after: 20, hysteresis: 0.5, update_ms: 2000}\n"
	"output:\n"
	"  jsonl: out.jsonl\n"
	"devices:\n"
	"  - id: 300\n"
	"    name: press-3\n"
	"    source: 10.1.2.3\n"
	"    score: false\n"
	"    keys: [{id: 1, key_file: k1.key}]\n"
	"  - id: 7\n"
	"    source: fd00::7\n"
	"    port: 4000\n"
	"    keys:\n"
	"      - {id: 1, key_file: k1.key, expires: 2026-12-04T18:00:00Z}\n"
	"      - {id: 2, key_file: k2.key}\n";

static void expect_error(const char *text, const char *where, const char *what)
{
	struct lg_policy p;
	char err[512] = "";
	int ret = lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err));

	CHECK(ret < 0);
	CHECK_STR_CONTAINS(err, where);
	CHECK_STR_CONTAINS(err, what);
	if (!ret)
		lg_policy_free(&p);
}

#define DEV "devices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"

static const char usage[] =
	"Usage: test_policy [options]\n"
	"\n"
	"The policy parser: a valid policy read field by field, and every kind of mistake\n"
	"refused with its file, line and column.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"test_policy: N checks, M failed\" on stdout.\n"
	LGT_EXIT_STATUS;

/* lg_redact_secrets: runs of 16 or more hex digits become "<hidden>", shorter ones stay. */
static void test_redact(void)
{
	char a[] = "unknown cmd '9d436c66f27b9102764f377e600501c5b41444547796371e41389e540e2c9d82'";
	char b[] = "threshold '0123456789abcdef0123zz' and id 4294967295, fp 630dcd29";
	char c[] = "0123456789ABCDEF";
	char e[] = "";

	CHECK_EQ(lg_redact_secrets(a), 1);
	CHECK(!strcmp(a, "unknown cmd '<hidden>'"));
	CHECK_EQ(lg_redact_secrets(b), 1);
	CHECK(!strcmp(b, "threshold '<hidden>zz' and id 4294967295, fp 630dcd29"));
	CHECK_EQ(lg_redact_secrets(c), 1);
	CHECK(!strcmp(c, "<hidden>"));
	CHECK_EQ(lg_redact_secrets(e), 0);
	CHECK_EQ(lg_redact_secrets(NULL), 0);
}

/* NATS server URLs' shape (trial K, s21: "nats://[::1:14222" went to libnats, which said
 * only "No server available"). */
static void test_nats_urls(void)
{
	static const char *const ok[] = {
		"nats://a", "nats://127.0.0.1:4222", "tls://plant-nats-1:4222", "nats://[::1]:4222",
		"nats://[::1]", "nats://u:p@host:4222", "nats://u:p@[fd00::1]:1",
	};
	static const char *const bad[] = {
		"nats://[::1:4222", "nats://", "nats://host:", "nats://host:0", "nats://host:65536",
		"nats://host:42x", "nats://::1:4222", "nats://[]:4222", "nats://host/x:4222",
		"nats://[::1]x", "nats://:4222",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		CHECK(lg_nats_url_shape_ok(ok[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!lg_nats_url_shape_ok(bad[i]));
	expect_error("version: 1\noutput:\n  nats: {urls: \"nats://[::1:4222\", plant: p, line: l}\n",
		     "t.yaml:3:", "a NATS server URL is nats://HOST:PORT");
}

int main(int argc, char **argv)
{
	struct lg_policy p;
	char err[512], path[256];
	const struct lg_policy_device *d;

	lgt_cli(argc, argv, usage, 0, 0);
	test_redact();
	lgt_keys_make(&keys, key_files);
	test_nats_urls();
	CHECK_EQ(lg_policy_parse(good, strlen(good), keys.policy, &p, err, sizeof(err)), 0);
	/* Two LGF devices hold k1.key: said (a warning in lg_policy_check(), a refusal of
	 * enroll and rotate-key in linegated; trial J, s21) */
	{
		char why[400] = "";

		CHECK_EQ(lg_policy_shared_key(&p, why, sizeof(why)), 1);
		CHECK_STR_CONTAINS(why, "devices 7 (");
		CHECK_STR_CONTAINS(why, "and 300 (press-3) hold one key (their keys 1 and 1)");
		CHECK_EQ(lg_policy_edit_check(good, strlen(good), keys.policy, true, why,
					      sizeof(why)), -EEXIST);
		CHECK_STR_CONTAINS(why, "hold one key");
		CHECK_EQ(lg_policy_edit_check(good, strlen(good), keys.policy, false, why,
					      sizeof(why)), 0);
	}
	/* The public demo signing key trusted: a warning (trial J F19); another key: none. */
	{
		static const char demo[] = "version: 1\nmodels:\n  trusted_keys: [" LG_DEMO_SIGNING_PUB
					   "]\n" DEV;
		static const char other[] = "version: 1\nmodels:\n  trusted_keys: [" LG_DEMO_SIGNING_PUB
					    "]\n" DEV;
		char why[512] = "", text[sizeof(other)];
		struct lg_policy q;

		CHECK_EQ(lg_policy_trusts_demo_key(&p, why, sizeof(why)), 0);
		CHECK_EQ(lg_policy_parse(demo, strlen(demo), keys.policy, &q, err, sizeof(err)), 0);
		CHECK_EQ(lg_policy_trusts_demo_key(&q, why, sizeof(why)), 1);
		CHECK_STR_CONTAINS(why, "models.trusted_keys holds the public demo signing key "
				   "c3126d69... whose secret half is published with linegate's "
				   "source (control/defaults/demo-signing.key in its repository)");
		CHECK_EQ(lg_policy_trusts_demo_key(&q, NULL, 0), 1);
		lg_policy_free(&q);
		/* one hex digit changed: not the demo key */
		memcpy(text, other, sizeof(other));
		*strstr(text, "c3126d69") = 'd';
		CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &q, err, sizeof(err)), 0);
		CHECK_EQ(lg_policy_trusts_demo_key(&q, why, sizeof(why)), 0);
		lg_policy_free(&q);
	}
	CHECK_EQ(p.port, 5000);
	CHECK_EQ(p.window, 512);
	CHECK_EQ(p.batch, 32);
	CHECK_EQ(p.deadline_ms, 20);
	snprintf(path, sizeof(path), "%s/models/m.json", keys.dir);
	CHECK(!strcmp(p.model, path)); /* relative to the policy file */
	CHECK_NEAR(p.threshold, 12.5, 1e-6);
	CHECK_EQ(p.incidents.confirm, 3);
	CHECK_EQ(p.incidents.of, 5);
	CHECK_EQ(p.incidents.resolve_after, 20);
	CHECK_NEAR(p.incidents.hysteresis, 0.5, 1e-6);
	CHECK_EQ(p.incidents.update_ms, 2000);
	snprintf(path, sizeof(path), "%s/out.jsonl", keys.dir);
	CHECK(!strcmp(p.jsonl, path));
	CHECK_EQ(p.ndevices, 2);
	CHECK_EQ(p.devices[0].id, 7); /* sorted by id */
	d = lg_policy_find(&p, 300);
	CHECK(d && !strcmp(d->name, "press-3") && d->family == AF_INET && d->port == 0);
	CHECK(d && d->unscored); /* score: false (trial s19 C M3); device 7 is scored */
	CHECK(!lg_policy_find(&p, 7)->unscored);
	CHECK(d && d->addr[0] == 10 && d->addr[3] == 3 && d->nkeys == 1 && d->keys[0].bytes[31] == 0x1f);
	d = lg_policy_find(&p, 7);
	CHECK(d && d->family == AF_INET6 && d->port == 4000 && d->nkeys == 2);
	CHECK(d && !strcmp(d->name, "device-7") && d->keys[1].id == 2 && d->keys[1].bytes[0] == 0x5a);
	/* expires: unix seconds (date -d 2026-12-04T18:00:00Z +%s), 0 = never */
	CHECK(d && d->keys[0].expires == 1796407200 && d->keys[1].expires == 0);
	CHECK(!lg_policy_find(&p, 8));
	lg_policy_free(&p);

	/* output.nats (docs/fleet.md): defaults, a list of URLs, the outbox relative to the
	 * policy, a seed file checked as a key file. */
	{
		static const char nats[] =
			"version: 1\noutput:\n  nats:\n    urls: [nats://a:4222, 'tls://b:4222']\n"
			"    plant: north\n    line: line-7\n    outbox: {dir: ob}\n"
			"    score_every: 10\n    tls: {ca_file: nats-ca.pem}\n";
		static const char nats_min[] =
			"version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
			"subject_prefix: acme.lines, outbox: {dir: /var/ob, max_bytes: 65536}}\n";

		/* a tls:// URL needs the servers' CA (it connected in plain text without) */
		snprintf(path, sizeof(path), "%s/nats-ca.pem", keys.dir);
		{
			FILE *ca = fopen(path, "w");

			CHECK(ca && fputs("-----BEGIN CERTIFICATE-----\n", ca) >= 0 && !fclose(ca));
		}
		CHECK_EQ(lg_policy_parse(nats, strlen(nats), keys.policy, &p, err, sizeof(err)), 0);
		CHECK_EQ(p.nats.nurls, 2);
		CHECK(!strcmp(p.nats.urls[1], "tls://b:4222"));
		CHECK(!strcmp(p.nats.subject_prefix, "linegate"));
		CHECK(!strcmp(p.nats.plant, "north") && !strcmp(p.nats.line, "line-7"));
		CHECK(strstr(p.nats.outbox_dir, "/ob") && p.nats.outbox_dir[0] == '/');
		CHECK_EQ(p.nats.outbox_max_bytes, 256u << 20);
		CHECK_EQ(p.nats.score_every, 10);
		CHECK_EQ(p.nats.line_no, 4); /* the mapping starts at its first key */
		lg_policy_free(&p);
		CHECK_EQ(lg_policy_parse(nats_min, strlen(nats_min), keys.policy, &p, err,
					 sizeof(err)), 0);
		CHECK_EQ(p.nats.nurls, 1);
		CHECK(!strcmp(p.nats.subject_prefix, "acme.lines"));
		CHECK(!strcmp(p.nats.outbox_dir, "/var/ob"));
		CHECK_EQ(p.nats.outbox_max_bytes, 65536);
		CHECK_EQ(p.nats.score_every, 0);
		CHECK_EQ(p.nats.features, 0); /* issue 13: no feature records by default */
		CHECK_EQ(p.nats.feature_every, 1);
		lg_policy_free(&p);
		/* Issue 13: decimated features, the names of output.influx.features. */
		{
			static const char nf[] =
				"version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
				"outbox: {dir: /o}, features: [rms, band3], feature_every: 10}\n";

			CHECK_EQ(lg_policy_parse(nf, strlen(nf), keys.policy, &p, err,
						 sizeof(err)), 0);
			CHECK_EQ(p.nats.features, (1u << LG_FEAT_RMS) | (1u << (LG_FEAT_BAND0 + 3)));
			CHECK_EQ(p.nats.feature_every, 10);
			lg_policy_free(&p);
		}
		expect_error("version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
			     "outbox: {dir: /o}, features: [rms, rms]}\n", "t.yaml:3:80:",
			     "feature 'rms' is listed twice");
		expect_error("version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
			     "outbox: {dir: /o}, features: all, feature_every: 0}\n", "t.yaml:3:94:",
			     "'feature_every' is 0, must be between 1 and 1000000");
		expect_error("version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
			     "subject_prefix: 'a..b', outbox: {dir: /o}}\n", "t.yaml:3:61:",
			     "'subject_prefix' must be tokens joined by '.'");
		expect_error("version: 1\noutput:\n  nats: {urls: nats://a, plant: p, line: l, "
			     "outbox: {dir: /o}, nkey_seed_file: k1.key}\n",
			     "t.yaml:3:64:", "unknown nats field 'nkey_seed_file'");
		expect_error("version: 1\noutput:\n  nats: {urls: nats://a, line: l, "
			     "outbox: {dir: /o}}\n", "t.yaml:3:9:",
			     "'nats' needs 'plant' and 'line'");
	}

	/* output.mqtt (issue 12): defaults, then every key. */
	{
		static const char m0[] = "version: 1\noutput:\n  mqtt: {host: b}\n";
		static const char m1[] =
			"version: 1\noutput:\n  mqtt:\n    host: b\n    protocol: 3.1.1\n"
			"    username: lg\n    password_file: k1.key\n    qos_alerts: 2\n"
			"    qos_scores: 1\n    qos_status: 0\n    retain_incidents: true\n"
			"    retain_status: false\n    device_offline_seconds: 0\n"
			"    outbox: {dir: ob, max_bytes: 65536}\n";

		CHECK_EQ(lg_policy_parse(m0, strlen(m0), keys.policy, &p, err, sizeof(err)), 0);
		CHECK_EQ(p.mqtt.protocol, 5);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_ALERTS], 1);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_INCIDENTS], 1);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_EVENTS], 1);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_SCORES], 0);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_STATUS], 1);
		CHECK(p.mqtt.retain[LG_MQTT_STATUS] && !p.mqtt.retain[LG_MQTT_ALERTS]);
		CHECK_EQ(p.mqtt.device_offline_s, 30);
		CHECK_EQ(p.mqtt.outbox_dir[0], 0);
		CHECK_EQ(p.mqtt.username[0], 0);
		lg_policy_free(&p);
		CHECK_EQ(lg_policy_parse(m1, strlen(m1), keys.policy, &p, err, sizeof(err)), 0);
		CHECK_EQ(p.mqtt.protocol, 4);
		CHECK(!strcmp(p.mqtt.username, "lg"));
		CHECK_EQ(strlen(p.mqtt.password), 64);
		/* incidents and events follow qos_alerts when not set */
		CHECK_EQ(p.mqtt.qos[LG_MQTT_ALERTS], 2);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_INCIDENTS], 2);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_EVENTS], 2);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_SCORES], 1);
		CHECK_EQ(p.mqtt.qos[LG_MQTT_STATUS], 0);
		CHECK(p.mqtt.retain[LG_MQTT_INCIDENTS] && !p.mqtt.retain[LG_MQTT_STATUS]);
		CHECK_EQ(p.mqtt.device_offline_s, 0);
		CHECK(strstr(p.mqtt.outbox_dir, "/ob") != NULL);
		CHECK_EQ(p.mqtt.outbox_max_bytes, 65536);
		lg_policy_free(&p);
		CHECK_EQ(p.mqtt.password[0], 0); /* wiped */
	}

	/* OPC UA PubSub over MQTT: the section, a device only there (no source), one on both. */
	{
		static const char om[] =
			"version: 1\nopcua_mqtt:\n  host: broker.line\n  topics: [a/+/uadp, 'b/#']\n"
			"  qos: 0\n  username: lg\n  password_file: k1.key\n"
			"devices:\n  - id: 1\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    uadp: {publisher_id: 2234, writer_group: 100, writer: 62541, "
			"security: none, transport: mqtt}\n"
			"  - id: 2\n    source: 10.0.0.2\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    uadp: {publisher_id: 2235, writer_group: 100, writer: 62541, "
			"security: none, transport: any}\n"
			"  - id: 3\n    source: 10.0.0.3\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    uadp: {publisher_id: 2236, writer_group: 100, writer: 62541, security: none}\n";

		CHECK_EQ(lg_policy_parse(om, strlen(om), keys.policy, &p, err, sizeof(err)), 0);
		/* UADP writers may share a security group's key (trial J, s21: LGF may not) */
		CHECK_EQ(lg_policy_shared_key(&p, NULL, 0), 0);
		CHECK(!strcmp(p.opcua_mqtt.host, "broker.line"));
		CHECK_EQ(p.opcua_mqtt.port, 1883);
		CHECK_EQ(p.opcua_mqtt.qos, 0);
		CHECK_EQ(p.opcua_mqtt.ntopics, 2);
		CHECK(!strcmp(p.opcua_mqtt.topics[1], "b/#"));
		CHECK(!strcmp(p.opcua_mqtt.client_id, "linegate-opcua"));
		CHECK(!strcmp(p.opcua_mqtt.username, "lg"));
		CHECK_EQ(strlen(p.opcua_mqtt.password), 64); /* the file's line, newline dropped */
		d = lg_policy_find(&p, 1);
		CHECK(d && d->uadp_transport == LG_UADP_TRANSPORT_MQTT && d->family == 0);
		d = lg_policy_find(&p, 2);
		CHECK(d && d->uadp_transport == LG_UADP_TRANSPORT_ANY);
		d = lg_policy_find(&p, 3);
		CHECK(d && d->uadp_transport == LG_UADP_TRANSPORT_UDP);
		lg_policy_free(&p);
		CHECK_EQ(p.opcua_mqtt.password[0], 0); /* wiped */
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: [t], password_file: k1.key}\n",
			     "t.yaml:2:51:", "'password_file' needs a 'username'");
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: []}\n", "t.yaml:2:31:",
			     "at least one topic filter");
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: [t], keepalive: 5}\n",
			     "t.yaml:2:36:", "unknown opcua_mqtt field");
		/* One broker-section parser for both: the same keys, texts and checks. */
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: [t], client_id: ''}\n",
			     "t.yaml:2:47:", "'client_id' must not be empty");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, client_id: ''}\n",
			     "t.yaml:3:30:", "'client_id' must not be empty");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, port: 0}\n", "t.yaml:3:25:",
			     "'port'");
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: [t], port: 70000}\n",
			     "t.yaml:2:42:", "'port'");
		expect_error("version: 1\noutput:\n  mqtt: {port: 1884}\n", "t.yaml:3:9:",
			     "'mqtt' needs a 'host'");
		expect_error("version: 1\nopcua_mqtt: {port: 1884, topics: [t]}\n", "t.yaml:2:13:",
			     "'opcua_mqtt' needs a 'host'");
		/* The output's TLS files are checked at parse time (issue 12). */
		expect_error("version: 1\noutput:\n  mqtt: {host: h, tls: {ca_file: x}}\n",
			     "t.yaml:3:34:", "CA file");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, protocol: 4}\n",
			     "t.yaml:3:29:", "'protocol' must be 5 or 3.1.1");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, retain_status: yes}\n",
			     "t.yaml:3:34:", "'retain_status' must be true or false");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, qos_status: 5}\n",
			     "t.yaml:3:31:", "'qos_status' is 5, must be between 0 and 2");
		expect_error("version: 1\nopcua_mqtt: {host: h, topics: [t], qos: 2}\n",
			     "t.yaml:2:41:", "'qos'");
		expect_error("version: 1\noutput:\n  mqtt: {host: h, qos_alerts: 3}\n",
			     "t.yaml:3:31:", "'qos_alerts'");
	}

	/* UADP fields: typed ones are a RawData layout in DataSet order; plain names are none. */
	{
		static const char tf[] =
			"version: 1\nuadp_port: 4840\ndevices:\n"
			"  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    uadp: {publisher_id: 4242, writer_group: 7, writer: 17, security: none,\n"
			"      fields: [{name: t, type: DateTime}, {name: ax, type: Float, array: 64},\n"
			"               {name: id, type: Guid}, {name: ok, type: Boolean, array: 65000},\n"
			"               {name: st, type: StatusCode},\n"
			"               {name: mode, type: String, max_length: 16}]}\n"
			"  - id: 2\n    source: 10.0.0.2\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    uadp: {publisher_id: 4242, writer_group: 7, writer: 18, security: none,\n"
			"      fields: [t, ax]}\n";
		static const uint8_t types[] = { LG_UADP_T_DATETIME, LG_UADP_T_FLOAT, LG_UADP_T_GUID,
						 LG_UADP_T_BOOLEAN, LG_UADP_T_STATUSCODE,
						 LG_UADP_T_STRING };
		static const uint16_t lens[] = { 0, 64, 0, 65000, 0, 16 };
		struct lg_uadp_layout lay;

		CHECK_EQ(lg_policy_parse(tf, strlen(tf), keys.policy, &p, err, sizeof(err)), 0);
		if (err[0])
			fprintf(stderr, "%s\n", err);
		d = lg_policy_find(&p, 1);
		CHECK(d && d->uadp_typed && d->uadp_nfields == 6);
		CHECK(d && lg_policy_uadp_layout(d, &lay) == 0 && lay.writer_id == 17 &&
		      lay.nfields == 6 && lay.fields == d->uadp_raw);
		for (unsigned i = 0; d && i < 6; i++)
			CHECK(d->uadp_raw[i].type == types[i] && d->uadp_raw[i].max_len == lens[i]);
		CHECK(d && !strcmp(lg_policy_uadp_field(d, 3), "ok"));
		CHECK(!strcmp(lg_policy_uadp_type_name(LG_UADP_T_STATUSCODE), "StatusCode"));
		CHECK(!strcmp(lg_policy_uadp_type_name(LG_UADP_T_STRING), "String"));
		CHECK(!strcmp(lg_policy_uadp_type_name(LG_UADP_T_NODEID), "?"));
		d = lg_policy_find(&p, 2);
		CHECK(d && !d->uadp_typed && d->uadp_nfields == 2 &&
		      lg_policy_uadp_layout(d, &lay) == -ENOENT);
		lg_policy_free(&p);
		expect_error("version: 1\nuadp_port: 4840\ndevices:\n  - id: 1\n    source: 10.0.0.1\n"
			     "    keys: [{id: 1, key_file: k1.key}]\n    uadp: {writer: 1, fields: "
			     "[{name: a, type: Duoble}]}\n", "t.yaml:7:48:",
			     "unknown type 'Duoble': did you mean 'Double'?");
	}

	/* Defaults. */
	CHECK_EQ(lg_policy_parse("version: 1\n", 11, "d.yaml", &p, err, sizeof(err)), 0);
	CHECK_EQ(p.port, 4739);
	CHECK_EQ(p.window, 256);
	CHECK_EQ(p.ndevices, 0);
	CHECK_EQ(p.incidents.confirm, 2); /* incidents: docs/policy.md gives the reasons */
	CHECK_EQ(p.incidents.of, 3);
	CHECK_EQ(p.incidents.resolve_after, 10);
	CHECK_NEAR(p.incidents.hysteresis, 0.8, 1e-6);
	CHECK_EQ(p.incidents.update_ms, 10000);
	CHECK(!p.backend.name[0] && !p.backend.opts[0] && !p.backend.workers);
	lg_policy_free(&p);

	/* backend: the typed keys become --backend's own option syntax (',' inside a value
	 * as ';'), which dataplane/backend/dpdk.c parses as it does a command line's. */
	{
		static const char y[] =
			"version: 1\nbackend:\n  name: dpdk\n  workers: 2\n  dpdk:\n"
			"    pci: 0000:03:00.0\n    vdevs: [net_tap0, \"net_pcap0,rx_pcap=a.pcap,infinite_rx=1\"]\n"
			"    lcores: 0,2\n    memory_mb: 512\n    hugepages: false\n"
			"    rx_descriptors: 2048\n    checksum: false\n"
			"    eal_args: [--iova-mode=va, --log-level=pmd.net.tap:8]\n";

		CHECK_EQ(lg_policy_parse(y, strlen(y), "b.yaml", &p, err, sizeof(err)), 0);
		CHECK_STR(p.backend.name, "dpdk");
		CHECK_EQ(p.backend.workers, 2);
		CHECK_STR(p.backend.opts, "pci=0000:03:00.0,vdev=net_tap0,vdev=net_pcap0;rx_pcap="
			  "a.pcap;infinite_rx=1,lcores=0;2,mem=512,nohuge,rxd=2048,csum=off,eal=--iova-mode=va "
			  "--log-level=pmd.net.tap:8");
		CHECK_EQ(p.backend.line_no, 3u);
		lg_policy_free(&p);
		static const char a[] = "version: 1\nbackend: {name: afxdp, afxdp: {frames: 4096, "
					"busy_poll_us: 50, checksum: true}}\n";

		CHECK_EQ(lg_policy_parse(a, strlen(a), "b.yaml", &p, err, sizeof(err)), 0);
		CHECK_STR(p.backend.opts, "frames=4096,busy_poll=50,csum=on");
		lg_policy_free(&p);
	}

	expect_error("version: 1\ndevices: [\n", "t.yaml:3:1:", "");
	expect_error("devices: []\n", "t.yaml:1:1:", "needs 'version: 1'");
	expect_error("version: 2\n", "t.yaml:1:10:", "between 1 and 1");
	expect_error("version: 1\nprot: 5\n", "t.yaml:2:1:", "unknown top-level key 'prot'");
	expect_error("version: 1\nport: 70000\n", "t.yaml:2:7:", "between 1 and 65535");
	expect_error("version: 1\nport: -1\n", "t.yaml:2:7:", "whole number");
	expect_error("version: 1\ndetection:\n  window: 4\n", "t.yaml:3:11:", "between 8");
	expect_error("version: 1\ndetection:\n  windw: 4\n", "t.yaml:3:3:", "unknown detection field");
	expect_error("version: 1\ndevices:\n  - id: 0\n", "t.yaml:3:9:", "'id' is 0");
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.300\n", "t.yaml:4:13:",
		     "IPv4 or IPv6");
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n", "t.yaml:3:5:",
		     "needs 'keys'");
	expect_error("version: 1\ndevices:\n  - id: 1\n    keys: [{id: 1, key_file: k1.key}]\n",
		     "t.yaml:3:5:", "bound 'source'");
	/* Keys live in key files, never inline (tests/fixtures/policy/bad has the rest). */
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: "
		     KEY1 "}]\n", "t.yaml:5:20:", "inline 'key' is not accepted");
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1}]\n",
		     "t.yaml:5:12:", "needs both 'id' and 'key_file'");
	/* A non-hex digit last, and one in the middle: libsodium stops there, the rest counts. */
	{
		static const char *const bad[] = {
			"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
			"000102030405060708090a0b0c0d0e0f1011121314x5161718191a1b1c1d1e1f",
		};

		for (int i = 0; i < 3; i++) {
			int fd;

			snprintf(path, sizeof(path), "%s/bad.key", keys.dir);
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			CHECK(fd >= 0 && write(fd, bad[i], 64) == 64);
			close(fd);
			expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: "
				     "[{id: 1, key_file: bad.key}]\n", "t.yaml:5:30:",
				     "must hold hex digits only");
			unlink(path);
		}
	}
	/* The mode is checked on the file a symlink names; 0400 is as good as 0600. */
	{
		char link[256];

		snprintf(path, sizeof(path), "%s/k1.key", keys.dir);
		snprintf(link, sizeof(link), "%s/link.key", keys.dir);
		CHECK(!symlink(path, link));
		CHECK(!chmod(path, 0640));
		expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: "
			     "[{id: 1, key_file: link.key}]\n", "t.yaml:5:30:", "has mode 0640");
		CHECK(!chmod(path, 0400));
		CHECK_EQ(lg_policy_parse("version: 1\n" DEV, strlen("version: 1\n" DEV), keys.policy,
					 &p, err, sizeof(err)), 0);
		lg_policy_free(&p);
		CHECK(!chmod(path, 0600));
		unlink(link);
	}
	/* Owned by someone else (who could read and replace it): refused, when we can make
	 * one (root); a file of our own uid is what every other case here uses. */
	if (!geteuid()) {
		snprintf(path, sizeof(path), "%s/k1.key", keys.dir);
		CHECK(!chown(path, 65534, 65534));
		expect_error("version: 1\n" DEV, "t.yaml:", "is owned by uid 65534");
		/* The hint fits daemons that run as a user of their own: check as that user
		 * (the file's owner), or give the file to it; never "chown root", which would
		 * lock them out of it (re-check trial 12). */
		{
			struct lg_policy p2;
			struct passwd *pw = getpwuid(65534);
			char e2[1024] = "", want[128];

			CHECK(lg_policy_parse("version: 1\n" DEV, strlen("version: 1\n" DEV),
					      keys.policy, &p2, e2, sizeof(e2)) < 0);
			snprintf(want, sizeof(want), "(runuser -u USER -- %s ..., USER most likely %s)",
				 program_invocation_short_name, pw ? pw->pw_name : "NAME");
			CHECK_STR_CONTAINS(e2, want);
			CHECK_STR_CONTAINS(e2, "the file must be that user's (chown USER ");
			CHECK(!strstr(e2, "chown root"));
		}
		CHECK(!chown(path, 0, 0));
	}
	/* The fingerprint: the first 8 hex digits of SHA-256 of the key bytes. */
	{
		uint8_t k[LG_KEY_LEN];
		char fp[LG_KEY_FP_LEN + 1];

		for (int i = 0; i < LG_KEY_LEN; i++)
			k[i] = (uint8_t)i;
		lg_key_fingerprint(k, LG_KEY_LEN, fp);
		/* python3 -c "import hashlib; print(hashlib.sha256(bytes(range(32))).hexdigest()[:8])" */
		CHECK(!strcmp(fp, "630dcd29"));
	}
	/* A UADP group key's fingerprint covers the whole key file (SigningKey | EncryptingKey |
	 * KeyNonce): another EncryptingKey is another key (tests/fixtures/opcua/keys/k128-1). */
	{
		struct lg_policy_key k = { .enc_len = 16 };
		char fp[LG_KEY_FP_LEN + 1], fp2[LG_KEY_FP_LEN + 1];

		for (int i = 0; i < LG_KEY_LEN; i++)
			k.bytes[i] = (uint8_t)(0xa0 + i);
		for (int i = 0; i < 16; i++)
			k.enc[i] = (uint8_t)(0x10 + i);
		memcpy(k.key_nonce, "\xc1\xc2\xc3\xc4", 4);
		lg_policy_key_fingerprint(&k, fp);
		/* python3 -c "import hashlib; print(hashlib.sha256(bytes.fromhex(
		 *   open('tests/fixtures/opcua/keys/k128-1.key').read())).hexdigest()[:8])" */
		CHECK(!strcmp(fp, "e274dbaa"));
		k.enc[15] ^= 1;
		lg_policy_key_fingerprint(&k, fp2);
		CHECK(strcmp(fp, fp2));
	}
	expect_error("version: 1\nmodels:\n  trusted_keys: ["
		     "000102030405060708090a0b0c0d0e0fx01112131415161718191a1b1c1d1e1f]\n",
		     "t.yaml:3:18:", "hex digits only");
	expect_error("version: 1\nworkers:\n  cores: []\n", "t.yaml:3:10:", "lists no core");
	expect_error("version: 1\nworkers:\n  cpus: [1]\n", "t.yaml:3:3:", "unknown workers field");
	expect_error("version: 1\nworkers:\n  cores: [1, 5000]\n", "t.yaml:3:14:", "between 0 and 1023");
	{
		char text[128];
		cpu_set_t set;
		int absent = -1;

		/* A core that exists in the range but not for this process. */
		if (!sched_getaffinity(0, sizeof(set), &set))
			for (int i = 1023; i >= 0 && absent < 0; i--)
				if (!CPU_ISSET(i, &set))
					absent = i;
		snprintf(text, sizeof(text), "version: 1\nworkers:\n  cores: [%d]\n", absent);
		if (absent >= 0)
			expect_error(text, "t.yaml:3:11:", "is not one this machine lets linegate run on");
	}
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, "
		     "key_file: k1.key}, {id: 1, key_file: k2.key}]\n", "t.yaml:5:", "two keys with id 1");
	expect_error("version: 1\n" DEV "  - id: 1\n    source: 10.0.0.2\n    keys: [{id: 1, "
		     "key_file: k1.key}]\n", "t.yaml:6:5:", "enrolled twice");
	/* an IPv4 device written as IPv4-mapped IPv6: no frame carries it (trial K, s21) */
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: \"::ffff:10.82.0.2\"\n    keys: "
		     "[{id: 1, key_file: k1.key}]\n", "t.yaml:4:13:", "IPv4 frames carry it as 10.82.0.2");
	expect_error("version: 1\ndevices:\n  - id: 1\n    name: \"a\\\"b\"\n", "t.yaml:4:11:",
		     "letters, digits");
	expect_error("version: 1\ndevices:\n  - id: 1\n    colour: red\n", "t.yaml:4:5:",
		     "unknown device field 'colour'");
	expect_error("version: 1\ndevices:\n  - id: 1\n    score: no\n", "t.yaml:4:12:",
		     "'score' must be true or false");
	expect_error("version: 1\ndevices:\n  - id: 1\n    scor: false\n", "t.yaml:4:5:",
		     "did you mean 'score'?");
	expect_error("- 1\n", "t.yaml:1:1:", "must be a mapping");
	expect_error("version: 1\nnot_ours: maybe\n", "t.yaml:2:11:", "pass or drop");
	expect_error("version: 1\ndevices:\n  - id: 1\n    group: presses\n", "t.yaml:4:12:",
		     "group 'presses' is not defined");
	expect_error("version: 1\ngroups:\n  a: {audit: yes}\n", "t.yaml:3:14:", "true or false");
	/* Any repeated key, a group's name too, before YAML drops the first. */
	expect_error("version: 1\ngroups:\n  a: {audit: true}\n  a: {}\n", "t.yaml:4:3:",
		     "key 'a' is given twice in one mapping (first on line 3)");
	expect_error("version: 1\ndevices:\n  - id: 1\n    mac: 02:00:00:00:00\n", "t.yaml:4:10:",
		     "'mac' must look like");
	expect_error("version: 1\ndevices:\n  - id: 1\n    mac: 02:00:00:00:00:01:02\n", "t.yaml:4:10:",
		     "'mac' must look like");
	expect_error("version: 1\n" DEV "    burst: 5\n", "t.yaml:3:5:", "'burst' but no 'rate'");

	/* A relative path that only becomes too long once joined to the policy's folder
	 * (found by fuzz_policy): the error still says where. */
	{
		char text[700];

		snprintf(text, sizeof(text), "version: 1\noutput:\n  jsonl: %0510d\n", 7);
		expect_error(text, "t.yaml:3:10:", "'jsonl' is longer than 511 characters");
		snprintf(text, sizeof(text), "version: 1\ndetection:\n  model: /%0510d\n", 7);
		CHECK_EQ(lg_policy_parse(text, strlen(text), keys.policy, &p, err, sizeof(err)), 0);
		CHECK_EQ(strlen(p.model), 511);
		lg_policy_free(&p);
		snprintf(text, sizeof(text), "version: 1\ndetection:\n  model: /%0511d\n", 7);
		expect_error(text, "t.yaml:3:10:", "'model' is longer than 511 characters");
	}

	/* Admission fields; groups may stand after the devices that name them. */
	{
		static const char adm[] = "version: 1\nnot_ours: drop\n" DEV
			"    mac: 02:0a:0B:00:00:ff\n    rate: 1000\n    group: presses\n"
			"  - id: 2\n    source: 10.0.0.2\n    rate: 5\n    burst: 2\n"
			"    keys: [{id: 1, key_file: k2.key}]\n"
			"groups:\n  presses: {audit: true}\n  pumps: {audit: false}\n";

		CHECK_EQ(lg_policy_parse(adm, strlen(adm), keys.policy, &p, err, sizeof(err)), 0);
		CHECK_EQ(p.not_ours, LG_ADMIT_NOT_OURS_DROP);
		CHECK_EQ(p.ngroups, 2);
		CHECK(p.groups[0].audit && !p.groups[1].audit && !strcmp(p.groups[1].name, "pumps"));
		d = lg_policy_find(&p, 1);
		CHECK(d && d->has_mac && d->mac[1] == 0x0a && d->mac[2] == 0x0b && d->mac[5] == 0xff);
		CHECK(d && d->rate == 1000 && d->burst == 100 && d->group == 1);
		d = lg_policy_find(&p, 2);
		CHECK(d && !d->has_mac && d->rate == 5 && d->burst == 2 && d->group == 0);
		lg_policy_free(&p);
	}

	/* Relative paths are resolved against the policy file's folder, key files too. */
	{
		static const char nodev[] = "version: 1\ndetection:\n  model: models/m.json\n"
					    "output:\n  jsonl: out.jsonl\n";

		CHECK_EQ(lg_policy_parse(nodev, strlen(nodev), "/etc/lg/p.yaml", &p, err, sizeof(err)),
			 0);
		CHECK(!strcmp(p.model, "/etc/lg/models/m.json"));
		CHECK(!strcmp(p.jsonl, "/etc/lg/out.jsonl"));
		lg_policy_free(&p);
		CHECK_EQ(lg_policy_parse(nodev, strlen(nodev), "/p.yaml", &p, err, sizeof(err)), 0);
		CHECK(!strcmp(p.model, "//models/m.json") || !strcmp(p.model, "/models/m.json"));
		lg_policy_free(&p);
		/* Under another name, the same text finds no key file, and says which. */
		CHECK_EQ(lg_policy_parse("version: 1\n" DEV, strlen("version: 1\n" DEV), "elsewhere.yaml",
					 &p, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, "elsewhere.yaml:5:30: key file ./k1.key: No such file");
	}
	{
		FILE *f;

		snprintf(path, sizeof(path), "%s/t.yaml", keys.dir);
		f = fopen(path, "w");
		fputs(good, f);
		fclose(f);
		CHECK_EQ(lg_policy_load(path, &p, err, sizeof(err)), 0);
		CHECK_EQ(p.ndevices, 2);
		lg_policy_free(&p);
		remove(path);
		CHECK(lg_policy_load("/nonexistent.yaml", &p, err, sizeof(err)) < 0);
		CHECK_STR_CONTAINS(err, "/nonexistent.yaml");
	}
	/* Issue 12: metadata, a group's filling in what a device leaves out, tags merged by
	 * key (the device's first); output.influx with its defaults and a token file. */
	{
		static const char meta[] =
			"version: 1\n"
			"groups:\n"
			"  g: {meta: {line: L1, station: 'a b', units: g, tags: {plant: n, shift: a}}}\n"
			"output:\n"
			"  influx: {url: 'http://127.0.0.1:8086/api/v2/write', bucket: b, org: o,\n"
			"           token_file: k1.key, features: [rms, order1]}\n"
			"devices:\n"
			"  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n"
			"    meta: {asset: 'x \"1\"', units: mm/s, tags: {shift: b}}\n"
			"    group: g\n"
			"  - id: 2\n    source: 10.0.0.1\n    keys: [{id: 1, key_file: k1.key}]\n";

		CHECK_EQ(lg_policy_parse(meta, strlen(meta), keys.policy, &p, err, sizeof(err)), 0);
		if (p.ndevices == 2) {
			const struct lg_policy_meta *m = &p.devices[0].meta;

			CHECK(!strcmp(m->line, "L1") && !strcmp(m->station, "a b"));
			CHECK(!strcmp(m->asset, "x \"1\"") && !strcmp(m->units, "mm/s"));
			CHECK(!m->sensor[0]);
			CHECK_EQ(m->ntags, 2);
			CHECK(!strcmp(m->tags[0].key, "shift") && !strcmp(m->tags[0].value, "b"));
			CHECK(!strcmp(m->tags[1].key, "plant") && !strcmp(m->tags[1].value, "n"));
			CHECK(!p.devices[1].meta.line[0] && !p.devices[1].meta.ntags);
			CHECK(!strcmp(p.influx.bucket, "b") && !strcmp(p.influx.org, "o"));
			CHECK_EQ(strlen(p.influx.token), 64); /* the key file's 64 hex digits */
			CHECK_EQ(p.influx.features, 1u << LG_FEAT_RMS | 1u << LG_FEAT_ORDER1);
			CHECK(!strcmp(p.influx.prefix, "linegate") && p.influx.scores);
			CHECK_EQ(p.influx.decimation, 1);
			CHECK_EQ(p.influx.batch_lines, 1000);
			CHECK_EQ(p.influx.max_buffer_lines, 100000);
		}
		lg_policy_free(&p);
	}
	lgt_keys_remove(&keys, key_files);
	return lgt_done("test_policy");
}
