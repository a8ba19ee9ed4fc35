// SPDX-License-Identifier: MIT
/* lg_policy_diff: exact change lists between two policies, classes from the one table, keys
 * by fingerprint only. */
#include <linegate/policy.h>
#include <linegate/policy_diff.h>

#include <errno.h>
#include <stdlib.h>

#include "../lgtest.h"
#include "../lgt_cli.h"
#include "../lgt_keys.h"

#define CHECK_STR_EQ(a, b)                                                               \
	do {                                                                             \
		lgt_checks++;                                                            \
		if (strcmp((a), (b))) {                                                  \
			lgt_failures++;                                                  \
			fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__, (a), (b)); \
		}                                                                        \
	} while (0)

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

#define HEAD(port, window, model, jsonl)                                                    \
	"version: 1\nport: " port "\ndetection:\n  window: " window "\n  batch: 16\n"       \
	"  deadline_ms: 50\n  model: " model "\noutput:\n  jsonl: " jsonl "\n"

static const char base[] = HEAD("4739", "256", "/m/a.json", "/o/a.jsonl")
	"devices:\n"
	"  - {id: 101, name: press-1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
	"  - {id: 102, name: press-2, source: 10.0.0.2, keys: [{id: 1, key_file: k1.key}]}\n"
	"  - {id: 104, name: pump-1, source: 10.0.0.4, keys: [{id: 1, key_file: k1.key}]}\n";

/* 101 gone, 102 rate and a second key with an expiry, 103 new, 104 unchanged; window, model
 * and output changed (live), port changed (start-only). */
static const char next[] = HEAD("4740", "512", "/m/b.json", "/o/b.jsonl")
	"devices:\n"
	"  - {id: 102, name: press-2, source: 10.0.0.2, rate: 100, burst: 10,\n"
	"     keys: [{id: 1, key_file: k1.key, expires: 2026-12-04T18:00:00Z},\n"
	"            {id: 2, key_file: k2.key}]}\n"
	"  - {id: 103, name: fan-1, source: 10.0.0.3, keys: [{id: 2, key_file: k2.key}]}\n"
	"  - {id: 104, name: pump-1, source: 10.0.0.4, keys: [{id: 1, key_file: k1.key}]}\n";

static const char *const key_files[] = { "k1", KEY1, "k2", KEY2, NULL };
static struct lgt_keys keys;

static void parse(const char *text, struct lg_policy *p)
{
	char err[512] = "";
	int ret = lg_policy_parse(text, strlen(text), keys.policy, p, err, sizeof(err));

	if (ret)
		fprintf(stderr, "%s\n", err);
	CHECK_EQ(ret, 0);
}

struct want {
	enum lg_change_kind kind;
	enum lg_field_class cls;
	uint32_t device;
	const char *field, *old, *new;
};

static void check_change(const struct lg_policy_change *c, const struct want *w)
{
	CHECK_EQ(c->kind, w->kind);
	CHECK_EQ(c->cls, w->cls);
	CHECK_EQ(c->device, w->device);
	CHECK_STR_EQ(c->field, w->field);
	CHECK_STR_EQ(c->old, w->old);
	CHECK_STR_EQ(c->new, w->new);
}

static const char usage[] =
	"Usage: test_policy_diff\n"
	"\n"
	"lg_policy_diff() between two policies: the exact list of changes (settings, devices\n"
	"added, removed and changed field by field, keys by fingerprint), the class of each\n"
	"field (live or start-only), the JSON rendering, and that no key byte is in any of it.\n"
	"\n" LGT_EXIT_STATUS;

int main(int argc, char **argv)
{
	struct lg_policy a, b;
	struct lg_policy_diff d;
	char fp1[9], fp2[9];
	uint8_t k1[32], k2[32];

	lgt_cli(argc, argv, usage, 0, 0);
	lgt_keys_make(&keys, key_files);

	for (int i = 0; i < 32; i++) {
		k1[i] = (uint8_t)i;
		k2[i] = 0x5a;
	}
	lg_key_fingerprint(k1, LG_KEY_LEN, fp1);
	lg_key_fingerprint(k2, LG_KEY_LEN, fp2);
	/* sha256(00 01 .. 1f) = 630dcd29..., sha256(5a x 32) starts with its own 8 digits */
	CHECK_STR_EQ(fp1, "630dcd29");
	CHECK_EQ(strlen(fp2), 8u);

	parse(base, &a);
	parse(next, &b);

	/* Nothing changed: an empty list. */
	CHECK_EQ(lg_policy_diff(&a, &a, &d), 0);
	CHECK_EQ(d.n, 0u);
	CHECK(lg_policy_diff_start_only(&d) == NULL);
	lg_policy_diff_free(&d);

	CHECK_EQ(lg_policy_diff(&a, &b, &d), 0);
	{
		char k102_old[64], k102_new[96], k101[96], k103[96];

		snprintf(k101, sizeof(k101), "press-1 10.0.0.1 keys 1:%s", fp1);
		snprintf(k102_old, sizeof(k102_old), "1:%s", fp1);
		snprintf(k102_new, sizeof(k102_new), "1:%s expires 2026-12-04T18:00:00Z,2:%s", fp1,
			 fp2);
		snprintf(k103, sizeof(k103), "fan-1 10.0.0.3 keys 2:%s", fp2);
		const struct want w[] = {
			{ LG_CHANGE_SETTING, LG_FIELD_START_ONLY, 0, "port", "4739", "4740" },
			{ LG_CHANGE_SETTING, LG_FIELD_LIVE, 0, "detection.window", "256", "512" },
			{ LG_CHANGE_SETTING, LG_FIELD_LIVE, 0, "detection.model", "/m/a.json",
			  "/m/b.json" },
			{ LG_CHANGE_SETTING, LG_FIELD_LIVE, 0, "output.jsonl", "/o/a.jsonl",
			  "/o/b.jsonl" },
			{ LG_CHANGE_DEVICE_REMOVED, LG_FIELD_LIVE, 101, "", k101, "" },
			{ LG_CHANGE_DEVICE_FIELD, LG_FIELD_LIVE, 102, "rate", "0", "100" },
			{ LG_CHANGE_DEVICE_FIELD, LG_FIELD_LIVE, 102, "burst", "0", "10" },
			{ LG_CHANGE_DEVICE_FIELD, LG_FIELD_LIVE, 102, "keys", k102_old, k102_new },
			{ LG_CHANGE_DEVICE_ADDED, LG_FIELD_LIVE, 103, "", "", k103 },
		};

		CHECK_EQ(d.n, sizeof(w) / sizeof(w[0]));
		for (size_t i = 0; i < d.n && i < sizeof(w) / sizeof(w[0]); i++)
			check_change(&d.c[i], &w[i]);
	}
	/* The first start-only change names the field that refuses the apply. */
	CHECK(lg_policy_diff_start_only(&d) == &d.c[0]);
	{
		char *j = lg_policy_diff_json(&d), want[1024];

		snprintf(want, sizeof(want),
			 "{\"device\":101,\"change\":\"removed\",\"class\":\"live\","
			 "\"old\":\"press-1 10.0.0.1 keys 1:%s\"}", fp1);
		CHECK(j != NULL);
		CHECK_STR_CONTAINS(j, "[{\"field\":\"port\",\"class\":\"start-only\","
				      "\"old\":\"4739\",\"new\":\"4740\"},"
				      "{\"field\":\"detection.window\"");
		CHECK_STR_CONTAINS(j, want);
		CHECK_STR_CONTAINS(j, "{\"device\":102,\"change\":\"changed\",\"field\":\"rate\","
				      "\"class\":\"live\",\"old\":\"0\",\"new\":\"100\"}");
		/* No key byte in any output, in hex or otherwise. */
		CHECK(!strstr(j, KEY1) && !strstr(j, KEY2) && !strstr(j, "0001020304"));
		free(j);
	}
	lg_policy_diff_free(&d);

	/* One file spelled two ways (relative to the policy, and absolute through "./") is one
	 * model: no change, so an apply does not load it again (a new-user trial saw
	 * "detection.model: etc/model.json -> /tmp/trial/etc/model.json" and a reload). */
	{
		char t1[512], t2[512];
		struct lg_policy r1, r2;

		snprintf(t1, sizeof(t1), HEAD("4739", "256", "%s", "%s"), "k1.key", "out.jsonl");
		snprintf(t2, sizeof(t2), HEAD("4739", "256", "%s/./k1.key", "%s/out.jsonl"),
			 keys.dir, keys.dir);
		parse(t1, &r1);
		parse(t2, &r2);
		CHECK(strcmp(r1.model, r2.model) != 0); /* each keeps the spelling it was given */
		CHECK_EQ(lg_policy_diff(&r1, &r2, &d), 0);
		CHECK_EQ(d.n, 0u);
		lg_policy_diff_free(&d);
		lg_policy_free(&r1);
		lg_policy_free(&r2);
	}
	/* The same for a folder that does not exist yet (the recording's, made at its start):
	 * "rec", "./rec/" and its absolute path are one folder (s24 LOW: an apply between them
	 * showed "recording: ... dir=X/rec -> ... dir=X/./rec/"); another name is a change. */
	{
		static const char *const same[] = { "rec", "./rec/", "%s/rec", "%s//./rec" };
		char t[3][768], dirs[2][256];
		struct lg_policy r[3];

		for (unsigned i = 0; i < 4; i++) {
			snprintf(dirs[0], sizeof(dirs[0]), same[i], keys.dir);
			snprintf(t[0], sizeof(t[0]), "%srecording:\n  dir: %s\n", base, "rec");
			snprintf(t[1], sizeof(t[1]), "%srecording:\n  dir: %s\n", base, dirs[0]);
			parse(t[0], &r[0]);
			parse(t[1], &r[1]);
			CHECK_EQ(lg_policy_diff(&r[0], &r[1], &d), 0);
			CHECK_EQ(d.n, 0u);
			if (d.n)
				fprintf(stderr, "dir: %s made a change\n", dirs[0]);
			lg_policy_diff_free(&d);
			lg_policy_free(&r[0]);
			lg_policy_free(&r[1]);
		}
		snprintf(dirs[1], sizeof(dirs[1]), "%s/rec2", keys.dir);
		snprintf(t[2], sizeof(t[2]), "%srecording:\n  dir: %s\n", base, dirs[1]);
		snprintf(t[0], sizeof(t[0]), "%srecording:\n  dir: rec\n", base);
		parse(t[0], &r[0]);
		parse(t[2], &r[2]);
		CHECK_EQ(lg_policy_diff(&r[0], &r[2], &d), 0);
		CHECK_EQ(d.n, 1u);
		lg_policy_diff_free(&d);
		lg_policy_free(&r[0]);
		lg_policy_free(&r[2]);
	}

	/* fragments, and a UADP identity from a PublisherId to the source address and a
	 * position: both live, shown as an operator wrote them. */
	{
		static const char f1[] =
			"version: 1\nuadp_port: 4840\n"
			"devices:\n"
			"  - {id: 7, name: iop, source: 10.0.0.7, keys: [{id: 1, key_file: k1.key}],\n"
			"     uadp: {publisher_id: 2234, writer_group: 100, writer: 1}}\n";
		static const char f2[] =
			"version: 1\nuadp_port: 4840\nfragments: reassemble\n"
			"devices:\n"
			"  - {id: 7, name: iop, source: 10.0.0.7, keys: [{id: 1, key_file: k1.key}],\n"
			"     uadp: {writer_position: 2}}\n";
		struct lg_policy r1, r2;
		char *j;

		parse(f1, &r1);
		parse(f2, &r2);
		CHECK_EQ(lg_policy_diff(&r1, &r2, &d), 0);
		CHECK_EQ(d.n, 2u);
		CHECK(lg_policy_diff_start_only(&d) == NULL);
		j = lg_policy_diff_json(&d);
		CHECK(j != NULL);
		if (j) {
			CHECK_STR_CONTAINS(j, "{\"field\":\"fragments\",\"class\":\"live\","
					      "\"old\":\"drop\",\"new\":\"reassemble\"}");
			CHECK_STR_CONTAINS(j, "\"old\":\"publisher 2234 writer_group 100 writer 1\","
					      "\"new\":\"publisher (source) writer_group 0 "
					      "writer_position 2\"");
			free(j);
		}
		lg_policy_diff_free(&d);
		lg_policy_free(&r1);
		lg_policy_free(&r2);
	}

	/* UADP fields: names to a RawData layout, and one array length changed, are each one
	 * device field change, shown with the types and lengths. */
	{
		static const char head[] =
			"version: 1\nuadp_port: 4840\n"
			"devices:\n"
			"  - {id: 7, name: raw, source: 10.0.0.7, keys: [{id: 1, key_file: k1.key}],\n"
			"     uadp: {publisher_id: 4242, writer_group: 7, writer: 17, fields: ";
		char f1[512], f2[512], f3[512];
		struct lg_policy r1, r2, r3;
		char *j;

		snprintf(f1, sizeof(f1), "%s[t, ax]}}\n", head);
		snprintf(f2, sizeof(f2), "%s[{name: t, type: DateTime}, {name: ax, type: Float, "
			 "array: 64}]}}\n", head);
		snprintf(f3, sizeof(f3), "%s[{name: t, type: DateTime}, {name: ax, type: Float, "
			 "array: 63}]}}\n", head);
		parse(f1, &r1);
		parse(f2, &r2);
		parse(f3, &r3);
		CHECK_EQ(lg_policy_diff(&r1, &r2, &d), 0);
		CHECK_EQ(d.n, 1u);
		CHECK(lg_policy_diff_start_only(&d) == NULL);
		j = lg_policy_diff_json(&d);
		CHECK(j != NULL);
		if (j) {
			CHECK_STR_CONTAINS(j, "{\"device\":7,\"change\":\"changed\",\"field\":\"fields\","
					      "\"class\":\"live\",\"old\":\"t,ax\","
					      "\"new\":\"t:DateTime,ax:Float[64]\"}");
			free(j);
		}
		lg_policy_diff_free(&d);
		CHECK_EQ(lg_policy_diff(&r2, &r3, &d), 0);
		CHECK_EQ(d.n, 1u);
		CHECK(d.n == 1 && !strcmp(d.c[0].field, "fields") &&
		      !strcmp(d.c[0].new, "t:DateTime,ax:Float[63]"));
		lg_policy_diff_free(&d);
		CHECK_EQ(lg_policy_diff(&r2, &r2, &d), 0);
		CHECK_EQ(d.n, 0u);
		lg_policy_diff_free(&d);
		lg_policy_free(&r1);
		lg_policy_free(&r2);
		lg_policy_free(&r3);
	}

	/* detection.drift: one live field, shown as its settings. */
	{
		static const char f1[] = "version: 1\n";
		static const char f2[] = "version: 1\ndetection:\n  drift: {psi_windows: 2000}\n";
		static const char f3[] = "version: 1\ndetection:\n  drift: {enabled: false}\n";
		struct lg_policy r1, r2, r3;
		char *j;

		parse(f1, &r1);
		parse(f2, &r2);
		parse(f3, &r3);
		CHECK_EQ(lg_policy_diff(&r1, &r2, &d), 0);
		CHECK_EQ(d.n, 1u);
		CHECK(lg_policy_diff_start_only(&d) == NULL);
		j = lg_policy_diff_json(&d);
		CHECK(j != NULL);
		if (j) {
			CHECK_STR_CONTAINS(j, "{\"field\":\"detection.drift\",\"class\":\"live\","
					      "\"old\":\"psi 1000 windows > 0.25, page-hinkley "
					      "delta 0.5 lambda 50\",\"new\":\"psi 2000 windows > "
					      "0.25, page-hinkley delta 0.5 lambda 50\"}");
			free(j);
		}
		lg_policy_diff_free(&d);
		CHECK_EQ(lg_policy_diff(&r1, &r3, &d), 0);
		j = lg_policy_diff_json(&d);
		if (j) {
			CHECK_STR_CONTAINS(j, "\"new\":\"off\"");
			free(j);
		}
		lg_policy_diff_free(&d);
		lg_policy_free(&r1);
		lg_policy_free(&r2);
		lg_policy_free(&r3);
	}

	/* The table: decision 1's classes. */
	CHECK_EQ(lg_policy_field_class("port"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("uadp_port"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("version"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("models.registry"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.mqtt.host"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("opcua_mqtt.topics"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("opcua_mqtt.password_file"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.urls"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.score_every"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.nkey_file"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.creds_file"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.features"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.nats.feature_every"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("detection.window"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("detection.model"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("models.trusted_keys"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("output.jsonl"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("workers.cores"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("fragments"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("vlans"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("detection.bad_samples"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("detection.gemm"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("detection.incidents"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("recording"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("detection.drift"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("output.influx.url"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("backend"), LG_FIELD_START_ONLY);
	CHECK_EQ(lg_policy_field_class("output.jsonl.max_bytes"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("output.jsonl.keep"), LG_FIELD_LIVE);
	CHECK_EQ(lg_policy_field_class("no.such"), -ENOENT);
	{
		size_t n = 0;

		while (lg_policy_field_at(n))
			n++;
		/* 33 + bad_samples, incidents, recording, drift + 12 of output.nats + 17 of
		 * output.mqtt (issue 12: protocol, username, password_file, tls x3, qos_* x3 new,
		 * retain_* x5, device_offline_seconds, outbox x2) + backend + output.jsonl.max_bytes
		 * and keep + 15 of output.influx; issue 13: output.nats.nkey_file, creds_file,
		 * features, feature_every; issue 14: detection.gemm; s18: vlans */
		CHECK_EQ(n, 88u);
	}
	/* Issue 12: a new InfluxDB token shows as a start-only change, by fingerprint only; a
	 * device's meta (its group's filled in) as a live one. */
	{
		static const char ix1[] =
			"version: 1\noutput:\n  influx: {url: 'http://h:8086/api/v2/write', bucket: b, "
			"org: o, token_file: k1.key}\ngroups: {g: {meta: {line: L1}}}\n"
			"devices:\n  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}], "
			"group: g}\n";
		static const char ix2[] =
			"version: 1\noutput:\n  influx: {url: 'http://h:8086/api/v2/write', bucket: b, "
			"org: o, token_file: k2.key}\ngroups: {g: {meta: {line: L2}}}\n"
			"devices:\n  - {id: 1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}], "
			"group: g, meta: {asset: a1}}\n";
		struct lg_policy x, y;
		const struct lg_policy_change *c;
		char *j;

		parse(ix1, &x);
		parse(ix2, &y);
		CHECK_EQ(lg_policy_diff(&x, &y, &d), 0);
		CHECK_EQ(d.n, 2u);
		c = lg_policy_diff_start_only(&d);
		CHECK(c && !strcmp(c->field, "output.influx.token_file"));
		j = lg_policy_diff_json(&d);
		CHECK(j != NULL);
		if (j) {
			/* Whatever a token file holds, its fingerprint is 8 hex digits. */
			CHECK_STR_CONTAINS(j, "{\"field\":\"output.influx.token_file\","
					      "\"class\":\"start-only\",\"old\":\"(set, ");
			CHECK(!strstr(j, KEY1) && !strstr(j, KEY2));
			CHECK_STR_CONTAINS(j, "{\"device\":1,\"change\":\"changed\",\"field\":"
					      "\"meta\",\"class\":\"live\",\"old\":\"line=L1\","
					      "\"new\":\"line=L2 asset=a1\"}");
			free(j);
		}
		lg_policy_diff_free(&d);
		lg_policy_free(&x);
		lg_policy_free(&y);
	}
	/* expires parsed as UTC. */
	CHECK_EQ(lg_policy_find(&b, 102)->keys[0].expires, 1796407200);
	CHECK_EQ(lg_policy_find(&b, 102)->keys[1].expires, 0);

	{
		/* output.jsonl as a mapping: the path the same, rotation two live rows; keep
		 * defaults to 5. */
		static const char rot[] = HEAD("4739", "256", "/m/a.json",
					       "{path: /o/a.jsonl, max_bytes: 65536, keep: 3}")
			"devices:\n"
			"  - {id: 101, name: press-1, source: 10.0.0.1, keys: [{id: 1, key_file: k1.key}]}\n"
			"  - {id: 102, name: press-2, source: 10.0.0.2, keys: [{id: 1, key_file: k1.key}]}\n"
			"  - {id: 104, name: pump-1, source: 10.0.0.4, keys: [{id: 1, key_file: k1.key}]}\n";
		static const char rot5[] = HEAD("4739", "256", "/m/a.json",
						"{path: /o/a.jsonl, max_bytes: 8192}")
			"devices: []\n";
		const struct want w[] = {
			{ LG_CHANGE_SETTING, LG_FIELD_LIVE, 0, "output.jsonl.max_bytes", "0",
			  "65536" },
			{ LG_CHANGE_SETTING, LG_FIELD_LIVE, 0, "output.jsonl.keep", "0", "3" },
		};
		struct lg_policy r, r5;
		struct lg_policy_diff dr;

		parse(rot, &r);
		parse(rot5, &r5);
		CHECK_STR_EQ(r.jsonl, "/o/a.jsonl");
		CHECK_EQ(r.jsonl_max_bytes, 65536u);
		CHECK_EQ(r.jsonl_keep, 3u);
		CHECK_EQ(r5.jsonl_keep, 5u);
		CHECK_EQ(lg_policy_diff(&a, &r, &dr), 0);
		CHECK_EQ(dr.n, 2u);
		for (size_t i = 0; i < dr.n && i < 2; i++)
			check_change(&dr.c[i], &w[i]);
		CHECK(lg_policy_diff_start_only(&dr) == NULL);
		lg_policy_diff_free(&dr);
		lg_policy_free(&r);
		lg_policy_free(&r5);
	}
	lg_policy_free(&a);
	lg_policy_free(&b);
	lgt_keys_remove(&keys, key_files);
	return lgt_done("policy_diff");
}
