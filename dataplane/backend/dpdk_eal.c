// SPDX-License-Identifier: MIT
/* The EAL options and command line shared by the dpdk backend and the load generator
 * (dpdk_eal.h). */
#include "dpdk_eal.h"

#include <linegate/backend.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>

int lg_dpdk_opt_uint(const char *key, const char *val, unsigned min, unsigned max, unsigned *out,
		     char *err, size_t errlen)
{
	unsigned long v;

	if (lg_backend_opt_uint(val, max, &v) || v < min) {
		snprintf(err, errlen, "%s=%s: want a number %u..%u", key, val, min, max);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* ';' in a value stands for DPDK's own ',', which separates our options. */
static int copy_opt(char *dst, size_t dstlen, const char *key, const char *val, bool semis,
		    char *err, size_t errlen)
{
	size_t n = strlen(val);

	if (n >= dstlen) {
		snprintf(err, errlen, "%s: longer than %zu bytes", key, dstlen - 1);
		return -EINVAL;
	}
	memcpy(dst, val, n + 1);
	for (; semis && *dst; dst++)
		if (*dst == ';')
			*dst = ',';
	return 0;
}

const char *const lg_dpdk_eal_repeatable[] = { "vdev", "pci", NULL };

void lg_dpdk_eal_defaults(struct lg_dpdk_eal *e)
{
	memset(e, 0, sizeof(*e));
	e->log_level = 5; /* warnings */
	snprintf(e->lcores, sizeof(e->lcores), "0");
}

int lg_dpdk_eal_opt(struct lg_dpdk_eal *e, const char *key, const char *val, char *err,
		    size_t errlen)
{
	unsigned v;

	if (!strcmp(key, "port")) {
		if (lg_dpdk_opt_uint(key, val, 0, RTE_MAX_ETHPORTS - 1, &v, err, errlen))
			return -EINVAL;
		e->port_id = (uint16_t)v;
		e->port_set = true;
	} else if (!strcmp(key, "vdev") || !strcmp(key, "pci")) {
		bool is_vdev = key[0] == 'v';
		unsigned *n = is_vdev ? &e->nvdevs : &e->npci;

		if (*n == LG_DPDK_EAL_MAX_DEVS || !*val) {
			snprintf(err, errlen, "%s: at most %d, not empty", key,
				 LG_DPDK_EAL_MAX_DEVS);
			return -EINVAL;
		}
		if (is_vdev ? copy_opt(e->vdev[*n], sizeof(e->vdev[0]), key, val, true, err, errlen)
			    : copy_opt(e->pci[*n], sizeof(e->pci[0]), key, val, true, err, errlen))
			return -EINVAL;
		(*n)++;
	} else if (!strcmp(key, "eal")) {
		if (copy_opt(e->eal, sizeof(e->eal), key, val, false, err, errlen))
			return -EINVAL;
	} else if (!strcmp(key, "lcores")) {
		if (copy_opt(e->lcores, sizeof(e->lcores), key, val, true, err, errlen))
			return -EINVAL;
	} else if (!strcmp(key, "mem")) {
		if (lg_dpdk_opt_uint(key, val, 64, 1u << 20, &e->mem_mb, err, errlen))
			return -EINVAL;
	} else if (!strcmp(key, "nohuge")) {
		e->nohuge = true;
	} else if (!strcmp(key, "log")) {
		if (lg_dpdk_opt_uint(key, val, 1, 8, &e->log_level, err, errlen))
			return -EINVAL;
	} else {
		return 0;
	}
	return 1;
}

void lg_dpdk_eal_done(struct lg_dpdk_eal *e)
{
	if (!e->mem_mb && e->nohuge)
		e->mem_mb = 1024;
}

int lg_dpdk_eal_argv(const struct lg_dpdk_eal *e, const char *prog, const char *prefix,
		     char *argv[LG_DPDK_EAL_MAX_ARGS], char *buf, size_t buflen)
{
	char words[sizeof(e->eal)];
	int argc = 0;
	size_t used = 0;

#define ARG(...)                                                                                   \
	do {                                                                                       \
		int n_ = snprintf(buf + used, buflen - used, __VA_ARGS__);                         \
		if (n_ < 0 || (size_t)n_ >= buflen - used || argc == LG_DPDK_EAL_MAX_ARGS - 1)     \
			return -E2BIG;                                                             \
		argv[argc++] = buf + used;                                                         \
		used += (size_t)n_ + 1;                                                            \
	} while (0)
	ARG("%s", prog);
	ARG("-l");
	ARG("%s", e->lcores);
	/*
	 * Several linegates and generators (and tests) side by side: no shared config, a
	 * runtime folder of our own. (--in-memory would do both, but refuses --no-huge's
	 * legacy memory.)
	 */
	ARG("--no-shconf");
	ARG("--file-prefix=%s-%d", prefix, (int)getpid());
	ARG("--log-level=%u", e->log_level);
	if (e->no_telemetry)
		ARG("--no-telemetry");
	if (e->nohuge)
		ARG("--no-huge");
	if (e->mem_mb) {
		ARG("-m");
		ARG("%u", e->mem_mb);
	}
	for (unsigned i = 0; i < e->npci; i++) {
		ARG("-a");
		ARG("%s", e->pci[i]);
	}
	/* Virtual devices only: no PCI scan (which would take every bound NIC). */
	if (e->nvdevs && !e->npci)
		ARG("--no-pci");
	for (unsigned i = 0; i < e->nvdevs; i++) {
		ARG("--vdev");
		ARG("%s", e->vdev[i]);
	}
	memcpy(words, e->eal, sizeof(words));
	for (char *save = NULL, *t = strtok_r(words, " ", &save); t; t = strtok_r(NULL, " ", &save))
		ARG("%s", t);
#undef ARG
	argv[argc] = NULL;
	return argc;
}

int lg_dpdk_eal_init(const struct lg_dpdk_eal *e, const char *prog, const char *prefix,
		     const char *hint, char *err, size_t errlen)
{
	char *argv[LG_DPDK_EAL_MAX_ARGS], buf[4096], name[96];
	cpu_set_t cpus;
	int argc, ret, out, null;

	/* EAL's getopt names argv[0] in its complaints: say whose they are (trial K, s21:
	 * "linegate: unrecognized option" read as linegate's own options) */
	snprintf(name, sizeof(name), "%s: dpdk backend: EAL", prog);
	argc = lg_dpdk_eal_argv(e, name, prefix, argv, buf, sizeof(buf));

	if (argc < 0) {
		snprintf(err, errlen, "EAL arguments too long");
		return argc;
	}
	/*
	 * EAL pins the calling thread to the main lcore, and threads inherit affinity: the
	 * caller's threads (linegate's workers, the generator's senders) would all share that
	 * core. They are not lcores, so give the process its mask back.
	 */
	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		CPU_ZERO(&cpus);
	/* A command line EAL refuses makes it print its whole usage (about 75 lines,
	 * headed "Usage: linegate [options]") on stdout: not ours, so not shown. */
	fflush(stdout);
	out = dup(STDOUT_FILENO);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (out >= 0 && null >= 0)
		dup2(null, STDOUT_FILENO);
	ret = rte_eal_init(argc, argv);
	fflush(stdout);
	if (out >= 0 && null >= 0)
		dup2(out, STDOUT_FILENO);
	if (out >= 0)
		close(out);
	if (null >= 0)
		close(null);
	if (CPU_COUNT(&cpus))
		sched_setaffinity(0, sizeof(cpus), &cpus);
	if (ret < 0) {
		int en = rte_errno;

		if (en == EINVAL)
			snprintf(err, errlen, "EAL refused its command line (%s): its own words "
				 "above name the option; it comes from eal=, lcores=, mem=, vdev= "
				 "or pci= of the backend's options", rte_strerror(en));
		else
			snprintf(err, errlen, "EAL init failed: %s%s", rte_strerror(en),
				 e->nohuge ? "" : hint);
		return en ? -en : -EINVAL;
	}
	return 0;
}
