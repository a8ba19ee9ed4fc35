// SPDX-License-Identifier: MIT
/*
 * Per-frame cost of XDP admission under BPF_PROG_RUN, against a trivial
 * XDP_PASS program run in the same invocation: absolute times on a shared
 * machine are noise, the ratio is the number.
 *
 * usage: admit_bench [REPEAT] [ROUNDS]   (defaults 1000000 and 5)
 * Prints a table and one JSON line; each figure is the median over ROUNDS,
 * rounds interleave the cases so that drift hits all of them alike.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "lgadmit.h"

#define MAX_ROUNDS 31

static void put32le(lg_u8 *p, lg_u32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (lg_u8)(v >> (8 * i));
}

/* Ethernet + IPv4 + UDP + an LGF frame with 16 i16 samples (130 bytes). */
static size_t build(lg_u8 *f, lg_u32 id, lg_u16 sport, int bad_magic)
{
	static const lg_u8 hdr[] = {
	    0x02, 0, 0, 0,    0, 0xfe, 0x02, 0, 0, 0,  0, 0x01, 0x08, 0x00, 0x45, 0, 0,
	    116,  0, 0, 0x40, 0, 64,   17,   0, 0, 10, 0, 0,	1,    10,   0,	  0, 254,
	};
	size_t lgf_len = LGF_MIN_LEN + 32, len = sizeof(hdr) + 8 + lgf_len;
	lg_u8 *u = f + sizeof(hdr), *l = u + 8;

	memset(f, 0, len);
	memcpy(f, hdr, sizeof(hdr));
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

static int trivial_pass_prog(void)
{
	/* r0 = XDP_PASS; exit */
	struct bpf_insn insns[] = {
	    {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = XDP_PASS},
	    {.code = BPF_JMP | BPF_EXIT},
	};

	return bpf_prog_load(BPF_PROG_TYPE_XDP, "lg_pass", "GPL", insns, 2, NULL);
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct lg_admit_cfg cfg = {
	    .lgf_port = LGF_DEFAULT_PORT,
	    .not_ours = LG_ADMIT_NOT_OURS_DROP,
	};
	struct lg_admit_entry devs[2] = {
	    /* A rate it never reaches: the bucket is on the path, as for a real device. */
	    {1,
	     {.mac = {2, 0, 0, 0, 0, 1},
	      .family = 4,
	      .addr = {10, 0, 0, 1},
	      .rate = 1000000000,
	      .burst = 1000000}},
	    {2,
	     {.mac = {2, 0, 0, 0, 0, 1},
	      .family = 4,
	      .addr = {10, 0, 0, 1},
	      .rate = 1,
	      .burst = 1}},
	};
	struct {
		const char *name;
		int fd_is_base;
		int want;
		lg_u8 f[256];
		size_t len;
		double ns[MAX_ROUNDS];
	} c[5] = {
	    {"xdp_pass_baseline", 1, XDP_PASS}, {"allow", 0, XDP_PASS},
	    {"drop_unknown", 0, XDP_DROP},	{"drop_rate_limited", 0, XDP_DROP},
	    {"drop_malformed", 0, XDP_DROP},
	};
	int repeat = argc > 1 ? atoi(argv[1]) : 1000000;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct lg_admit *a = NULL;
	int base_fd, err, i, r, action = 0;
	double med[5];

	if (repeat <= 0 || rounds <= 0 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s [REPEAT] [ROUNDS<=%d]\n", argv[0], MAX_ROUNDS);
		return 2;
	}
	err = lg_admit_open(NULL, &a);
	if (!err)
		err = lg_admit_apply(a, &cfg, devs, 2, NULL);
	if (err) {
		fprintf(stderr, "admit: %s\n", strerror(-err));
		lg_admit_close(a);
		return err == -EPERM ? 77 : 1;
	}
	base_fd = trivial_pass_prog();
	if (base_fd < 0) {
		fprintf(stderr, "baseline program: %s\n", strerror(-base_fd));
		lg_admit_close(a);
		return 1;
	}
	c[0].len = build(c[0].f, 1, 40001, 0);
	c[1].len = build(c[1].f, 1, 40001, 0);
	c[2].len = build(c[2].f, 99, 40001, 0);
	c[3].len = build(c[3].f, 2, 40001, 0);
	c[4].len = build(c[4].f, 1, 40001, 1);

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < 5; i++) {
			err = run(c[i].fd_is_base ? base_fd : lg_admit_prog_fd(a), c[i].f, c[i].len,
				  repeat, &c[i].ns[r], &action);
			if (err || action != c[i].want) {
				fprintf(stderr, "%s: err %d action %d, want %d\n", c[i].name, err,
					action, c[i].want);
				close(base_fd);
				lg_admit_close(a);
				return 1;
			}
		}
	}
	printf("%-20s %10s %8s   (%d x %d frames of %zu bytes, median of rounds)\n", "case",
	       "ns/frame", "ratio", rounds, repeat, c[1].len);
	for (i = 0; i < 5; i++) {
		qsort(c[i].ns, (size_t)rounds, sizeof(double), cmp_double);
		med[i] = c[i].ns[rounds / 2];
		printf("%-20s %10.1f %8.2f\n", c[i].name, med[i], med[0] > 0 ? med[i] / med[0] : 0);
	}
	printf("{\"bench\":\"admit\",\"repeat\":%d,\"rounds\":%d", repeat, rounds);
	for (i = 0; i < 5; i++)
		printf(",\"%s_ns\":%.1f", c[i].name, med[i]);
	for (i = 1; i < 5; i++)
		printf(",\"%s_ratio\":%.2f", c[i].name, med[0] > 0 ? med[i] / med[0] : 0);
	printf("}\n");
	close(base_fd);
	lg_admit_close(a);
	return 0;
}
