// SPDX-License-Identifier: MIT
/*
 * Test driver for the netns end-to-end test: loads the admission program,
 * attaches it to an interface, applies the devices given on the command line
 * and then answers line commands on stdin:
 *
 *   counters            -> "reason NAME FRAMES AUDITED" per reason, then "end"
 *   device ID           -> "device ID ADMITTED DROPPED AUDITED" or "device ID none"
 *   export ID SEQ       -> "ok" (a worker verified SEQ)
 *   xsk                 -> "xsk TOTAL ID=N..." frames the AF_XDP socket received (--xsk)
 *   unpin               -> (--pin/--reopen) "ok": detached, pins removed
 *   quit                -> exits; detaches unless the instance is pinned
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <bpf/bpf.h>
#ifdef LG_HAVE_LIBXDP
#include <linux/if_xdp.h>
#include <xdp/xsk.h>
#endif

#include "lgadmit.h"

static const char usage[] =
	"Usage: admit_e2e_tool [options] IFNAME native|generic [DEVICE...]\n"
	"\n"
	"Test driver for the netns end-to-end admission tests (admit_e2e.sh, admit_restart.sh,\n"
	"bench/admit_flood.sh): loads the XDP admission program, applies the DEVICEs as one\n"
	"generation, attaches it to IFNAME in native or generic (skb) mode, prints\n"
	"\"ready GENERATION\" and then answers line commands on stdin:\n"
	"  counters          \"reason NAME FRAMES AUDITED\" per reason, then \"end\"\n"
	"  device ID         \"device ID ADMITTED DROPPED AUDITED\" or \"device ID none\"\n"
	"  export ID SEQ     \"ok\": a worker verified SEQ of device ID\n"
	"  xsk               \"xsk TOTAL ID=N...\": frames the AF_XDP socket received (--xsk)\n"
	"  unpin             \"ok\": detached and pins removed (--pin or --reopen)\n"
	"  quit              exits; detaches unless the instance is pinned\n"
	"An unknown command, or an export or unpin that failed, is answered \"error\".\n"
	"\n"
	"Arguments:\n"
	"  IFNAME            the interface to attach to\n"
	"  native|generic    the XDP attach mode\n"
	"  DEVICE            id=N,mac=AA:BB:CC:DD:EE:FF,ip=ADDR[,port=N][,rate=N,burst=N]\n"
	"                    [,audit][,anymac] (IPv4 or IPv6 ADDR; at most 16 devices)\n"
	"\n"
	"Options:\n"
	"      --not-ours=pass|drop  traffic that is neither LGF nor UADP passes to the stack\n"
	"                            or is dropped (default drop)\n"
	"      --xsk                 bind an AF_XDP socket (copy mode) to queue 0 and put it in\n"
	"                            the program's XSKMAP: admitted frames go there, not to the\n"
	"                            stack (needs a build with libxdp)\n"
	"      --pin=DIR             pin the instance under DIR (bpffs): it stays attached\n"
	"                            after quit\n"
	"      --reopen=DIR          take over the instance pinned under DIR (no load, apply or\n"
	"                            attach; DEVICEs are ignored)\n"
	"  -h, --help                this text\n"
	"\n"
	"Exit status: 0, 1 if loading, applying, attaching or a command failed, 2 on a usage\n"
	"error, 77 if --xsk is not available.\n";

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

#ifdef LG_HAVE_LIBXDP
#define XSK_FRAMES 4096
#define XSK_FRAME_SIZE XSK_UMEM__DEFAULT_FRAME_SIZE

struct xsk {
	void *area;
	struct xsk_umem *umem;
	struct xsk_socket *sock;
	struct xsk_ring_prod fq;
	struct xsk_ring_cons cq, rx;
	struct xsk_ring_prod tx;
	unsigned long long total, per_dev[16];
};

static int xsk_open(struct xsk *x, struct lg_admit *a, const char *ifname)
{
	struct xsk_socket_config cfg = {
	    .rx_size = XSK_RING_CONS__DEFAULT_NUM_DESCS,
	    .tx_size = XSK_RING_PROD__DEFAULT_NUM_DESCS,
	    .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	    .bind_flags = XDP_COPY,
	};
	__u32 idx, i, q = 0;
	int fd, err;

	x->area = mmap(NULL, (size_t)XSK_FRAMES * XSK_FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (x->area == MAP_FAILED)
		return -errno;
	err = xsk_umem__create(&x->umem, x->area, (__u64)XSK_FRAMES * XSK_FRAME_SIZE, &x->fq,
			       &x->cq, NULL);
	if (err)
		return err;
	err = xsk_socket__create(&x->sock, ifname, 0, x->umem, &x->rx, &x->tx, &cfg);
	if (err)
		return err;
	if (xsk_ring_prod__reserve(&x->fq, XSK_RING_PROD__DEFAULT_NUM_DESCS, &idx) !=
	    XSK_RING_PROD__DEFAULT_NUM_DESCS)
		return -ENOSPC;
	for (i = 0; i < XSK_RING_PROD__DEFAULT_NUM_DESCS; i++)
		*xsk_ring_prod__fill_addr(&x->fq, idx + i) = (__u64)i * XSK_FRAME_SIZE;
	xsk_ring_prod__submit(&x->fq, XSK_RING_PROD__DEFAULT_NUM_DESCS);
	fd = xsk_socket__fd(x->sock);
	if (bpf_map_update_elem(lg_admit_xsks_fd(a), &q, &fd, BPF_ANY))
		return -errno;
	return 0;
}

/* Count what arrived (LGF over IPv4 without options: the id sits at byte 46) and recycle. */
static void xsk_drain(struct xsk *x)
{
	__u32 idx_rx, idx_fq, n, i;

	while ((n = xsk_ring_cons__peek(&x->rx, 64, &idx_rx)) > 0) {
		while (xsk_ring_prod__reserve(&x->fq, n, &idx_fq) != n)
			;
		for (i = 0; i < n; i++) {
			const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx_rx + i);
			const lg_u8 *f = xsk_umem__get_data(x->area, d->addr);

			x->total++;
			if (d->len >= 50 && f[42] == LGF_MAGIC0 && f[43] == LGF_MAGIC1) {
				lg_u32 id = lg_admit_le32(f + 46);

				if (id < 16)
					x->per_dev[id]++;
			}
			*xsk_ring_prod__fill_addr(&x->fq, idx_fq + i) =
			    xsk_umem__extract_addr(d->addr);
		}
		xsk_ring_prod__submit(&x->fq, n);
		xsk_ring_cons__release(&x->rx, n);
	}
}

static void xsk_close(struct xsk *x)
{
	if (x->sock)
		xsk_socket__delete(x->sock);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area && x->area != MAP_FAILED)
		munmap(x->area, (size_t)XSK_FRAMES * XSK_FRAME_SIZE);
}
#endif

static int serve(struct lg_admit *a, void *xsk)
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
				printf("reason %s %llu %llu\n", lg_admit_reason_name(r),
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
		} else if (!strncmp(line, "xsk", 3) && xsk) {
#ifdef LG_HAVE_LIBXDP
			struct xsk *x = xsk;

			xsk_drain(x);
			printf("xsk %llu", x->total);
			for (id = 0; id < 16; id++)
				if (x->per_dev[id])
					printf(" %u=%llu", id, x->per_dev[id]);
			printf("\n");
#endif
		} else if (!strncmp(line, "unpin", 5)) {
			printf(lg_admit_unpin(a) ? "error\n" : "ok\n");
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
	struct lg_admit_opts opts = {0};
	const char *reopen = NULL;
	enum lg_admit_mode mode;
	lg_u64 gen = 0;
	size_t n = 0;
	int ifindex, err, i, ret, opt, use_xsk = 0;
	static const struct option lopts[] = {
		{ "not-ours", required_argument, NULL, 1 },
		{ "pin", required_argument, NULL, 2 },
		{ "reopen", required_argument, NULL, 3 },
		{ "xsk", no_argument, NULL, 4 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
#ifdef LG_HAVE_LIBXDP
	struct xsk x = {0};
#endif

	while ((opt = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (opt) {
		case 1:
			if (!strcmp(optarg, "pass")) {
				cfg.not_ours = LG_ADMIT_NOT_OURS_PASS;
			} else if (!strcmp(optarg, "drop")) {
				cfg.not_ours = LG_ADMIT_NOT_OURS_DROP;
			} else {
				fprintf(stderr, "admit_e2e_tool: --not-ours is pass or drop\n");
				return 2;
			}
			break;
		case 2:
			opts.pin_dir = optarg;
			break;
		case 3:
			reopen = optarg;
			break;
		case 4:
			use_xsk = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr,
			"admit_e2e_tool: IFNAME and native|generic are required (see --help)\n");
		return 2;
	}
	/* from here on argv[1] is IFNAME, argv[2] the mode, then the devices */
	argv += optind - 1;
	argc -= optind - 1;
	ifindex = (int)if_nametoindex(argv[1]);
	if (!ifindex) {
		fprintf(stderr, "no interface %s\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[2], "native") && strcmp(argv[2], "generic")) {
		fprintf(stderr, "admit_e2e_tool: the mode is native or generic, not %s\n", argv[2]);
		return 2;
	}
	mode = !strcmp(argv[2], "native") ? LG_ADMIT_MODE_NATIVE : LG_ADMIT_MODE_GENERIC;
	for (i = 3; i < argc; i++) {
		if (n == 16 || parse_dev(argv[i], &devs[n])) {
			fprintf(stderr, "bad device %s\n", argv[i]);
			return 2;
		}
		n++;
	}
	if (reopen) {
		err = lg_admit_open_pinned(reopen, &a);
		if (err) {
			fprintf(stderr, "reopen %s: %s\n", reopen, strerror(-err));
			return 1;
		}
		gen = lg_admit_generation(a);
		if (lg_admit_ifindex(a) != ifindex) {
			fprintf(stderr, "pinned instance is attached to ifindex %d, not %d\n",
				lg_admit_ifindex(a), ifindex);
			err = -ENODEV;
			goto out;
		}
		goto ready;
	}
	err = lg_admit_open(&opts, &a);
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
	if (use_xsk) {
#ifdef LG_HAVE_LIBXDP
		err = xsk_open(&x, a, argv[1]);
		if (err) {
			fprintf(stderr, "xsk: %s\n", strerror(-err));
			goto out;
		}
#else
		fprintf(stderr, "built without libxdp\n");
		err = -EOPNOTSUPP;
		goto out;
#endif
	}
ready:
	printf("ready %llu\n", (unsigned long long)gen);
	fflush(stdout);
#ifdef LG_HAVE_LIBXDP
	err = serve(a, use_xsk ? &x : NULL) ? -EIO : 0;
#else
	err = serve(a, NULL) ? -EIO : 0;
#endif
out:
	ret = err ? (err == -EOPNOTSUPP ? 77 : 1) : 0;
#ifdef LG_HAVE_LIBXDP
	xsk_close(&x);
#endif
	lg_admit_close(a);
	return ret;
}
