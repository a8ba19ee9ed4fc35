// SPDX-License-Identifier: MIT
/*
 * Test driver for the netns end-to-end test: loads the admission program,
 * attaches it to an interface, applies the devices given on the command line
 * and then answers line commands on stdin:
 *
 *   counters            -> "reason NAME FRAMES AUDITED" per reason, then "end"
 *   device ID           -> "device ID ADMITTED DROPPED AUDITED" or "device ID none"
 *   export ID SEQ       -> "ok" (a worker verified SEQ)
 *   quit                -> detaches and exits
 *
 * usage: admit_e2e_tool IFNAME native|generic [--not-ours=pass] DEVICE...
 *   DEVICE: id=N,mac=AA:BB:CC:DD:EE:FF,ip=ADDR[,port=N][,rate=N,burst=N][,audit][,anymac]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lgadmit.h"

static const char *const names[LG_R_MAX] = {
    "ADMITTED",	 "UNKNOWN_DEVICE", "SPOOFED_SOURCE", "RATE_LIMITED", "REPLAYED",
    "MALFORMED", "NOT_OURS",	   "AUDIT",	     "NO_TABLE",     "STATE_FULL",
};

static int parse_dev(char *s, struct lg_admit_entry *e)
{
	char *tok, *save = NULL;
	unsigned int m[6];

	memset(e, 0, sizeof(*e));
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "id=", 3)) {
			e->device_id = (lg_u32)strtoul(tok + 3, NULL, 0);
		} else if (!strncmp(tok, "mac=", 4)) {
			if (sscanf(tok + 4, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
				   &m[5]) != 6)
				return -EINVAL;
			for (int i = 0; i < 6; i++)
				e->dev.mac[i] = (lg_u8)m[i];
		} else if (!strncmp(tok, "ip=", 3)) {
			if (inet_pton(AF_INET, tok + 3, e->dev.addr) == 1)
				e->dev.family = LG_ADMIT_AF_INET;
			else if (inet_pton(AF_INET6, tok + 3, e->dev.addr) == 1)
				e->dev.family = LG_ADMIT_AF_INET6;
			else
				return -EINVAL;
		} else if (!strncmp(tok, "port=", 5)) {
			e->dev.src_port = (lg_u16)strtoul(tok + 5, NULL, 0);
		} else if (!strncmp(tok, "rate=", 5)) {
			e->dev.rate = (lg_u32)strtoul(tok + 5, NULL, 0);
		} else if (!strncmp(tok, "burst=", 6)) {
			e->dev.burst = (lg_u32)strtoul(tok + 6, NULL, 0);
		} else if (!strcmp(tok, "audit")) {
			e->dev.flags |= LG_ADMIT_DEV_AUDIT;
		} else if (!strcmp(tok, "anymac")) {
			e->dev.flags |= LG_ADMIT_DEV_ANY_MAC;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static int serve(struct lg_admit *a)
{
	struct lg_admit_reason_ctr rc[LG_R_MAX];
	struct lg_admit_dev_ctr dc;
	char line[256];
	unsigned long long seq;
	unsigned int id;
	int r;

	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "counters", 8)) {
			if (lg_admit_read_reasons(a, rc))
				return 1;
			for (r = 0; r < LG_R_MAX; r++)
				printf("reason %s %llu %llu\n", names[r],
				       (unsigned long long)rc[r].frames,
				       (unsigned long long)rc[r].audited);
			printf("end\n");
		} else if (sscanf(line, "device %u", &id) == 1) {
			if (lg_admit_read_device(a, id, &dc))
				printf("device %u none\n", id);
			else
				printf("device %u %llu %llu %llu\n", id,
				       (unsigned long long)dc.admitted,
				       (unsigned long long)dc.dropped,
				       (unsigned long long)dc.audited);
		} else if (sscanf(line, "export %u %llu", &id, &seq) == 2) {
			printf(lg_admit_export_seq(a, id, seq) ? "error\n" : "ok\n");
		} else if (!strncmp(line, "quit", 4)) {
			return 0;
		} else {
			printf("error\n");
		}
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct lg_admit_cfg cfg = {.lgf_port = LGF_DEFAULT_PORT, .replay_window = 0};
	struct lg_admit_entry devs[16];
	struct lg_admit *a = NULL;
	enum lg_admit_mode mode;
	lg_u64 gen = 0;
	size_t n = 0;
	int ifindex, err, i, ret;

	if (argc < 3) {
		fprintf(stderr, "usage: %s IFNAME native|generic [--not-ours=pass] DEVICE...\n",
			argv[0]);
		return 2;
	}
	ifindex = (int)if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "no interface %s\n", argv[1]);
		return 2;
	}
	mode = !strcmp(argv[2], "native") ? LG_ADMIT_MODE_NATIVE : LG_ADMIT_MODE_GENERIC;
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--not-ours=pass")) {
			cfg.not_ours = LG_ADMIT_NOT_OURS_PASS;
			continue;
		}
		if (n == 16 || parse_dev(argv[i], &devs[n])) {
			fprintf(stderr, "bad device %s\n", argv[i]);
			return 2;
		}
		n++;
	}
	err = lg_admit_open(NULL, &a);
	if (err) {
		fprintf(stderr, "load: %s\n", strerror(-err));
		return 1;
	}
	/* Policy first, then attach: no window in which the table is empty. */
	err = lg_admit_apply(a, &cfg, devs, n, &gen);
	if (err) {
		fprintf(stderr, "apply: %s\n", strerror(-err));
		goto out;
	}
	err = lg_admit_attach(a, ifindex, mode);
	if (err) {
		fprintf(stderr, "attach %s: %s\n", argv[2], strerror(-err));
		goto out;
	}
	printf("ready %llu\n", (unsigned long long)gen);
	fflush(stdout);
	err = serve(a) ? -EIO : 0;
out:
	ret = err ? 1 : 0;
	lg_admit_close(a);
	return ret;
}
