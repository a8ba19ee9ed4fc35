/* SPDX-License-Identifier: MIT */
/*
 * The EAL and port options that the dpdk backend (linegate --backend dpdk:OPTIONS) and the
 * load generator's DPDK transmitter (linegate-loadgen --tx dpdk:OPTIONS) both take, and the
 * EAL command line made of them: one parser and one argv builder, so that the two programs
 * cannot drift apart on an option's name, range, default or error text. Each program keeps
 * its own options (the backend's rxd, burst, ...; the generator's txd, ...) and its own
 * message for an unknown one. Built only with DPDK (meson option dpdk), into lgbackend.
 * Errors are negative errno, with the reason in err.
 */
#ifndef LG_DPDK_EAL_H
#define LG_DPDK_EAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_DPDK_EAL_MAX_DEVS 8	/* vdev= and pci=, each */
#define LG_DPDK_EAL_MAX_ARGS 64 /* EAL's argv, NULL included */

struct lg_dpdk_eal {
	uint16_t port_id; /* port=N */
	bool port_set;
	char vdev[LG_DPDK_EAL_MAX_DEVS][256]; /* vdev=SPEC, ';' turned into ',' */
	unsigned nvdevs;
	char pci[LG_DPDK_EAL_MAX_DEVS][32]; /* pci=BDF, ';' turned into ',' */
	unsigned npci;
	char eal[512];	    /* eal='ARGS': more EAL arguments, separated by spaces */
	char lcores[64];    /* lcores=LIST (default "0"), ';' turned into ',' */
	unsigned mem_mb;    /* mem=MB 64..1048576 (0: EAL's default; 1024 with nohuge) */
	bool nohuge;	    /* nohuge */
	unsigned log_level; /* log=1..8 (default 5, warnings) */
	bool no_telemetry;  /* not an option: the caller's choice, --no-telemetry */
};

/* The defaults: lcores 0, log level 5, the rest zero. */
void lg_dpdk_eal_defaults(struct lg_dpdk_eal *e);

/*
 * One key=value of the options (lg_backend_opt_next()): 1 if it was one of the shared
 * options (port, vdev, pci, eal, lcores, mem, nohuge, log) and is now in e, 0 if it is none
 * of them (the caller's own, or unknown), -EINVAL if its value is wrong.
 */
int lg_dpdk_eal_opt(struct lg_dpdk_eal *e, const char *key, const char *val, char *err,
		    size_t errlen);

/* The shared options that may be given more than once (vdev, pci; NULL-terminated), for
 * lg_backend_opt_once(). */
extern const char *const lg_dpdk_eal_repeatable[];

/* After the last option: defaults that depend on others (mem=1024 with nohuge). */
void lg_dpdk_eal_done(struct lg_dpdk_eal *e);

/*
 * EAL's command line: prog, the main lcore, no shared config and a runtime folder of this
 * process's own (--file-prefix=PREFIX-PID), the log level, memory, devices, then eal='s
 * words. The strings live in buf. Returns argc (argv[argc] = NULL) or -E2BIG.
 */
int lg_dpdk_eal_argv(const struct lg_dpdk_eal *e, const char *prog, const char *prefix,
		     char *argv[LG_DPDK_EAL_MAX_ARGS], char *buf, size_t buflen);

/*
 * rte_eal_init() with that command line, keeping this process's CPU mask (EAL pins the
 * calling thread to the main lcore and threads inherit it; the caller's threads are no
 * lcores). On failure err says "EAL arguments too long" or "EAL init failed: REASON",
 * followed by hint unless e->nohuge.
 */
int lg_dpdk_eal_init(const struct lg_dpdk_eal *e, const char *prog, const char *prefix,
		     const char *hint, char *err, size_t errlen);

/* val as a number min..max into *out, or -EINVAL with "KEY=VAL: want a number MIN..MAX". */
int lg_dpdk_opt_uint(const char *key, const char *val, unsigned min, unsigned max, unsigned *out,
		     char *err, size_t errlen);

#endif /* LG_DPDK_EAL_H */
