// SPDX-License-Identifier: MIT
/*
 * Per-frame cost of XDP admission under BPF_PROG_RUN, against two baselines
 * run in the same invocation, because absolute times on a shared machine are
 * noise and the ratio is the number:
 *  - a trivial XDP_PASS program (the floor: what BPF_PROG_RUN itself costs),
 *    and the same reading the clock first (what a token bucket pays for it);
 *  - xdp-filter (xdp-tools) in deny-by-default mode with an allow-list of
 *    source IPv4 addresses as long as the admission table, on the same
 *    frames: xdpfilt_dny_ip (IPv4/IPv6 rules only) and xdpfilt_dny_all
 *    (every rule type compiled in, as xdp-filter loads it by default).
 *
 * The admission table holds LG_ADMIT_MAX_DEVICES devices; the frames come
 * from one of them (allowed) or carry an unknown id (denied); the UADP cases
 * send a NetworkMessage of an enrolled or an unknown publisher instead; the v6
 * cases an unknown id over IPv6, without and behind a Hop-by-Hop header, and
 * MLD (ICMPv6 behind Hop-by-Hop, not ours, dropped by the policy).
 *
 * Rounds interleave the cases so that drift hits all of them alike; each ratio is taken
 * within a round, and every figure printed is the interquartile mean over rounds.
 *
 * The xdp-filter objects come from the xdp-tools package; when they are
 * missing their cases are left out (and said so), the rest still runs.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "bench_time.h"
#include "lgadmit.h"

#define MAX_ROUNDS 101
#define FRAME_MAX 256
#define XDPFILT_DIR "/usr/lib/x86_64-linux-gnu/bpf"
/* xdp-filter's rule flag for "source address" (common_kern_user.h of xdp-tools). */
#define XDPFILT_MAP_FLAG_SRC 1

static const char usage[] =
	"Usage: admit_bench [options] [REPEAT] [ROUNDS]\n"
	"\n"
	"Per-frame cost of linegate's XDP admission program under BPF_PROG_RUN (root), with a\n"
	"full admission table, against baselines timed in the same run: a bare XDP_PASS\n"
	"program, the same reading a clock (bpf_ktime_get_ns, bpf_jiffies64 or\n"
	"bpf_ktime_get_coarse_ns), and xdp-filter (xdp-tools) in deny-by-default mode with an\n"
	"allow-list as long as the table (xdpfilt_dny_ip, xdpfilt_dny_all).\n"
	"Cases: LGF frames from an enrolled device (allowed: with a rate, its token bucket's\n"
	"refill gate open; without a rate; with a burst of one frame, so that every frame\n"
	"reads the clock), of an unknown device, over their rate, malformed; UADP messages of an enrolled (UInt16 or\n"
	"String PublisherId) or unknown publisher; IPv6 LGF of an unknown device without and\n"
	"behind a Hop-by-Hop header, and MLD (ICMPv6 behind Hop-by-Hop, not ours). xdp-filter\n"
	"cases are left out, with a note on stderr, when its objects are missing.\n"
	"\n"
	"Arguments:\n"
	"  REPEAT        frames per BPF_PROG_RUN call (default 1000000)\n"
	"  ROUNDS        rounds, 1..101, odd is best (default 11); the rounds interleave the\n"
	"                cases and every figure is the interquartile mean over rounds\n"
	"\n"
	"Options:\n"
	"      --json                 one JSON line per case instead of the table\n"
	"      --xdp-filter-dir DIR   where xdpfilt_dny_ip.o and xdpfilt_dny_all.o are\n"
	"                             (default " XDPFILT_DIR ")\n"
	"      --xdp-filter-prog ID   time the loaded program ID for the xdpfilter_ip cases\n"
	"                             instead of loading xdpfilt_dny_ip.o: xdp-filter as its\n"
	"                             own CLI configured it (bench/run: 'xdp-filter load\n"
	"                             --features ipv4 --policy deny' and 'xdp-filter ip\n"
	"                             ADDR --mode src' for the allowed frame's 10.0.0.1)\n"
	"  -h, --help                 this text\n"
	"\n"
	"Output on stdout: a table (case, ns/frame, ratio to the XDP_PASS baseline, ratio to\n"
	"xdp-filter ip and all), or with --json one {\"bench\":\"admit\", case, ns, ratio_pass,\n"
	"ratio_<xdp-filter case>, repeat, rounds} per case; then always one JSON summary line\n"
	"{\"bench\":\"admit\", \"summary\":true, repeat, rounds, devices, <case>_ns,\n"
	"<case>_ratio, <case>_vs_<xdp-filter case>}.\n"
	"Exit status: 0, 1 on a failure (a verdict other than expected), 2 on a usage error,\n"
	"77 without the privilege to load BPF programs.\n";

enum prog { P_PASS, P_CLOCK, P_JIFFIES, P_COARSE, P_ADMIT, P_XF_IP, P_XF_ALL, P_MAX };

struct bcase {
	const char *name;
	enum prog prog;
	int want; /* XDP action */
	lg_u8 f[FRAME_MAX];
	size_t len;
	double ns[MAX_ROUNDS], ratio[MAX_ROUNDS], vs_xf[2][MAX_ROUNDS];
	double med_ns, med_ratio, med_vs_xf[2];
	/* The xdp-filter cases (dny_ip, dny_all) it is compared with; 0: none. */
	int vs[2];
};

static void put32le(lg_u8 *p, lg_u32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (lg_u8)(v >> (8 * i));
}

/* Ethernet + IPv4 (src 10.0.a.b) + UDP + an LGF frame with 16 i16 samples (130 bytes). */
static size_t build(lg_u8 *f, lg_u32 id, const lg_u8 src_ip[4], int bad_magic)
{
	static const lg_u8 hdr[] = {
	    0x02, 0, 0, 0,    0, 0xfe, 0x02, 0, 0, 0,  0, 0x01, 0x08, 0x00, 0x45, 0, 0,
	    116,  0, 0, 0x40, 0, 64,   17,   0, 0, 10, 0, 0,	1,    10,   0,	  0, 254,
	};
	size_t lgf_len = LGF_MIN_LEN + 32, len = sizeof(hdr) + 8 + lgf_len;
	lg_u8 *u = f + sizeof(hdr), *l = u + 8;
	lg_u16 sport = 40001;
	lg_u32 sum = 0;

	memset(f, 0, len);
	memcpy(f, hdr, sizeof(hdr));
	memcpy(f + 26, src_ip, 4);
	/* the IPv4 header's checksum, which admission checks as the kernel does */
	for (int i = 14; i < 34; i += 2)
		sum += (lg_u32)(f[i] << 8 | f[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	f[24] = (lg_u8)(~sum >> 8);
	f[25] = (lg_u8)~sum;
	u[0] = (lg_u8)(sport >> 8);
	u[1] = (lg_u8)sport;
	u[2] = LGF_DEFAULT_PORT >> 8;
	u[3] = LGF_DEFAULT_PORT & 0xff;
	u[4] = (lg_u8)((8 + lgf_len) >> 8);
	u[5] = (lg_u8)(8 + lgf_len);
	l[0] = LGF_MAGIC0;
	l[1] = bad_magic ? 0 : LGF_MAGIC1;
	l[2] = LGF_VERSION;
	l[3] = LGF_TYPE_SAMPLES;
	put32le(l + 4, id);
	l[24] = 1; /* sequence 1 */
	return len;
}

/*
 * The same LGF datagram over IPv6 (fd00::1 -> fd00::fe), without or behind a
 * Hop-by-Hop header (Router Alert, 8 bytes); icmp: an MLD report's Next Header
 * (ICMPv6) after it instead of UDP, the datagram's bytes as its body.
 */
static size_t build6(lg_u8 *f, lg_u32 id, int hbh, int icmp)
{
	lg_u8 v4[FRAME_MAX];
	size_t n = build(v4, id, (const lg_u8[4]){10, 0, 0, 1}, 0) - 34, ext = hbh ? 8 : 0;
	lg_u8 *ip = f + 14;

	memset(f, 0, 14 + 40 + ext + n);
	memcpy(f, v4, 12);
	f[12] = 0x86;
	f[13] = 0xdd;
	ip[0] = 0x60;
	ip[4] = (lg_u8)((ext + n) >> 8);
	ip[5] = (lg_u8)(ext + n);
	ip[6] = hbh ? 0 : 17;
	ip[7] = 64;
	ip[8] = ip[24] = 0xfd;
	ip[23] = 1;
	ip[39] = 0xfe;
	if (hbh) {
		static const lg_u8 ra[8] = {17, 0, 5, 2, 0, 0, 1, 0};

		memcpy(ip + 40, ra, sizeof(ra));
		ip[40] = icmp ? 58 : 17;
	}
	memcpy(ip + 40 + ext, v4 + 34, n);
	return 14 + 40 + ext + n;
}

#define UADP_PORT 4840

/*
 * The same frame size with a UADP NetworkMessage instead: UInt16 PublisherId
 * pub (or a String one), WriterGroupId 100, one DataSetMessage of writer 1
 * (its Float array as padding), as a PLC would publish.
 */
static size_t build_uadp(lg_u8 *f, lg_u16 pub, const char *str)
{
	size_t len = build(f, 1, (const lg_u8[4]){10, 0, 0, 1}, 0), n;
	lg_u8 *u = f + 34, *m = u + 8;

	u[2] = UADP_PORT >> 8;
	u[3] = UADP_PORT & 0xff;
	memset(m, 0, len - 42);
	m[0] = 0xf1; /* version 1, PublisherId, GroupHeader, PayloadHeader, ExtendedFlags1 */
	if (str) {
		m[1] = 4; /* String */
		n = strlen(str);
		put32le(m + 2, (lg_u32)n);
		memcpy(m + 6, str, n);
		m += 6 + n;
	} else {
		m[1] = 1; /* UInt16 */
		m[2] = (lg_u8)pub;
		m[3] = (lg_u8)(pub >> 8);
		m += 4;
	}
	m[0] = 0x09; /* GroupFlags: WriterGroupId, SequenceNumber */
	m[1] = 100;  /* WriterGroupId; SequenceNumber 0 */
	m[5] = 1;    /* PayloadHeader: one DataSetMessage ... */
	m[6] = 1;    /* ... of writer 1 */
	m[8] = 0x01; /* DataSetFlags1: valid, Variant */
	return len;
}

static struct lg_admit_uadp_key uadp_key(lg_u16 pub, const char *str)
{
	struct lg_admit_uadp_key k = {
	    .pub_type = str ? 4 : 1, .writer_group_id = 100, .writer_id = 1};

	if (str) {
		k.pub_str_len = (lg_u8)strlen(str);
		memcpy(k.pub_str, str, k.pub_str_len);
	} else {
		k.pub_num = pub;
	}
	return k;
}

/* xdp-filter objects carry sections only libxdp knows; libbpf says so on every load. */
static int quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || strstr(fmt, "skipping unrecognized data section"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int trivial_pass_prog(void)
{
	/* r0 = XDP_PASS; exit */
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "lg_pass", "GPL", insns, 2, NULL);
}

/*
 * What reading a clock alone costs: call the helper; r0 = XDP_PASS; exit. bpf_ktime_get_ns
 * (the token bucket's clock), bpf_jiffies64 (its refill gate's tick: the verifier inlines
 * it to a load) and bpf_ktime_get_coarse_ns (a tick-resolution clock, still a call).
 */
static int clock_pass_prog(const char *name, int helper)
{
	struct bpf_insn insns[] = {
	    {.code = BPF_JMP | BPF_CALL, .imm = helper},
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, 3, NULL);
}

/* The i-th device of the table: scattered ids, source 10.1.x.y, except device 0 (10.0.0.1). */
static lg_u32 dev_id(lg_u32 i)
{
	return i == 0 ? 1 : (i * 2654435761u) % 0x7fffffffu + 2;
}

static void dev_ip(lg_u32 i, lg_u8 ip[4])
{
	ip[0] = 10;
	ip[1] = i ? 1 : 0;
	ip[2] = i ? (lg_u8)(i >> 8) : 0;
	ip[3] = i ? (lg_u8)i : 1;
}

/*
 * Load one xdp-filter object and allow-list the same sources as the
 * admission table. Its maps are declared "pin by name"; pins in the global
 * bpffs are not ours to make, so they are cleared before the load.
 */
static int xdpfilt_load(const char *path, struct bpf_object **objp, int ncpus, lg_u32 n)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct bpf_map *map;
	__u64 *val;
	lg_u32 i;
	int fd, err;

	obj = bpf_object__open_file(path, NULL);
	if (!obj)
		return -errno;
	bpf_object__for_each_map(map, obj)
	{
		err = bpf_map__set_pin_path(map, NULL);
		if (err)
			goto err_close;
	}
	err = bpf_object__load(obj);
	if (err)
		goto err_close;
	map = bpf_object__find_map_by_name(obj, "filter_ipv4");
	prog = bpf_object__next_program(obj, NULL);
	if (!map || !prog) {
		err = -ENOENT;
		goto err_close;
	}
	val = calloc((size_t)ncpus, sizeof(*val));
	if (!val) {
		err = -ENOMEM;
		goto err_close;
	}
	for (i = 0; i < (lg_u32)ncpus; i++)
		val[i] = XDPFILT_MAP_FLAG_SRC;
	fd = bpf_map__fd(map);
	for (i = 0; i < n && !err; i++) {
		lg_u8 ip[4];
		__u32 key;

		dev_ip(i, ip);
		memcpy(&key, ip, 4); /* network order, as in the packet */
		if (bpf_map_update_elem(fd, &key, val, BPF_NOEXIST))
			err = -errno;
	}
	free(val);
	if (err)
		goto err_close;
	*objp = obj;
	return bpf_program__fd(prog);

err_close:
	bpf_object__close(obj);
	return err;
}

static int run(int fd, const lg_u8 *f, size_t len, int repeat, double *ns, int *action)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = (__u32)len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		return err;
	*ns = o.duration; /* the kernel's average per repetition, in ns */
	*action = (int)o.retval;
	return 0;
}

/*
 * Interquartile mean: the mean of the middle half of the sorted values.
 * Robust to the odd disturbed round like a median, but finer than the
 * kernel's whole nanoseconds per run (a median of those moves in 1 ns steps,
 * 5% of the baseline).
 */
static double iqmean(double *v, int n)
{
	int lo = n / 4, hi = n - n / 4, i;
	double sum = 0;

	qsort(v, (size_t)n, sizeof(double), cmp_double);
	for (i = lo; i < hi; i++)
		sum += v[i];
	return sum / (hi - lo);
}

int main(int argc, char **argv)
{
	static const struct lg_admit_cfg cfg = {
	    .lgf_port = LGF_DEFAULT_PORT,
	    .uadp_port = UADP_PORT,
	    .not_ours = LG_ADMIT_NOT_OURS_DROP,
	};
	static const char gw[] = "line-4-gateway-17";
	static const lg_u8 src_known[4] = {10, 0, 0, 1}, src_unknown[4] = {10, 0, 99, 99};
	static struct lg_admit_entry devs[LG_ADMIT_MAX_DEVICES];
	enum {
		C_PASS,
		C_CLOCK,
		C_JIFFIES,
		C_COARSE,
		C_ALLOW,
		C_ALLOW_NR,
		C_ALLOW_CLK,
		C_UNKNOWN,
		C_RATE,
		C_MALF,
		C_UALLOW,
		C_USTR,
		C_UUNKNOWN,
		C_V6UNKNOWN,
		C_V6HUNKNOWN,
		C_V6HNOTOURS,
		C_XIA,
		C_XID,
		C_XAA,
		C_XAD
	};
	struct bcase c[] = {
	    [C_PASS] = {"xdp_pass_baseline", P_PASS, XDP_PASS},
	    [C_CLOCK] = {"xdp_pass_clock", P_CLOCK, XDP_PASS},
	    [C_JIFFIES] = {"xdp_pass_jiffies", P_JIFFIES, XDP_PASS},
	    [C_COARSE] = {"xdp_pass_coarse_clock", P_COARSE, XDP_PASS},
	    [C_ALLOW] = {"allow", P_ADMIT, XDP_PASS, .vs = {C_XIA, C_XAA}},
	    [C_ALLOW_NR] = {"allow_no_rate", P_ADMIT, XDP_PASS, .vs = {C_XIA, C_XAA}},
	    [C_ALLOW_CLK] = {"allow_clock_read", P_ADMIT, XDP_PASS},
	    [C_UNKNOWN] = {"drop_unknown", P_ADMIT, XDP_DROP, .vs = {C_XID, C_XAD}},
	    [C_RATE] = {"drop_rate_limited", P_ADMIT, XDP_DROP},
	    [C_MALF] = {"drop_malformed", P_ADMIT, XDP_DROP},
	    [C_UALLOW] = {"uadp_allow", P_ADMIT, XDP_PASS},
	    [C_USTR] = {"uadp_allow_string", P_ADMIT, XDP_PASS},
	    [C_UUNKNOWN] = {"uadp_drop_unknown", P_ADMIT, XDP_DROP},
	    [C_V6UNKNOWN] = {"v6_drop_unknown", P_ADMIT, XDP_DROP},
	    [C_V6HUNKNOWN] = {"v6_hbh_drop_unknown", P_ADMIT, XDP_DROP},
	    [C_V6HNOTOURS] = {"v6_hbh_icmp_not_ours", P_ADMIT, XDP_DROP},
	    [C_XIA] = {"xdpfilter_ip_allow", P_XF_IP, XDP_PASS},
	    [C_XID] = {"xdpfilter_ip_deny", P_XF_IP, XDP_DROP},
	    [C_XAA] = {"xdpfilter_all_allow", P_XF_ALL, XDP_PASS},
	    [C_XAD] = {"xdpfilter_all_deny", P_XF_ALL, XDP_DROP},
	};
	const int nc = (int)(sizeof(c) / sizeof(c[0]));
	const char *xf_dir = XDPFILT_DIR;
	struct bpf_object *xf_obj[P_MAX] = {0};
	int fds[P_MAX] = {-1, -1, -1, -1, -1, -1, -1};
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 1 },
		{ "xdp-filter-dir", required_argument, NULL, 2 },
		{ "xdp-filter-prog", required_argument, NULL, 3 },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int repeat = 1000000, rounds = 11, json = 0;
	long xf_prog_id = 0; /* --xdp-filter-prog */
	struct lg_admit *a = NULL;
	int err, i, j, r, action = 0, ret = 1, ncpus, opt;
	char path[512];
	lg_u32 k;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 1:
			json = 1;
			break;
		case 2:
			xf_dir = optarg;
			break;
		case 3: {
			char *end;

			errno = 0;
			xf_prog_id = strtol(optarg, &end, 10);
			if (errno || *end || xf_prog_id <= 0 || xf_prog_id > UINT32_MAX) {
				fprintf(stderr, "admit_bench: --xdp-filter-prog takes a program "
					"id, not '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (argc - optind > 2) {
		fprintf(stderr, "admit_bench: two arguments at most, REPEAT and ROUNDS (see --help)\n");
		return 2;
	}
	if (optind < argc)
		repeat = atoi(argv[optind++]);
	if (optind < argc)
		rounds = atoi(argv[optind++]);
	if (repeat <= 0 || rounds <= 0 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "admit_bench: REPEAT must be positive and ROUNDS 1..%d\n",
			MAX_ROUNDS);
		return 2;
	}
	ncpus = libbpf_num_possible_cpus();
	libbpf_set_print(quiet_print);

	/*
	 * A full table. Device 0 is the allowed sender, with a rate it never
	 * reaches so that the bucket (and the clock) is on the path as for a
	 * real device (its frames come many to a tick: the refill gate takes
	 * them without the clock); device 1 has a bucket of one frame, spent by
	 * round one; device 2 has no rate: the rule xdp-filter can express too;
	 * device 5 has the rate of device 0 and a burst of one frame, so that
	 * every frame finds its bucket empty and reads the clock (allow_clock_read). Every
	 * device also publishes UADP (UInt16 PublisherId = its index; device 3,
	 * from the allowed source and with a rate like device 0, is the UADP
	 * sender; device 4 has a String PublisherId).
	 */
	for (k = 0; k < LG_ADMIT_MAX_DEVICES; k++) {
		struct lg_admit_dev *d = &devs[k].dev;

		devs[k].device_id = dev_id(k);
		d->mac[0] = 2;
		d->mac[5] = 1;
		d->family = LG_ADMIT_AF_INET;
		dev_ip(k, d->addr);
		d->src_port = 40001;
		d->rate = k == 1 ? 1 : k == 2 ? 0 : 1000000000;
		d->burst = k == 1 || k == 5 ? 1 : k == 2 ? 0 : 1000000;
		devs[k].has_uadp = 1;
		devs[k].uadp = k == 4 ? uadp_key(0, gw) : uadp_key((lg_u16)k, NULL);
	}
	memcpy(devs[1].dev.addr, src_known, 4);
	memcpy(devs[2].dev.addr, src_known, 4);
	memcpy(devs[3].dev.addr, src_known, 4);
	memcpy(devs[4].dev.addr, src_known, 4);
	memcpy(devs[5].dev.addr, src_known, 4);
	err = lg_admit_open(NULL, &a);
	if (!err)
		err = lg_admit_apply(a, &cfg, devs, LG_ADMIT_MAX_DEVICES, NULL);
	if (err) {
		fprintf(stderr, "admit: %s\n", strerror(-err));
		lg_admit_close(a);
		return err == -EPERM ? 77 : 1;
	}
	fds[P_ADMIT] = lg_admit_prog_fd(a);
	fds[P_PASS] = trivial_pass_prog();
	if (fds[P_PASS] < 0) {
		fprintf(stderr, "baseline program: %s\n", strerror(-fds[P_PASS]));
		goto out;
	}
	fds[P_CLOCK] = clock_pass_prog("lg_clock", BPF_FUNC_ktime_get_ns);
	fds[P_JIFFIES] = clock_pass_prog("lg_jiffies", BPF_FUNC_jiffies64);
	fds[P_COARSE] = clock_pass_prog("lg_coarse", BPF_FUNC_ktime_get_coarse_ns);
	for (i = P_CLOCK; i <= P_COARSE; i++) {
		if (fds[i] < 0) {
			fprintf(stderr, "clock program %d: %s\n", i, strerror(-fds[i]));
			goto out;
		}
	}
	snprintf(path, sizeof(path), "%s/xdpfilt_dny_ip.o", xf_dir);
	if (xf_prog_id) {
		fds[P_XF_IP] = bpf_prog_get_fd_by_id((__u32)xf_prog_id);
		if (fds[P_XF_IP] < 0) {
			fprintf(stderr, "admit_bench: --xdp-filter-prog %ld: %s\n", xf_prog_id,
				strerror(errno));
			goto out;
		}
	} else {
		fds[P_XF_IP] = xdpfilt_load(path, &xf_obj[P_XF_IP], ncpus, LG_ADMIT_MAX_DEVICES);
	}
	snprintf(path, sizeof(path), "%s/xdpfilt_dny_all.o", xf_dir);
	fds[P_XF_ALL] = xdpfilt_load(path, &xf_obj[P_XF_ALL], ncpus, LG_ADMIT_MAX_DEVICES);
	for (i = P_XF_IP; i <= P_XF_ALL; i++)
		if (fds[i] < 0)
			fprintf(stderr, "note: xdp-filter %s not run: %s\n",
				i == P_XF_IP ? "dny_ip" : "dny_all", strerror(-fds[i]));

	c[C_PASS].len = build(c[C_PASS].f, 1, src_known, 0);
	c[C_CLOCK].len = build(c[C_CLOCK].f, 1, src_known, 0);
	c[C_ALLOW].len = build(c[C_ALLOW].f, 1, src_known, 0);
	c[C_ALLOW_NR].len = build(c[C_ALLOW_NR].f, dev_id(2), src_known, 0);
	c[C_ALLOW_CLK].len = build(c[C_ALLOW_CLK].f, dev_id(5), src_known, 0);
	c[C_JIFFIES].len = build(c[C_JIFFIES].f, 1, src_known, 0);
	c[C_COARSE].len = build(c[C_COARSE].f, 1, src_known, 0);
	c[C_UNKNOWN].len = build(c[C_UNKNOWN].f, 0x7ffffff0, src_known, 0);
	c[C_RATE].len = build(c[C_RATE].f, dev_id(1), src_known, 0);
	c[C_MALF].len = build(c[C_MALF].f, 1, src_known, 1);
	c[C_UALLOW].len = build_uadp(c[C_UALLOW].f, 3, NULL);
	c[C_USTR].len = build_uadp(c[C_USTR].f, 0, gw);
	c[C_UUNKNOWN].len = build_uadp(c[C_UUNKNOWN].f, 60000, NULL);
	c[C_V6UNKNOWN].len = build6(c[C_V6UNKNOWN].f, 0x7ffffff0, 0, 0);
	c[C_V6HUNKNOWN].len = build6(c[C_V6HUNKNOWN].f, 0x7ffffff0, 1, 0);
	c[C_V6HNOTOURS].len = build6(c[C_V6HNOTOURS].f, 0x7ffffff0, 1, 1);
	c[C_XIA].len = build(c[C_XIA].f, 1, src_known, 0);
	c[C_XID].len = build(c[C_XID].f, 0x7ffffff0, src_unknown, 0);
	c[C_XAA].len = build(c[C_XAA].f, 1, src_known, 0);
	c[C_XAD].len = build(c[C_XAD].f, 0x7ffffff0, src_unknown, 0);
	/* Spend device 1's only token so that every timed frame is rate limited. */
	run(fds[P_ADMIT], c[C_RATE].f, c[C_RATE].len, 1, &c[C_RATE].ns[0], &action);

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < nc; i++) {
			if (fds[c[i].prog] < 0)
				continue;
			err = run(fds[c[i].prog], c[i].f, c[i].len, repeat, &c[i].ns[r], &action);
			if (err || action != c[i].want) {
				fprintf(stderr, "%s: err %d action %d, want %d\n", c[i].name, err,
					action, c[i].want);
				goto out;
			}
		}
		for (i = 0; i < nc; i++) {
			c[i].ratio[r] = c[0].ns[r] > 0 ? c[i].ns[r] / c[0].ns[r] : 0;
			for (j = 0; j < 2; j++) {
				const struct bcase *x = &c[c[i].vs[j]];

				if (c[i].vs[j] && fds[x->prog] >= 0 && x->ns[r] > 0)
					c[i].vs_xf[j][r] = c[i].ns[r] / x->ns[r];
			}
		}
	}
	for (i = 0; i < nc; i++) {
		c[i].med_ns = iqmean(c[i].ns, rounds);
		c[i].med_ratio = iqmean(c[i].ratio, rounds);
		for (j = 0; j < 2; j++)
			c[i].med_vs_xf[j] = c[i].vs[j] ? iqmean(c[i].vs_xf[j], rounds) : 0;
	}

	if (!json)
		printf(
		    "%-20s %9s %9s %10s %10s   (%d rounds x %d frames of %zu bytes, %d devices)\n",
		    "case", "ns/frame", "vs pass", "vs xf-ip", "vs xf-all", rounds, repeat,
		    c[1].len, LG_ADMIT_MAX_DEVICES);
	for (i = 0; i < nc; i++) {
		if (fds[c[i].prog] < 0)
			continue;
		if (json) {
			printf(
			    "{\"bench\":\"admit\",\"case\":\"%s\",\"ns\":%.2f,\"ratio_pass\":%.3f",
			    c[i].name, c[i].med_ns, c[i].med_ratio);
			for (j = 0; j < 2; j++)
				if (c[i].med_vs_xf[j] > 0)
					printf(",\"ratio_%s\":%.3f", c[c[i].vs[j]].name,
					       c[i].med_vs_xf[j]);
			printf(",\"repeat\":%d,\"rounds\":%d}\n", repeat, rounds);
		} else {
			printf("%-20s %9.2f %9.3f", c[i].name, c[i].med_ns, c[i].med_ratio);
			for (j = 0; j < 2; j++)
				if (c[i].med_vs_xf[j] > 0)
					printf(" %10.3f", c[i].med_vs_xf[j]);
			printf("\n");
		}
	}
	printf("{\"bench\":\"admit\",\"summary\":true,\"repeat\":%d,\"rounds\":%d,\"devices\":%d",
	       repeat, rounds, LG_ADMIT_MAX_DEVICES);
	if (xf_prog_id)
		printf(",\"xdpfilter_ip_prog_id\":%ld", xf_prog_id);
	for (i = 0; i < nc; i++)
		if (fds[c[i].prog] >= 0)
			printf(",\"%s_ns\":%.2f,\"%s_ratio\":%.3f", c[i].name, c[i].med_ns,
			       c[i].name, c[i].med_ratio);
	for (i = 0; i < nc; i++)
		for (j = 0; j < 2; j++)
			if (c[i].med_vs_xf[j] > 0)
				printf(",\"%s_vs_%s\":%.3f", c[i].name, c[c[i].vs[j]].name,
				       c[i].med_vs_xf[j]);
	printf("}\n");
	ret = 0;
out:
	for (i = P_PASS; i <= P_COARSE; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (xf_prog_id && fds[P_XF_IP] >= 0)
		close(fds[P_XF_IP]); /* not an object of ours: the fd of the loaded program */
	for (i = 0; i < P_MAX; i++)
		bpf_object__close(xf_obj[i]);
	lg_admit_close(a);
	return ret;
}
