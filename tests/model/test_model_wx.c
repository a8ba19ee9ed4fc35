/* SPDX-License-Identifier: MIT */
/*
 * libxsmm never gets writable+executable memory from the kernel, on any host, and never
 * follows a planted symlink: without MemoryDenyWriteExecute, where nothing else would stop
 * it. Each case runs in a child with its own mount namespace and a tmpfs on /tmp (exec or
 * noexec), and a seccomp filter that traps (SIGSYS, then EPERM) every mmap asking for
 * PROT_WRITE|PROT_EXEC and every mprotect/pkey_mprotect asking for PROT_EXEC: the trap count
 * is how often the process asked the kernel for W+X (or W-then-X). It must stay 0.
 *
 * - exec: /tmp usable: xsmm loads ae_1024 (auto's plan says "gemm auto") and matches openblas.
 * - noexec: /tmp, the working directory and HOME on a noexec tmpfs: libxsmm's dual mapping
 *   fails; xsmm is refused naming the dual mapping and TMPDIR, auto is OpenBLAS alone.
 * - se0: LIBXSMM_SE=0 in the environment: xsmm is refused naming LIBXSMM_SE.
 * In every case: no mapping is writable and executable after load, and a symlink planted
 * at libxsmm's fixed lock-file name (/tmp/.libxsmm.UID) is not followed.
 *
 * usage: test_model_wx FIXTURE_DIR
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <linegate/model.h>

#include "fixture.h"
#include "model_check.h"
#include "gemm.h"
#include "../lgt_cli.h"

enum mode { MODE_EXEC, MODE_NOEXEC, MODE_SE0 };
static const char *const mode_names[] = {"exec", "noexec", "se0"};

static volatile sig_atomic_t wx_trapped;

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;

	(void)sig;
	(void)si;
	wx_trapped++;
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
}

/* systemd 252's MemoryDenyWriteExecute rules (as in test_model_mdwe.c), trapping */
static int wx_trap_filter(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 0, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
	    BPF_STMT(BPF_ALU | BPF_AND | BPF_K, PROT_WRITE | PROT_EXEC),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_WRITE | PROT_EXEC, 4, 5),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mprotect, 1, 0),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pkey_mprotect, 0, 3),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
	    BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};

	if (sigaction(SIGSYS, &sa, NULL) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -errno : 0;
}

/* The filter must be real, or a count of 0 proves nothing. */
static void check_filter(const char *mode)
{
	sig_atomic_t before = wx_trapped;
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	CHECK(p == MAP_FAILED && wx_trapped == before + 1, "%s: the W+X trap did not fire", mode);
	if (p != MAP_FAILED)
		munmap(p, 4096);
	wx_trapped = before;
}

/* No mapping writable and executable at once (what /proc/self/maps shows as "rwx"). */
static void check_maps(const char *mode)
{
	char line[512], perm[8];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f) {
		CHECK(0, "%s: /proc/self/maps: %s", mode, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*x-%*x %7s", perm) == 1)
			CHECK(!(perm[1] == 'w' && perm[2] == 'x'), "%s: W+X mapping %s", mode,
			      line);
	fclose(f);
}

static struct lg_model *load(const char *path, enum lg_model_gemm route, int *ret)
{
	char err[256];
	struct lg_model *m = NULL;

	*ret = lg_model_load_file(path, &m, err, sizeof(err));
	CHECK(*ret == 0, "%s: %s", path, err);
	if (*ret)
		return NULL;
	*ret = lg_model_set_gemm(m, route);
	return m;
}

/* ae_1024 on `route` and on openblas give the same outputs at 7 rows. */
static void check_parity(const char *mode, struct lg_model *m, struct lg_model *ref)
{
	size_t batch = 7, in_dim = lg_model_input_dim(ref), out_dim = lg_model_output_dim(ref);
	float *in = malloc(batch * in_dim * sizeof(float));
	float *want = malloc(batch * out_dim * sizeof(float));
	float *got = malloc(batch * out_dim * sizeof(float));
	struct lg_model_ws *ws = NULL;
	size_t bad = 0;

	if (!in || !want || !got || lg_model_ws_create(ref, batch, &ws)) {
		CHECK(0, "%s: oom", mode);
		goto out;
	}
	for (size_t i = 0; i < batch * in_dim; i++)
		in[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	CHECK(lg_model_run(ref, in, batch, want, ws) == 0, "%s: openblas run", mode);
	lg_model_ws_free(ws);
	ws = NULL;
	if (lg_model_ws_create(m, batch, &ws)) {
		CHECK(0, "%s: oom", mode);
		goto out;
	}
	CHECK(lg_model_run(m, in, batch, got, ws) == 0, "%s: run", mode);
	for (size_t i = 0; i < batch * out_dim; i++)
		bad += !close_enough(got[i], want[i]);
	CHECK(!bad, "%s: %zu of %zu values differ from openblas", mode, bad, batch * out_dim);
out:
	lg_model_ws_free(ws);
	free(in);
	free(want);
	free(got);
}

/* A private /tmp: a tmpfs, noexec or not, seen by this process only. */
static int private_tmp(int noexec)
{
	if (unshare(CLONE_NEWNS))
		return -errno;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV | (noexec ? MS_NOEXEC : 0),
		  "mode=1777"))
		return -errno;
	return 0;
}

static int child(enum mode mode, const char *dir)
{
	const char *name = mode_names[mode], *why;
	char path[1024], lock[64], plan[4096];
	struct lg_model *ref, *m;
	struct stat st;
	int ret, fd;

	/* the fixture opened first: a checkout under /tmp is hidden by the private /tmp (the
	 * loads below read it through /proc/self/fd) */
	snprintf(path, sizeof(path), "%s/ae_1024.onnx", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		CHECK(0, "%s: %s: %s", name, path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ret = private_tmp(mode == MODE_NOEXEC);
	if (ret) {
		printf("%s skipped: private /tmp: %s (needs root)\n", name, strerror(-ret));
		return 77;
	}
	/* libxsmm 1.17 opened this name O_WRONLY|O_CREAT, following symlinks (libxsmm_main.c) */
	snprintf(lock, sizeof(lock), "/tmp/.libxsmm.%u", (unsigned int)getuid());
	if (symlink("/tmp/planted", lock)) {
		CHECK(0, "%s: symlink: %s", name, strerror(errno));
		return 1;
	}
	unsetenv("TMPDIR");
	if (mode == MODE_NOEXEC && (setenv("HOME", "/tmp", 1) || chdir("/tmp"))) {
		CHECK(0, "%s: environment: %s", name, strerror(errno));
		return 1;
	}
	if (mode == MODE_SE0 && setenv("LIBXSMM_SE", "0", 1)) {
		CHECK(0, "%s: environment: %s", name, strerror(errno));
		return 1;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* see test_model_mdwe.c: libxsmm frees its failed heap buffer with glibc's free */
	if (mode == MODE_NOEXEC) {
		printf("%s skipped under ASan: libxsmm frees its failed buffer with glibc's free\n",
		       name);
		return 0;
	}
#endif
	ret = wx_trap_filter();
	if (ret) {
		CHECK(0, "%s: seccomp: %s", name, strerror(-ret));
		return 1;
	}
	check_filter(name);

	why = lg_model_gemm_missing(LG_MODEL_GEMM_XSMM);
	if (why && !strncmp(why, "built without", 13)) {
		printf("skipped: %s\n", why);
		return 77;
	}
	if (mode == MODE_EXEC)
		CHECK(!why, "%s: xsmm refused: %s", name, why);
	else if (mode == MODE_NOEXEC)
		CHECK(why && strstr(why, "dual mapping failed") && strstr(why, "TMPDIR"),
		      "%s: xsmm refused for %s", name, why ? why : "(not refused)");
	else
		CHECK(why && strstr(why, "LIBXSMM_SE=0"), "%s: xsmm refused for %s", name,
		      why ? why : "(not refused)");
	if (why)
		printf("%s: xsmm refused: %s\n", name, why);

	ref = load(path, LG_MODEL_GEMM_OPENBLAS, &ret);
	CHECK(ref && ret == 0, "%s: openblas: %d", name, ret);
	m = load(path, LG_MODEL_GEMM_XSMM, &ret);
	if (mode == MODE_EXEC)
		CHECK(m && ret == 0, "%s: xsmm route: %d", name, ret);
	else
		CHECK(ret == -ENOTSUP, "%s: xsmm route not refused: %d", name, ret);
	lg_model_free(m);
	m = load(path, LG_MODEL_GEMM_AUTO, &ret);
	CHECK(m && ret == 0, "%s: auto: %d", name, ret);
	if (m && ref) {
		lg_model_describe(m, plan, sizeof(plan));
		CHECK(strstr(plan,
			     mode == MODE_EXEC ? "gemm auto\n" : "gemm auto (OpenBLAS alone)\n"),
		      "%s: plan %s", name, plan);
		check_parity(name, m, ref);
	}
	lg_model_free(m);
	lg_model_free(ref);

	CHECK(wx_trapped == 0, "%s: the process asked the kernel for W+X memory %d times", name,
	      (int)wx_trapped);
	check_maps(name);
	CHECK(lstat("/tmp/planted", &st) && errno == ENOENT,
	      "%s: libxsmm followed the symlink at %s", name, lock);
	CHECK(!lstat(lock, &st) && S_ISLNK(st.st_mode), "%s: %s was replaced", name, lock);
#ifdef LG_MODEL_XSMM
	/* the noexec case is refused because the shim refused libxsmm's fallback */
	if (mode == MODE_NOEXEC)
		CHECK(gemm_xsmm_wx_refused() > 0, "%s: libxsmm's W+X fallback was not refused",
		      name);
	else
		CHECK(gemm_xsmm_wx_refused() == 0, "%s: %lu refused in libxsmm", name,
		      gemm_xsmm_wx_refused());
	printf("%s: %d W+X requests reached the kernel, %lu refused in libxsmm\n", name,
	       (int)wx_trapped, gemm_xsmm_wx_refused());
#endif
	fflush(stdout);
	return failures ? 1 : 0;
}

static const char usage[] =
    "Usage: test_model_wx [options] FIXTURE_DIR\n"
    "\n"
    "libxsmm never gets writable+executable memory and never follows a planted symlink,\n"
    "without MemoryDenyWriteExecute. Each case in a child with a private tmpfs on /tmp and a\n"
    "seccomp filter that counts (SIGSYS) every mmap with PROT_WRITE|PROT_EXEC and every\n"
    "mprotect with PROT_EXEC, which must stay at 0: exec (xsmm loads ae_1024 and matches\n"
    "openblas), noexec (/tmp, working directory and HOME noexec: xsmm refused naming the\n"
    "dual mapping and TMPDIR, auto is OpenBLAS alone) and se0 (LIBXSMM_SE=0: xsmm refused\n"
    "naming LIBXSMM_SE). In each: no W+X mapping after load, and a symlink at\n"
    "/tmp/.libxsmm.UID (libxsmm 1.17's lock file) is not followed. Needs root (skips).\n"
    "\n"
    "Arguments:\n"
    "  FIXTURE_DIR   tests/fixtures/models\n"
    "\n"
    "Options:\n"
    "  -h, --help    this text\n"
    "\n"
    "Output: one line per case on stdout; failures on stderr.\n" LGT_EXIT_STATUS_SKIP;

int main(int argc, char **argv)
{
	int skipped = 0, failed = 0;
	char *dir;

	argv += lgt_cli(argc, argv, usage, 1, 1) - 1;
	/* one case changes the working directory */
	dir = realpath(argv[1], NULL);
	if (!dir) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	/* nothing here may touch libxsmm: each child makes its first allocation */
	fflush(stdout);
	for (int mode = MODE_EXEC; mode <= MODE_SE0; mode++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (!pid)
			exit(child((enum mode)mode, dir));
		if (waitpid(pid, &status, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			skipped++;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "FAIL: %s: child %s %d\n", mode_names[mode],
				WIFEXITED(status) ? "exited" : "killed by signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			failed++;
		}
	}
	free(dir);
	if (failed)
		return 1;
	if (skipped == MODE_SE0 + 1)
		return 77;
	printf("all W+X and lock-file checks passed%s\n", skipped ? " (some skipped)" : "");
	return 0;
}
