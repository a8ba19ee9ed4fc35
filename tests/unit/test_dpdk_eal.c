// SPDX-License-Identifier: MIT
/* The EAL options and command line that the dpdk backend and the load generator's --tx dpdk
 * share (dataplane/backend/dpdk_eal.c): each option's value and error text, the mem default
 * for nohuge, and the whole argv for known options, word by word. */
#include "backend/dpdk_eal.h"

#include <linegate/backend.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../lgtest.h"
#include "../lgt_cli.h"

static const char usage[] =
    "Usage: test_dpdk_eal\n"
    "\n"
    "The EAL options shared by linegate's dpdk backend and linegate-loadgen's --tx dpdk\n"
    "(dataplane/backend/dpdk_eal.c): values, error texts and the EAL argv they make.\n"
    "\n" LGT_EXIT_STATUS;

/* opts through lg_dpdk_eal_opt(); the first refusal's status and text in err. */
static int parse(struct lg_dpdk_eal *e, const char *opts, char *err, size_t errlen)
{
	char key[32], val[256];
	int ret;

	lg_dpdk_eal_defaults(e);
	err[0] = '\0';
	/* as the backends do first: only vdev and pci may repeat */
	if (lg_backend_opt_once(opts, lg_dpdk_eal_repeatable, err, errlen))
		return -EINVAL;
	while ((ret = lg_backend_opt_next(&opts, key, sizeof(key), val, sizeof(val))) > 0) {
		ret = lg_dpdk_eal_opt(e, key, val, err, errlen);
		if (ret <= 0)
			return ret ? ret : 2; /* 2: not an EAL option */
	}
	lg_dpdk_eal_done(e);
	return ret;
}

static void argv_is(const struct lg_dpdk_eal *e, const char *prog, const char *prefix,
		    const char *want)
{
	char *argv[LG_DPDK_EAL_MAX_ARGS], buf[4096], got[4096] = "";
	int argc = lg_dpdk_eal_argv(e, prog, prefix, argv, buf, sizeof(buf));

	CHECK(argc > 0);
	for (int i = 0; i < argc; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", i ? " " : "",
			 argv[i]);
	CHECK(argc <= 0 || !argv[argc]);
	CHECK_STR(got, want);
}

static void known_argv(void)
{
	struct lg_dpdk_eal e;
	char err[256], want[1024];
	int pid = (int)getpid();

	/* vdevs only: --no-pci; ';' is DPDK's ','; nohuge brings mem 1024; eal= word by word */
	CHECK_EQ(parse(&e,
		       "vdev=net_pcap0;rx_pcap=a.pcap,vdev=net_null0,nohuge,lcores=1;2,"
		       "log=7,eal=--huge-unlink --no-telemetry",
		       err, sizeof(err)),
		 0);
	CHECK_EQ(e.mem_mb, 1024);
	CHECK(!e.port_set);
	snprintf(want, sizeof(want),
		 "linegate -l 1,2 --no-shconf --file-prefix=linegate-%d --log-level=7 --no-huge "
		 "-m 1024 --no-pci --vdev net_pcap0,rx_pcap=a.pcap --vdev net_null0 "
		 "--huge-unlink --no-telemetry",
		 pid);
	argv_is(&e, "linegate", "linegate", want);
	/* building it did not eat eal='s words: the same line again */
	argv_is(&e, "linegate", "linegate", want);

	/* PCI devices: -a each (devargs with ';'), no --no-pci even with a vdev; mem as given;
	 * the generator's --no-telemetry */
	CHECK_EQ(parse(&e,
		       "pci=0000:03:00.0;rxq_cqe_comp_en=0,pci=0000:03:00.1,vdev=net_null0,"
		       "mem=256,nohuge,port=3",
		       err, sizeof(err)),
		 0);
	CHECK_EQ(e.mem_mb, 256);
	CHECK(e.port_set);
	CHECK_EQ(e.port_id, 3);
	e.no_telemetry = true;
	snprintf(want, sizeof(want),
		 "linegate-loadgen -l 0 --no-shconf --file-prefix=lg-loadgen-%d --log-level=5 "
		 "--no-telemetry --no-huge -m 256 -a 0000:03:00.0,rxq_cqe_comp_en=0 "
		 "-a 0000:03:00.1 --vdev net_null0",
		 pid);
	argv_is(&e, "linegate-loadgen", "lg-loadgen", want);

	/* nothing given: the main lcore 0, log level 5, EAL's own memory and PCI scan */
	CHECK_EQ(parse(&e, "", err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "x -l 0 --no-shconf --file-prefix=p-%d --log-level=5", pid);
	argv_is(&e, "x", "p", want);
}

static void refusals(void)
{
	static const struct {
		const char *opts, *err;
	} cases[] = {
	    {"mem=63", "mem=63: want a number 64..1048576"},
	    {"mem=1048577", "mem=1048577: want a number 64..1048576"},
	    {"log=0", "log=0: want a number 1..8"},
	    {"log=9", "log=9: want a number 1..8"},
	    {"port=x", "port=x: want a number 0.."},
	    {"vdev=", "vdev: at most 8, not empty"},
	    {"pci=", "pci: at most 8, not empty"},
	    {"vdev=a,vdev=b,vdev=c,vdev=d,vdev=e,vdev=f,vdev=g,vdev=h,vdev=i",
	     "vdev: at most 8, not empty"},
	    {"pci=0000:00:00.0000000000000000000000", "pci: longer than 31 bytes"},
	    {"lcores=0000000000000000000000000000000000000000000000000000000000000000",
	     "lcores: longer than 63 bytes"},
	    /* the last one won, silently (trial) */
	    {"port=1,vdev=a,port=2", "option 'port' is given more than once: each option once"},
	    {"eal=--a,eal=--b", "option 'eal' is given more than once"},
	    {"nohuge,,nohuge", "option 'nohuge' is given more than once"},
	    {"mbufs=64,mem=64,mbufs=128", "option 'mbufs' is given more than once"},
	};
	struct lg_dpdk_eal e;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(parse(&e, cases[i].opts, err, sizeof(err)), -EINVAL);
		CHECK_STR_CONTAINS(err, cases[i].err);
	}
	/* the caller's own options (and unknown ones) are not the EAL's, and no error */
	CHECK_EQ(parse(&e, "rxd=64", err, sizeof(err)), 2);
	CHECK_STR(err, "");
	CHECK_EQ(parse(&e, "txd=64", err, sizeof(err)), 2);
}

/* More words than EAL's argv holds, or a buffer too small: -E2BIG, not an overflow. */
static void too_long(void)
{
	struct lg_dpdk_eal e;
	char *argv[LG_DPDK_EAL_MAX_ARGS], buf[4096], err[256], opts[600] = "eal=";

	for (int i = 0; i < 70; i++)
		strcat(opts, "-x ");
	CHECK_EQ(parse(&e, opts, err, sizeof(err)), 0);
	CHECK_EQ(lg_dpdk_eal_argv(&e, "linegate", "linegate", argv, buf, sizeof(buf)), -E2BIG);
	CHECK_EQ(lg_dpdk_eal_init(&e, "linegate", "linegate", " (hint)", err, sizeof(err)), -E2BIG);
	CHECK_STR(err, "EAL arguments too long");
	CHECK_EQ(parse(&e, "nohuge", err, sizeof(err)), 0);
	CHECK_EQ(lg_dpdk_eal_argv(&e, "linegate", "linegate", argv, buf, 40), -E2BIG);
}

/* EAL refuses an argument: its reason, and the hint only without nohuge. (Once per process:
 * EAL's arguments are parsed before anything is set up.) */
static void eal_refuses(void)
{
	struct lg_dpdk_eal e;
	char err[256];
	int out, null, ret;
	size_t n;

	CHECK_EQ(parse(&e, "eal=--lg-no-such-option,log=1", err, sizeof(err)), 0);
	/* EAL prints its usage on stdout (75 lines headed "Usage: <prog>"): the backend keeps
	 * it out of linegate's output (trial K, s21). What reaches stdout goes to a file here. */
	{
		char path[] = "/tmp/lg-test-eal-XXXXXX";

		fflush(stdout);
		out = dup(1);
		null = mkstemp(path);
		CHECK(out >= 0 && null >= 0 && dup2(null, 1) == 1);
		ret = lg_dpdk_eal_init(&e, "test_dpdk_eal", "lg-test", " (hint)", err,
				       sizeof(err));
		fflush(stdout);
		dup2(out, 1);
		close(out);
		CHECK_EQ(lseek(null, 0, SEEK_END), 0); /* nothing of EAL's usage */
		close(null);
		unlink(path);
	}
	CHECK(ret < 0);
	/* a refused command line says where it came from, not a hugepage hint */
	CHECK(!strncmp(err, "EAL refused its command line", 28));
	CHECK(strstr(err, "eal=") != NULL);
	n = strlen(err);
	CHECK(n > 7 && strcmp(err + n - 7, " (hint)"));
}

int main(int argc, char **argv)
{
	lgt_cli(argc, argv, usage, 0, 0);
	known_argv();
	refusals();
	too_long();
	eal_refuses();
	return lgt_done("dpdk_eal");
}
