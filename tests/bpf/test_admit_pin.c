// SPDX-License-Identifier: MIT
/*
 * Fail static across restarts: an instance pinned under bpffs keeps its
 * attachment, live generation, runtime state and counters when its handle is
 * closed (the process "restarts"), and a new handle takes it over:
 *  - open with pins, apply, attach (veth in a private network namespace),
 *    run frames, export a sequence;
 *  - close: the program stays attached, frames keep their verdicts;
 *  - reopen: same generation, counters, state and attachment;
 *  - apply a new generation through the reopened handle;
 *  - a second instance cannot take the same pin directory;
 *  - unpin: detached, pins gone.
 * It runs in private network and mount namespaces, with /sys/fs/bpf
 * unmounted there first: the library must mount a bpffs itself, and the pins
 * vanish with the test whatever happens.
 */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include "admit_testlib.h"
#include "lgadmit.h"
#include "../lgt_cli.h"

static int fails;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __func__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			fails++;                                                                   \
		}                                                                                  \
	} while (0)

static const struct lg_admit_cfg CFG = {
    .lgf_port = LGF_DEFAULT_PORT,
    .not_ours = LG_ADMIT_NOT_OURS_DROP,
    .replay_window = 0,
};
static const struct lg_admit_entry D1 = {
    1, {.mac = {2, 0, 0, 0, 0, 1}, .family = 4, .addr = {10, 0, 0, 1}, .rate = 10, .burst = 3}};
static const struct lg_admit_entry D2 = {
    2, {.mac = {2, 0, 0, 0, 0, 2}, .family = 4, .addr = {10, 0, 0, 2}}};

/* One frame through the program; the action. */
static int frame(int prog_fd, const struct lg_admit_entry *e, lg_u32 id, lg_u64 seq)
{
	lg_u8 f[LGT_FRAME_MAX];
	struct lgt_pkt p;
	lg_u32 len;

	lgt_pkt_from(&p, e, id, seq);
	len = (lg_u32)lgt_build(&p, f, sizeof(f));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f, .data_size_in = len, .repeat = 1);
	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -errno;
	return (int)o.retval;
}

/* The id of the program attached to ifindex in driver mode, 0 if none. */
static __u32 attached_prog(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, XDP_FLAGS_DRV_MODE, &q))
		return 0;
	return q.drv_prog_id;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int dir_exists(const char *path)
{
	struct stat st;

	return !stat(path, &st);
}

static const char usage[] =
	"Usage: test_admit_pin [options]\n"
	"\n"
	"Fail static across restarts (root): an admission instance pinned under bpffs keeps its\n"
	"attachment, generation, runtime state and counters when its handle is closed, a new\n"
	"handle takes it over and applies a new generation, a second instance cannot take the\n"
	"same pins, and unpin detaches and removes them. Runs on a veth pair in private network\n"
	"and mount namespaces, mounting its own bpffs.\n"
	"\n"
	"Options:\n"
	"  -h, --help    this text\n"
	"\n"
	"Output: \"N failed checks\" on stdout, or \"SKIP: REASON\"; failures on stderr.\n"
	LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	struct lg_admit_opts o = {.test_clock = 1};
	struct lg_admit_entry g1[] = {D1, D2}, g2[] = {D2};
	struct lg_admit_reason_ctr rc[LG_R_MAX];
	struct lg_admit_dev_ctr dc;
	struct lg_admit_state st;
	struct lg_admit *a = NULL, *b = NULL;
	char dir[64];
	__u32 id;
	lg_u64 gen = 0;
	int ifindex, err, i;

	lgt_cli(argc, argv, usage, 0, 0);
	if (geteuid()) {
		printf("SKIP: needs root (bpffs pins, network namespace)\n");
		return 77;
	}
	/* Private namespaces: the veth, its XDP program and the pins vanish with us. */
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		printf("SKIP: private namespaces: %s\n", strerror(errno));
		return 77;
	}
	/* No bpffs at /sys/fs/bpf (in here only): lg_admit_open() has to mount one. */
	while (!umount2("/sys/fs/bpf", MNT_DETACH))
		;
	{
		struct statfs sfs;

		CHECK(!statfs("/sys/fs/bpf", &sfs) && sfs.f_type != BPF_FS_MAGIC,
		      "/sys/fs/bpf still a bpffs after unmounting");
	}
	if (system("ip link add lgpin0 type veth peer name lgpin1 && ip link set lgpin0 up && "
		   "ip link set lgpin1 up")) {
		printf("SKIP: cannot create a veth pair\n");
		return 77;
	}
	ifindex = (int)if_nametoindex("lgpin0");
	snprintf(dir, sizeof(dir), "/sys/fs/bpf/lgadmit-test-%d", (int)getpid());
	o.pin_dir = dir;

	/* First life: pin, apply, attach, traffic. */
	err = lg_admit_open(&o, &a);
	if (err) {
		fprintf(stderr, "FAIL open with pins: %s\n", strerror(-err));
		return 1;
	}
	{
		struct statfs sfs;

		CHECK(!statfs("/sys/fs/bpf", &sfs) && sfs.f_type == BPF_FS_MAGIC,
		      "lg_admit_open() did not mount a bpffs");
	}
	CHECK(!lg_admit_apply(a, &CFG, g1, 2, &gen) && gen == 1, "apply gen 1");
	err = lg_admit_attach(a, ifindex, LG_ADMIT_MODE_NATIVE);
	CHECK(!err, "attach: %s", strerror(-err));
	id = prog_id(lg_admit_prog_fd(a));
	CHECK(id && attached_prog(ifindex) == id, "program %u not attached", id);
	lg_admit_set_test_clock(a, 1000000000ULL);
	for (i = 0; i < 3; i++)
		CHECK(frame(lg_admit_prog_fd(a), &D1, 1, 10 + i) == XDP_PASS, "D1 burst frame %d",
		      i);
	CHECK(frame(lg_admit_prog_fd(a), &D1, 1, 20) == XDP_DROP, "D1 bucket empty");
	CHECK(frame(lg_admit_prog_fd(a), &D1, 99, 1) == XDP_DROP, "unknown id");
	CHECK(!lg_admit_export_seq(a, 1, 50), "export_seq");

	/* A second instance may not take over the pins of a live one. */
	err = lg_admit_open(&o, &b);
	CHECK(err == -EEXIST, "second open on the same pins: %d, want -EEXIST", err);
	if (!err)
		lg_admit_close(b);
	b = NULL;

	/* An afxdp linegate's setting (issue 10) stays with the pinned instance. */
	CHECK(!lg_admit_set_xsk_readers(a, 1), "set xsk readers");

	/* The process "exits": the handle goes, admission stays. */
	lg_admit_close(a);
	a = NULL;
	CHECK(attached_prog(ifindex) == id, "program detached by close");

	/* Second life. */
	err = lg_admit_open_pinned(dir, &b);
	if (err) {
		fprintf(stderr, "FAIL reopen: %s\n", strerror(-err));
		unlink(dir);
		return 1;
	}
	CHECK(lg_admit_generation(b) == 1, "generation %llu after reopen, want 1",
	      (unsigned long long)lg_admit_generation(b));
	CHECK(lg_admit_ifindex(b) == ifindex, "ifindex %d after reopen, want %d",
	      lg_admit_ifindex(b), ifindex);
	CHECK(prog_id(lg_admit_prog_fd(b)) == id, "another program after reopen");
	CHECK(lg_admit_xsk_readers(b) == 1, "xsk readers setting lost by the reopen");
	CHECK(!lg_admit_set_xsk_readers(b, 0), "clear xsk readers");
	CHECK(!lg_admit_read_reasons(b, rc) && rc[LG_R_ADMITTED].frames == 3 &&
		  rc[LG_R_RATE_LIMITED].frames == 1 && rc[LG_R_UNKNOWN_DEVICE].frames == 1,
	      "reason counters after reopen: admitted %llu rate_limited %llu unknown %llu",
	      (unsigned long long)rc[LG_R_ADMITTED].frames,
	      (unsigned long long)rc[LG_R_RATE_LIMITED].frames,
	      (unsigned long long)rc[LG_R_UNKNOWN_DEVICE].frames);
	CHECK(!lg_admit_read_device(b, 1, &dc) && dc.admitted == 3 && dc.dropped == 1,
	      "D1 counters after reopen");
	CHECK(lg_admit_read_device(b, 2, &dc) == -ENOENT, "D2 saw no frame");
	CHECK(!lg_admit_read_state(b, 1, &st) && st.highest_seq == 50 &&
		  st.last_ns == 1000000000ULL,
	      "D1 state after reopen: seq %llu last %llu", (unsigned long long)st.highest_seq,
	      (unsigned long long)st.last_ns);
	/* The table and the bucket are those of the first life. */
	CHECK(frame(lg_admit_prog_fd(b), &D1, 1, 60) == XDP_DROP, "D1 bucket still empty");
	lg_admit_set_test_clock(b, 1100000000ULL);
	CHECK(frame(lg_admit_prog_fd(b), &D1, 1, 61) == XDP_PASS, "D1 refilled by 100 ms");
	CHECK(frame(lg_admit_prog_fd(b), &D1, 1, 40) == XDP_DROP, "D1 exported sequence kept");
	CHECK(frame(lg_admit_prog_fd(b), &D2, 2, 1) == XDP_PASS, "D2 admitted");

	/* A new generation through the reopened handle: D1 revoked, D2 stays. */
	CHECK(!lg_admit_apply(b, &CFG, g2, 1, &gen) && gen == 2, "apply gen 2: %llu",
	      (unsigned long long)gen);
	CHECK(frame(lg_admit_prog_fd(b), &D1, 1, 70) == XDP_DROP, "D1 revoked");
	CHECK(frame(lg_admit_prog_fd(b), &D2, 2, 2) == XDP_PASS, "D2 still admitted");
	CHECK(!lg_admit_read_device(b, 2, &dc) && dc.admitted == 2, "D2 counters across gens");
	CHECK(lg_admit_read_device(b, 1, &dc) == -ENOENT, "D1 counters gone with it");
	CHECK(!lg_admit_read_reasons(b, rc) && rc[LG_R_UNKNOWN_DEVICE].frames == 2,
	      "unknown after revocation");

	/* Close and reopen once more: generation 2 is what the data plane kept. */
	lg_admit_close(b);
	b = NULL;
	err = lg_admit_open_pinned(dir, &b);
	CHECK(!err && lg_admit_generation(b) == 2, "second reopen");
	if (!err) {
		CHECK(frame(lg_admit_prog_fd(b), &D2, 2, 3) == XDP_PASS, "D2 after second reopen");

		/* The end of the instance: detached, pins removed. */
		CHECK(!lg_admit_unpin(b), "unpin");
		CHECK(attached_prog(ifindex) == 0, "still attached after unpin");
		CHECK(!dir_exists(dir), "pin directory %s left behind", dir);
		lg_admit_close(b);
	}
	CHECK(lg_admit_open_pinned(dir, &b) < 0, "reopen after unpin succeeded");

	printf("%d failed checks\n", fails);
	return fails ? 1 : 0;
}
