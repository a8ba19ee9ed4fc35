// SPDX-License-Identifier: MIT
/* Policy parser: a valid policy, and every kind of mistake with its line and column. */
#include <linegate/policy.h>

#include <arpa/inet.h>

#include <sched.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

#define KEY1 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2 "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

static const char good[] =
	"version: 1\n"
	"port: 5000\n"
	"detection:\n"
	"  window: 512\n"
	"  batch: 32\n"
	"  deadline_ms: 20\n"
	"  model: models/m.json\n"
	"  threshold: 12.5\n"
	"output:\n"
	"  jsonl: out.jsonl\n"
	"devices:\n"
	"  - id: 300\n"
	"    name: press-3\n"
	"    source: 10.1.2.3\n"
	"    keys: [{id: 1, key: " KEY1 "}]\n"
	"  - id: 7\n"
	"    source: fd00::7\n"
	"    port: 4000\n"
	"    keys:\n"
	"      - {id: 1, key: " KEY1 "}\n"
	"      - {id: 2, key: " KEY2 "}\n";

static void expect_error(const char *text, const char *where, const char *what)
{
	struct lg_policy p;
	char err[512] = "";
	int ret = lg_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof(err));

	CHECK(ret < 0);
	CHECK_STR_CONTAINS(err, where);
	CHECK_STR_CONTAINS(err, what);
	if (!ret)
		lg_policy_free(&p);
}

#define DEV "devices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: " KEY1 "}]\n"

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

int main(int argc, char **argv)
{
	struct lg_policy p;
	char err[512];
	const struct lg_policy_device *d;

	lgt_cli(argc, argv, usage, 0, 0);
	CHECK_EQ(lg_policy_parse(good, strlen(good), "good.yaml", &p, err, sizeof(err)), 0);
	CHECK_EQ(p.port, 5000);
	CHECK_EQ(p.window, 512);
	CHECK_EQ(p.batch, 32);
	CHECK_EQ(p.deadline_ms, 20);
	CHECK(!strcmp(p.model, "./models/m.json")); /* relative to the policy file */
	CHECK_NEAR(p.threshold, 12.5, 1e-6);
	CHECK(!strcmp(p.jsonl, "./out.jsonl"));
	CHECK_EQ(p.ndevices, 2);
	CHECK_EQ(p.devices[0].id, 7); /* sorted by id */
	d = lg_policy_find(&p, 300);
	CHECK(d && !strcmp(d->name, "press-3") && d->family == AF_INET && d->port == 0);
	CHECK(d && d->addr[0] == 10 && d->addr[3] == 3 && d->nkeys == 1 && d->keys[0].bytes[31] == 0x1f);
	d = lg_policy_find(&p, 7);
	CHECK(d && d->family == AF_INET6 && d->port == 4000 && d->nkeys == 2);
	CHECK(d && !strcmp(d->name, "device-7") && d->keys[1].id == 2 && d->keys[1].bytes[0] == 0x5a);
	CHECK(!lg_policy_find(&p, 8));
	lg_policy_free(&p);

	/* Defaults. */
	CHECK_EQ(lg_policy_parse("version: 1\n", 11, "d.yaml", &p, err, sizeof(err)), 0);
	CHECK_EQ(p.port, 4739);
	CHECK_EQ(p.window, 256);
	CHECK_EQ(p.ndevices, 0);
	lg_policy_free(&p);

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
	expect_error("version: 1\ndevices:\n  - id: 1\n    keys: [{id: 1, key: " KEY1 "}]\n",
		     "t.yaml:3:5:", "bound 'source'");
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: abc}]\n",
		     "t.yaml:5:25:", "64 hex digits");
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: "
		     "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f}]\n",
		     "t.yaml:5:25:", "hex digits only");
	/* A non-hex digit last, and one in the middle: libsodium stops there, the rest counts. */
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: "
		     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g}]\n",
		     "t.yaml:5:25:", "hex digits only");
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
	expect_error("version: 1\ndevices:\n  - id: 1\n    source: 10.0.0.1\n    keys: [{id: 1, key: "
		     KEY1 "}, {id: 1, key: " KEY2 "}]\n", "t.yaml:5:", "two keys with id 1");
	expect_error("version: 1\n" DEV "  - id: 1\n    source: 10.0.0.2\n    keys: [{id: 1, key: "
		     KEY1 "}]\n", "t.yaml:6:5:", "enrolled twice");
	expect_error("version: 1\ndevices:\n  - id: 1\n    name: \"a\\\"b\"\n", "t.yaml:4:11:",
		     "letters, digits");
	expect_error("version: 1\ndevices:\n  - id: 1\n    colour: red\n", "t.yaml:4:5:",
		     "unknown device field 'colour'");
	expect_error("- 1\n", "t.yaml:1:1:", "must be a mapping");
	expect_error("version: 1\nnot_ours: maybe\n", "t.yaml:2:11:", "pass or drop");
	expect_error("version: 1\ndevices:\n  - id: 1\n    group: presses\n", "t.yaml:4:12:",
		     "group 'presses' is not defined");
	expect_error("version: 1\ngroups:\n  a: {audit: yes}\n", "t.yaml:3:14:", "true or false");
	expect_error("version: 1\ngroups:\n  a: {audit: true}\n  a: {}\n", "t.yaml:4:3:",
		     "defined twice");
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
		CHECK_EQ(lg_policy_parse(text, strlen(text), "t.yaml", &p, err, sizeof(err)), 0);
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
			"    keys: [{id: 1, key: " KEY1 "}]\n"
			"groups:\n  presses: {audit: true}\n  pumps: {audit: false}\n";

		CHECK_EQ(lg_policy_parse(adm, strlen(adm), "a.yaml", &p, err, sizeof(err)), 0);
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

	/* Relative paths are resolved against the policy file's folder. */
	CHECK_EQ(lg_policy_parse(good, strlen(good), "/etc/lg/p.yaml", &p, err, sizeof(err)), 0);
	CHECK(!strcmp(p.model, "/etc/lg/models/m.json"));
	CHECK(!strcmp(p.jsonl, "/etc/lg/out.jsonl"));
	lg_policy_free(&p);
	CHECK_EQ(lg_policy_parse(good, strlen(good), "/p.yaml", &p, err, sizeof(err)), 0);
	CHECK(!strcmp(p.model, "//models/m.json") || !strcmp(p.model, "/models/m.json"));
	lg_policy_free(&p);
	{
		FILE *f = fopen("test_policy_tmp.yaml", "w");

		fputs(good, f);
		fclose(f);
		CHECK_EQ(lg_policy_load("test_policy_tmp.yaml", &p, err, sizeof(err)), 0);
		CHECK(!strcmp(p.model, "./models/m.json"));
		lg_policy_free(&p);
		remove("test_policy_tmp.yaml");
		CHECK(lg_policy_load("/nonexistent.yaml", &p, err, sizeof(err)) < 0);
		CHECK_STR_CONTAINS(err, "/nonexistent.yaml");
	}
	return lgt_done("test_policy");
}
